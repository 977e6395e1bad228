package store_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// identityFixture creates a user with one live session on s.
func identityFixture(t *testing.T, s *store.Store, username string) (*models.User, *models.Session) {
	t.Helper()
	u := mustUser(t, s, username)
	sess := &models.Session{UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(threeDays)}
	if err := s.CreateSession(context.Background(), sess, &models.RefreshToken{TokenHash: hashOf(username), ExpiresAt: t0.Add(threeDays)}); err != nil {
		t.Fatalf("CreateSession() error = %v", err)
	}
	return u, sess
}

// wantIdentity fails unless Identity at now answers live with no error.
func wantIdentity(t *testing.T, s *store.Store, u *models.User, sess *models.Session, now time.Time, wantLive, wantActive bool) {
	t.Helper()
	got, live, err := s.Identity(context.Background(), u.ID, sess.ID, now)
	if err != nil {
		t.Fatalf("Identity() error = %v", err)
	}
	if live != wantLive || got.Active != wantActive {
		t.Fatalf("Identity() live = %v, active = %v; want %v, %v", live, got.Active, wantLive, wantActive)
	}
}

// revokeBehindTheCache ends a session with plain SQL, as a change whose
// notification never arrived would look to a replica.
func revokeBehindTheCache(t *testing.T, s *store.Store, sessionID string) {
	t.Helper()
	if err := s.DB().Exec("UPDATE sessions SET revoked_at = ? WHERE id = ?", t0, sessionID).Error; err != nil {
		t.Fatal(err)
	}
}

// TestIdentityCacheTTL shows that Identity answers from the cache (a change
// made behind the store's back is not seen) for at most the TTL.
func TestIdentityCacheTTL(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u, sess := identityFixture(t, s, "ttl")
		wantIdentity(t, s, u, sess, t0, true, true) // fills the cache
		revokeBehindTheCache(t, s, sess.ID)
		wantIdentity(t, s, u, sess, t0.Add(store.DefaultIdentityTTL-time.Millisecond), true, true)
		wantIdentity(t, s, u, sess, t0.Add(store.DefaultIdentityTTL), false, true)
	})
}

// TestIdentityCacheInvalidatedByWrites: every store method that changes
// what Identity returns drops the cached entry at once.
func TestIdentityCacheInvalidatedByWrites(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name                 string
		change               func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error
		wantLive, wantActive bool
		wantNotFound         bool
		check                func(t *testing.T, got *models.User) // a field the change must show
	}{
		{name: "RevokeSession", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			_, err := s.RevokeSession(ctx, sess.ID, t0)
			return err
		}, wantLive: false, wantActive: true},
		{name: "RevokeUserSession", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			_, err := s.RevokeUserSession(ctx, u.ID, sess.ID, t0)
			return err
		}, wantLive: false, wantActive: true},
		{name: "RevokeUserSessions", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			_, err := s.RevokeUserSessions(ctx, u.ID, "", t0)
			return err
		}, wantLive: false, wantActive: true},
		{name: "SetUserActive", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			_, err := s.SetUserActive(ctx, u.ID, false, t0)
			return err
		}, wantLive: false, wantActive: false},
		{name: "SetUserRole", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			_, err := s.SetUserRole(ctx, u.ID, models.RoleAdmin, t0)
			return err
		}, wantLive: true, wantActive: true, check: func(t *testing.T, got *models.User) {
			if got.Role != models.RoleAdmin {
				t.Fatalf("Identity() role = %s after SetUserRole, want ADMIN", got.Role)
			}
		}},
		{name: "UpdateProfile", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			name := "Renamed"
			_, err := s.UpdateProfile(ctx, u.ID, store.ProfileChange{DisplayName: &name}, t0)
			return err
		}, wantLive: true, wantActive: true, check: func(t *testing.T, got *models.User) {
			if got.DisplayName == nil || *got.DisplayName != "Renamed" {
				t.Fatalf("Identity() displayName = %v after UpdateProfile, want Renamed", got.DisplayName)
			}
		}},
		{name: "ChangePassword", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			next := &models.RefreshToken{TokenHash: hashOf("cp-" + u.ID), ExpiresAt: t0.Add(time.Hour)}
			_, err := s.ChangePassword(ctx, u.ID, sess.ID, "$argon2id$v=19$m=64,t=1,p=1$bmV3$bmV3", next, t0)
			return err
		}, wantLive: true, wantActive: true, check: func(t *testing.T, got *models.User) {
			if !strings.HasSuffix(got.PasswordHash, "$bmV3$bmV3") {
				t.Fatal("Identity() still shows the old password hash after ChangePassword")
			}
		}},
		{name: "DeleteUser", change: func(t *testing.T, s *store.Store, u *models.User, sess *models.Session) error {
			return s.DeleteUser(ctx, u.ID)
		}, wantNotFound: true},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u, sess := identityFixture(t, s, "w-"+tc.name)
				wantIdentity(t, s, u, sess, t0, true, true)
				if err := tc.change(t, s, u, sess); err != nil {
					t.Fatalf("%s() error = %v", tc.name, err)
				}
				if tc.wantNotFound {
					if _, _, err := s.Identity(ctx, u.ID, sess.ID, t0); err != store.ErrNotFound {
						t.Fatalf("Identity() after %s error = %v, want ErrNotFound", tc.name, err)
					}
					return
				}
				wantIdentity(t, s, u, sess, t0, tc.wantLive, tc.wantActive)
				if tc.check != nil {
					got, _, err := s.Identity(ctx, u.ID, sess.ID, t0)
					if err != nil {
						t.Fatal(err)
					}
					tc.check(t, got)
				}
			})
		}
	})
}

