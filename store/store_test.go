package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestMigrateTwice(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// ForEach migrated once already.
		for i := range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate() #%d error = %v", i+2, err)
			}
		}
		mustUser(t, s, "alice")
	})
}

func TestMigrateConcurrently(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		errs := make(chan error, 4)
		for range cap(errs) {
			go func() { errs <- s.Migrate(context.Background()) }()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Errorf("concurrent Migrate() error = %v", err)
			}
		}
	})
}

func TestMigrateFreshPostgresReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	// Two replicas starting at once on an empty schema: the advisory lock
	// makes one wait for the other instead of both creating tables.
	dsn, first := storetest.OpenDSN(t, store.DialectPostgres)
	ctx := context.Background()
	// Empty the test's schema whatever tables later migrations added.
	var schema string
	if err := first.DB().Raw("SELECT current_schema()").Scan(&schema).Error; err != nil || schema == "" {
		t.Fatalf("current_schema() = %q, %v", schema, err)
	}
	for _, q := range []string{"DROP SCHEMA " + schema + " CASCADE", "CREATE SCHEMA " + schema} {
		if err := first.DB().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	second, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() { _ = second.Close() })

	errs := make(chan error, 2)
	for _, s := range []*store.Store{first, second} {
		go func() { errs <- s.Migrate(ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Migrate() error = %v", err)
		}
	}
	mustUser(t, second, "alice")
}

func TestOpenDialect(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if !strings.HasSuffix(t.Name(), "/"+s.Dialect()) {
			t.Errorf("Dialect() = %q in subtest %s", s.Dialect(), t.Name())
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping() error = %v", err)
		}
	})
}

func TestSQLiteFileSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	// A plain path whose parent directory does not exist yet.
	path := filepath.Join(t.TempDir(), "data", "ironclad.db")

	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", path, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() error = %v", err)
	}
	u := mustUser(t, s, "Alice")
	sess, _, plain := mustSession(t, s, u, t0.Add(threeDays))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}

	s, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen Open(%q) error = %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() after reopen error = %v", err)
	}
	got, err := s.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatalf("UserByUsername() after reopen error = %v", err)
	}
	if got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("UserByUsername() after reopen = %+v, want %+v", got, u)
	}
	_, gotSess, _, err := s.RefreshTokenByHash(ctx, hashOf(plain))
	if err != nil || gotSess.ID != sess.ID {
		t.Errorf("RefreshTokenByHash() after reopen = %v, %v, want session %s", gotSess, err, sess.ID)
	}
	var mode string
	if err := s.DB().Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v, want wal", mode, err)
	}
	var fk int
	if err := s.DB().Raw("PRAGMA foreign_keys").Scan(&fk).Error; err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v, want 1", fk, err)
	}
}

