package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// slowStoreEnv opens a second Store on a fresh database with a short
// statement timeout, and a server on it.
func slowStoreEnv(t *testing.T, kind string, statementTimeout time.Duration, mutate ...func(*app.Config)) (*apptest.Env, *store.Store) {
	t.Helper()
	dsn, admin := storetest.OpenDSN(t, kind)
	cfg := apptest.Config(t, nil)
	cfg.StatementTimeout = statementTimeout
	for _, m := range mutate {
		m(&cfg)
	}
	st, err := store.OpenWith(context.Background(), dsn, app.StoreOptions(cfg, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	storetest.Listening(t, st)
	return apptest.New(t, st, nil, mutate...), admin
}

// TestHeldLockIsServiceUnavailable: a statement that cannot get its lock
// within DB_STATEMENT_TIMEOUT, or a request past REQUEST_TIMEOUT, answers
// SERVICE_UNAVAILABLE with retryAfter (HTTP 503 for GraphQL-over-HTTP
// clients), is logged at WARN, and loses nothing: once the lock is gone the
// same refresh token still works.
func TestHeldLockIsServiceUnavailable(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		for _, tc := range []struct {
			name             string
			statementTimeout time.Duration
			requestTimeout   time.Duration
		}{
			{"statement timeout", 200 * time.Millisecond, 10 * time.Second},
			{"request timeout", 30 * time.Second, time.Second},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				e, admin := slowStoreEnv(t, kind, tc.statementTimeout, func(c *app.Config) { c.RequestTimeout = tc.requestTimeout })
				e.CreateUser("kim", apptest.Password, models.RoleUser)
				p := e.Login("kim", apptest.Password)

				lockCtx, release := context.WithCancel(context.Background())
				defer release()
				holdWriteLockUntil(t, admin, lockCtx)

				wantUnavailable(t, "login", e.Do("", apptest.LoginMutation, map[string]any{"u": "kim", "p": apptest.Password}))
				wantUnavailable(t, "refresh", e.Refresh(p.RefreshToken))
				r := e.Send(apptest.Request{Query: apptest.RefreshMutation, Vars: map[string]any{"t": p.RefreshToken},
					Header: map[string]string{"Accept": "application/graphql-response+json"}})
				if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
					t.Errorf("GraphQL-over-HTTP status = %d, Retry-After %q; want 503 with Retry-After; body %s", r.Status, r.Header.Get("Retry-After"), r.Body)
				}
				wantWarnedNotErrored(t, e)

				release()
				waitUnlocked(t, admin)
				apptest.MustOK(t, e.Refresh(p.RefreshToken)) // the session survived the outage
			})
		}
	}
}

// holdWriteLockUntil holds holdWriteLock's lock on a connection of st until
// ctx ends.
func holdWriteLockUntil(t *testing.T, st *store.Store, ctx context.Context) {
	t.Helper()
	locked := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		locked <- st.DB().Transaction(func(tx *gorm.DB) error {
			if st.Dialect() == store.DialectPostgres {
				if err := tx.Exec("LOCK TABLE users, sessions IN ACCESS EXCLUSIVE MODE").Error; err != nil {
					return err
				}
			} else if err := tx.Exec("UPDATE users SET updated_at = updated_at").Error; err != nil {
				return err // any write: the transaction now holds the write lock
			}
			locked <- nil
			<-ctx.Done()
			return nil
		})
	}()
	if err := <-locked; err != nil {
		t.Fatalf("take the lock: %v", err)
	}
	t.Cleanup(func() { <-done })
}

// waitUnlocked returns once st can write again (the holder committed).
func waitUnlocked(t *testing.T, st *store.Store) {
	t.Helper()
	if err := st.DB().Exec("UPDATE users SET updated_at = updated_at").Error; err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
}