// TestIdentityCacheLastLogin: a login shows in the cached user at once.
func TestIdentityCacheLastLogin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u, sess := identityFixture(t, s, "last")
		wantIdentity(t, s, u, sess, t0, true, true)
		at := t0.Add(time.Minute)
		if err := s.RecordLogin(context.Background(), u.ID, at, ""); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.Identity(context.Background(), u.ID, sess.ID, t0)
		if err != nil || got.LastLoginAt == nil || !got.LastLoginAt.Equal(at) {
			t.Fatalf("Identity() lastLoginAt = %v (err %v), want %v", got.LastLoginAt, err, at)
		}
	})
}

// TestIdentityCacheSQLitePeers: Stores of one process on one SQLite
// database invalidate each other.
func TestIdentityCacheSQLitePeers(t *testing.T) {
	dsn, a := storetest.OpenDSN(t, store.DialectSQLite)
	b, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	u, sess := identityFixture(t, a, "peer")
	wantIdentity(t, a, u, sess, t0, true, true)
	if _, err := b.RevokeSession(context.Background(), sess.ID, t0); err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, a, u, sess, t0, false, true)
}

// observe sends every event of s to a buffered channel.
func observe(s *store.Store) <-chan store.IdentityEvent {
	ch := make(chan store.IdentityEvent, 100)
	s.SetIdentityObserver(func(ev store.IdentityEvent) { ch <- ev })
	return ch
}

// await returns the first event on ch that match accepts, failing after
// a generous bound (a hung test, not a timing assertion).
func await(t *testing.T, ch <-chan store.IdentityEvent, what string, match func(store.IdentityEvent) bool) store.IdentityEvent {
	t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-ch:
			if match(ev) {
				return ev
			}
		case <-timeout.C:
			t.Fatalf("no %s event", what)
		}
	}
}

// TestIdentityDroppedNotifications: when the LISTEN connection drops, the
// cache is flushed, entries live at most their TTL until it reconnects, and
// the reconnection flushes again.
func TestIdentityDroppedNotifications(t *testing.T) {
	dsn, admin := storetest.OpenDSN(t, store.DialectPostgres)
	ctx := context.Background()
	events := make(chan store.IdentityEvent, 100)
	release := make(chan struct{})
	s, err := store.OpenWith(ctx, dsn, store.Options{Observer: func(ev store.IdentityEvent) {
		events <- ev
		if ev.Kind == store.EventDisconnected {
			<-release // hold the reconnection until the test is done with the outage
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pid := await(t, events, "listening", func(ev store.IdentityEvent) bool { return ev.Kind == store.EventListening }).PID
	u, sess := identityFixture(t, s, "drop")
	wantIdentity(t, s, u, sess, t0, true, true)
	revokeBehindTheCache(t, s, sess.ID) // a change whose notification is lost

	if err := admin.DB().Exec("SELECT pg_terminate_backend(?)", pid).Error; err != nil {
		t.Fatal(err)
	}
	await(t, events, "flush on disconnect", func(ev store.IdentityEvent) bool { return ev.Kind == store.EventFlushed })
	await(t, events, "disconnect", func(ev store.IdentityEvent) bool { return ev.Kind == store.EventDisconnected })
	// Flushed: the lost change is seen.
	wantIdentity(t, s, u, sess, t0, false, true)

	// While disconnected, a fresh entry lives at most its TTL.
	u2, sess2 := identityFixture(t, s, "drop2")
	wantIdentity(t, s, u2, sess2, t0, true, true)
	revokeBehindTheCache(t, s, sess2.ID)
	wantIdentity(t, s, u2, sess2, t0.Add(store.DefaultIdentityTTL-time.Millisecond), true, true)
	wantIdentity(t, s, u2, sess2, t0.Add(store.DefaultIdentityTTL), false, true)

	close(release)
	await(t, events, "reconnection", func(ev store.IdentityEvent) bool { return ev.Kind == store.EventListening })
}

// TestIdentityRedis: with a Redis URL, changes also travel over Redis
// pub/sub, and a replica applies them as they arrive.
func TestIdentityRedis(t *testing.T) {
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("TEST_REDIS_URL is not set")
	}
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			dsn, _ := storetest.OpenDSN(t, kind)
			open := func(observer func(store.IdentityEvent)) *store.Store {
				s, err := store.OpenWith(ctx, dsn, store.Options{RedisURL: redisURL, Observer: observer})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				storetest.Listening(t, s)
				return s
			}
			events := make(chan store.IdentityEvent, 100)
			a := open(func(ev store.IdentityEvent) {
				if ev.Kind == store.EventInvalidated && ev.Source == store.SourceRedis {
					events <- ev
				}
			})
			b := open(nil)
			u, sess := identityFixture(t, a, "redis")
			wantIdentity(t, a, u, sess, t0, true, true)
			if _, err := b.RevokeSession(ctx, sess.ID, t0); err != nil {
				t.Fatal(err)
			}
			await(t, events, "redis invalidation", func(ev store.IdentityEvent) bool { return ev.Change.SessionID == sess.ID })
			wantIdentity(t, a, u, sess, t0, false, true)
		})
	}
}