func TestClosedDatabase(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		sess, tok, plain := mustSession(t, s, u, t0.Add(threeDays))
		sqlDB, err := s.DB().DB()
		if err != nil {
			t.Fatalf("DB().DB() error = %v", err)
		}
		if err := sqlDB.Close(); err != nil {
			t.Fatalf("close sql.DB: %v", err)
		}

		calls := []struct {
			name string
			call func() error
		}{
			{"Ping", func() error { return s.Ping(ctx) }},
			{"Migrate", func() error { return s.Migrate(ctx) }},
			{"CreateUser", func() error { return s.CreateUser(ctx, &models.User{Username: "bob", PasswordHash: "x"}) }},
			{"UserByID", func() error { _, err := s.UserByID(ctx, u.ID); return err }},
			{"UserByUsername", func() error { _, err := s.UserByUsername(ctx, "alice"); return err }},
			{"RecordLogin", func() error { return s.RecordLogin(ctx, u.ID, t0, "") }},
			{"SetUserActive", func() error { _, err := s.SetUserActive(ctx, u.ID, false, t0); return err }},
			{"CreateSession", func() error {
				return s.CreateSession(ctx, &models.Session{UserID: u.ID, ExpiresAt: t0.Add(threeDays)},
					&models.RefreshToken{TokenHash: hashOf("other"), ExpiresAt: t0.Add(threeDays)})
			}},
			{"Identity", func() error { _, _, err := s.Identity(ctx, u.ID, sess.ID, t0); return err }},
			{"RefreshTokenByHash", func() error { _, _, _, err := s.RefreshTokenByHash(ctx, hashOf(plain)); return err }},
			{"Rotate", func() error { return s.Rotate(ctx, tok.ID, nextToken(tok, "next"), t0, "", "") }},
			{"RevokeSession", func() error { _, err := s.RevokeSession(ctx, sess.ID, t0); return err }},
			{"Purge", func() error { _, err := s.Purge(ctx, t0, 0); return err }},
			{"SetUserRole", func() error { _, err := s.SetUserRole(ctx, u.ID, models.RoleAdmin, t0); return err }},
			{"UpdateProfile", func() error { _, err := s.UpdateProfile(ctx, u.ID, store.ProfileChange{}, t0); return err }},
			{"ListUsers", func() error { _, _, err := s.ListUsers(ctx, "a", nil, 10); return err }},
			{"CountUsers", func() error { _, err := s.CountUsers(ctx, ""); return err }},
			{"UsersByIDs", func() error { _, err := s.UsersByIDs(ctx, []string{u.ID}); return err }},
			{"CreatePersonalToken", func() error {
				return s.CreatePersonalToken(ctx, &models.PersonalToken{UserID: u.ID, Name: "x", TokenHash: hashOf("pat")})
			}},
			{"PersonalTokenByHash", func() error { _, _, err := s.PersonalTokenByHash(ctx, hashOf("pat")); return err }},
			{"PersonalTokensOf", func() error { _, err := s.PersonalTokensOf(ctx, u.ID); return err }},
			{"RevokePersonalToken", func() error { _, err := s.RevokePersonalToken(ctx, u.ID, "x", t0); return err }},
			{"TouchPersonalToken", func() error { _, err := s.TouchPersonalToken(ctx, "x", t0, time.Minute); return err }},
		}
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) {
				err := c.call()
				if err == nil {
					t.Fatalf("%s() on a closed database error = nil, want an error", c.name)
				}
				// An unreachable database is SERVICE_UNAVAILABLE, with the
				// driver's text only in the cause (for logs). Migrate runs
				// at startup, where any error stops the process.
				if c.name != "Migrate" && !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("%s() error = %v, want ErrUnavailable", c.name, err)
				}
				if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
					t.Errorf("%s() error = %v, want neither ErrNotFound nor ErrConflict", c.name, err)
				}
			})
		}
	})
}

// TestMaxConns: Options.MaxConns sizes the pool (DB_MAX_CONNS), and without
// it the pool is DefaultMaxConns of the dialect.
func TestMaxConns(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			dsn, s := storetest.OpenDSN(t, kind)
			pool := func(s *store.Store) int {
				sqlDB, err := s.DB().DB()
				if err != nil {
					t.Fatal(err)
				}
				return sqlDB.Stats().MaxOpenConnections
			}
			if got, want := pool(s), store.DefaultMaxConns(s.Dialect()); got != want {
				t.Errorf("default pool = %d connections, want %d", got, want)
			}
			if s.Dialect() == store.DialectPostgres && store.DefaultMaxConns(s.Dialect()) < 16 {
				t.Errorf("Postgres default pool = %d, want at least 16", store.DefaultMaxConns(s.Dialect()))
			}
			sized, err := store.OpenWith(context.Background(), dsn, store.Options{MaxConns: 3, IdentityTTL: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer sized.Close()
			if got := pool(sized); got != 3 {
				t.Errorf("pool with MaxConns 3 = %d connections", got)
			}
		})
	}
}
