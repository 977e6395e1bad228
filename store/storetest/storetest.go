// Package storetest opens fresh, migrated stores for tests of any package:
// an in-memory SQLite database always, and a throwaway Postgres schema when
// TEST_DATABASE_URL is set.
package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/store"
)

// EnvDatabaseURL names the variable holding the Postgres server used by
// tests, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvDatabaseURL = "TEST_DATABASE_URL"

// ForEach runs fn in a "sqlite" subtest with a fresh in-memory SQLite store,
// and, when TEST_DATABASE_URL is set, in a "postgres" subtest with a store on
// a fresh Postgres schema. Both stores are migrated and cleaned up with the
// subtest.
func ForEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			_, s := OpenDSN(t, kind)
			fn(t, s)
		})
	}
}

// Kinds returns the store kinds tests can use here: "sqlite" always, and
// "postgres" when TEST_DATABASE_URL is set.
func Kinds() []string {
	if os.Getenv(EnvDatabaseURL) != "" {
		return []string{store.DialectSQLite, store.DialectPostgres}
	}
	return []string{store.DialectSQLite}
}

// Open returns a fresh, migrated store of kind "sqlite" or "postgres",
// closed in t.Cleanup. It skips the test for "postgres" when
// TEST_DATABASE_URL is unset.
func Open(t testing.TB, kind string) *store.Store {
	t.Helper()
	_, s := OpenDSN(t, kind)
	return s
}

// OpenDSN is Open that also returns the DSN, so that a test can open a second
// Store on the same database (two server processes sharing one database).
// The database lives until the test ends; a Store the test opens itself is
// the test's to close.
func OpenDSN(t testing.TB, kind string) (dsn string, s *store.Store) {
	t.Helper()
	switch kind {
	case store.DialectSQLite:
		// A named in-memory database that every connection of every Store
		// opened on this DSN shares. It uses the memdb VFS rather than
		// "?mode=memory&cache=shared": shared-cache mode has table-level
		// locks that fail concurrent transactions at once instead of
		// waiting, unlike the SQLite files used in production. Open adds
		// the pragmas.
		dsn = "file:/" + safeName(t.Name()) + "-" + random() + "?vfs=memdb"
	case store.DialectPostgres:
		dsn = postgresSchema(t)
	default:
		t.Fatalf("storetest: unknown store kind %q", kind)
	}
	s = openMigrated(t, dsn)
	return dsn, s
}

// openMigrated opens and migrates a store, closing it in t.Cleanup.
func openMigrated(t testing.TB, dsn string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: Open() error = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: Migrate() error = %v", err)
	}
	Listening(t, s)
	return s
}

// Listening waits until s hears identity changes of other Stores (on
// Postgres, its LISTEN connection is up), so that the flush that follows
// the first connection cannot land in the middle of a test.
func Listening(t testing.TB, s *store.Store) {
	t.Helper()
	select {
	case <-s.IdentityListening():
	case <-time.After(30 * time.Second):
		t.Fatal("storetest: the store's identity notifications never connected")
	}
}

// postgresSchema creates schema ironclad_test_<random>, dropped in t.Cleanup,
// and returns a DSN whose search_path is that schema.
func postgresSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Skipf("storetest: %s is not set", EnvDatabaseURL)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", EnvDatabaseURL, err)
	}
	schema := "ironclad_test_" + random()

	ctx := context.Background()
	admin, err := store.Open(ctx, base)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", EnvDatabaseURL, err)
	}
	if err := admin.DB().WithContext(ctx).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: create schema: %v", err)
	}
	// Registered first, so it runs after every Store on the schema closed.
	t.Cleanup(func() {
		defer admin.Close()
		if err := admin.DB().WithContext(context.Background()).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("options", "-csearch_path="+schema)
	u.RawQuery = q.Encode()
	return u.String()
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// safeName makes a test name usable inside an SQLite URI.
func safeName(name string) string { return unsafeChars.ReplaceAllString(name, "_") }

// random returns 16 hex digits.
func random() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
