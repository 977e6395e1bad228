package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestSearchTrigramIndex: on Postgres the search migration creates trigram
// indexes that the users(search:) statement can use, for the username and
// for the email.
func TestSearchTrigramIndex(t *testing.T) {
	s := storetest.Open(t, store.DialectPostgres)
	plan, err := s.ExplainSearch(context.Background(), "lic")
	if err != nil {
		t.Fatalf("ExplainSearch() error = %v", err)
	}
	for _, ix := range []string{"idx_users_username_key_trgm", "idx_users_email_trgm"} {
		if !strings.Contains(plan, ix) {
			t.Errorf("the search plan does not use %s:\n%s", ix, plan)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestSearchWithoutTrigramExtension: a role that may not create pg_trgm
// still migrates, with a warning saying what to do; search still answers;
// once a superuser created the extension, the next Migrate adds the
// indexes.
func TestSearchWithoutTrigramExtension(t *testing.T) {
	base := os.Getenv(storetest.EnvDatabaseURL)
	if base == "" {
		t.Skipf("%s is not set", storetest.EnvDatabaseURL)
	}
	ctx := context.Background()
	admin, err := store.Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	name := "ironclad_notrgm_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))[:20] + "_" + randomSuffix()
	for _, q := range []string{"CREATE DATABASE " + name, "CREATE ROLE " + name + " LOGIN"} {
		if err := admin.DB().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The admin store stays open for the cleanup, which runs after this
	// function returns (a deferred Close ran first, and the drops failed
	// silently: every run left a database behind).
	t.Cleanup(func() {
		defer admin.Close()
		for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "DROP ROLE IF EXISTS " + name} {
			if err := admin.DB().Exec(q).Error; err != nil {
				t.Errorf("cleanup: %s: %v", q, err)
			}
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	super := u.String()
	u.User = url.User(name)
	limited := u.String()

	// The role may create tables in public, not extensions in the database.
	su, err := store.Open(ctx, super)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close()
	if err := su.DB().Exec("GRANT CREATE ON SCHEMA public TO " + name).Error; err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	s, err := store.OpenWith(ctx, limited, store.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open() as %s: %v", name, err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() without pg_trgm: %v", err)
	}
	if got := logs.String(); !strings.Contains(got, "search_index_missing") || !strings.Contains(got, "CREATE EXTENSION pg_trgm") {
		t.Errorf("Migrate() without pg_trgm logged %q, want the search_index_missing warning naming CREATE EXTENSION pg_trgm", got)
	}
	if err := s.CreateUser(ctx, &models.User{Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	users, _, err := s.ListUsers(ctx, "lic", nil, 10)
	if err != nil || len(users) != 1 {
		t.Fatalf("ListUsers(lic) without the index = %d users, %v; want alice", len(users), err)
	}
	if plan, _ := s.ExplainSearch(ctx, "lic"); strings.Contains(plan, "trgm") {
		t.Fatalf("a trigram index exists without pg_trgm:\n%s", plan)
	}

	// A superuser adds the extension; the next Migrate adds the indexes.
	if err := su.DB().Exec("CREATE EXTENSION pg_trgm SCHEMA public").Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() after CREATE EXTENSION: %v", err)
	}
	plan, err := s.ExplainSearch(ctx, "lic")
	if err != nil || !strings.Contains(plan, "idx_users_username_key_trgm") {
		t.Errorf("after CREATE EXTENSION and Migrate() the search plan is (%v):\n%s", err, plan)
	}
}

// randomSuffix is 8 hex digits.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestSearchUsersCounted: the one-statement first page and count agree
// with ListUsers and CountUsers, for searches matching none, some, more
// than a page and, past the cap, the two-statement fallback.
func TestSearchUsersCounted(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i := range 30 {
			name := "member" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
			if i%3 == 0 {
				name = "Guest" + name
			}
			mustUser(t, s, name)
		}
		check := func(search string, first int) {
			t.Helper()
			users, more, total, err := s.SearchUsersCounted(ctx, search, first)
			if err != nil {
				t.Fatalf("SearchUsersCounted(%q, %d) error = %v", search, first, err)
			}
			wantUsers, wantMore, err := s.ListUsers(ctx, search, nil, first)
			if err != nil {
				t.Fatal(err)
			}
			wantTotal, err := s.CountUsers(ctx, search)
			if err != nil {
				t.Fatal(err)
			}
			if total != wantTotal || more != wantMore || len(users) != len(wantUsers) {
				t.Fatalf("SearchUsersCounted(%q, %d) = %d users, more %v, total %d; want %d, %v, %d",
					search, first, len(users), more, total, len(wantUsers), wantMore, wantTotal)
			}
			for i := range users {
				if users[i].ID != wantUsers[i].ID || users[i].Username != wantUsers[i].Username || !users[i].CreatedAt.Equal(wantUsers[i].CreatedAt) {
					t.Errorf("SearchUsersCounted(%q) user %d = %+v, want %+v", search, i, users[i], wantUsers[i])
				}
			}
		}
		for _, search := range []string{"nobody", "guest", "GUEST", "member", "x", "%", "_"} {
			check(search, 5)
			check(search, 50)
		}
		defer store.SetCountedCap(4)()
		check("member", 3) // 30 matches, past the cap: the fallback
		check("guest", 20)
		if _, _, _, err := s.SearchUsersCounted(ctx, " ", 5); err == nil {
			t.Error("SearchUsersCounted with an empty search: no error")
		}
	})
}
