package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestStartLoginSession: one call records the login (and a rehash), opens
// a live session with its refresh token, and shows the new last login
// through a cached identity at once; an unknown user changes nothing.
func TestStartLoginSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u, old := identityFixture(t, s, "starter")
		wantIdentity(t, s, u, old, t0, true, true) // cached now
		at := t0.Add(time.Minute)

		cases := []struct {
			name, newHash, wantHash string
		}{
			{"no rehash", "", u.PasswordHash},
			{"rehash", "$argon2id$new", "$argon2id$new"},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				at := at.Add(time.Duration(i) * time.Hour)
				sess := &models.Session{UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(threeDays)}
				tok := &models.RefreshToken{TokenHash: hashOf(tc.name), ExpiresAt: at.Add(threeDays)}
				if err := s.StartLoginSession(ctx, sess, tok, at, tc.newHash); err != nil {
					t.Fatalf("StartLoginSession() error = %v", err)
				}
				if sess.ID == "" || tok.SessionID != sess.ID || tok.UserID != u.ID {
					t.Fatalf("session %+v / token %+v not completed", sess, tok)
				}
				got, err := s.UserByID(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.LastLoginAt == nil || !got.LastLoginAt.Equal(at) || got.PasswordHash != tc.wantHash {
					t.Errorf("user after login = last login %v, hash %q; want %v, %q", got.LastLoginAt, got.PasswordHash, at, tc.wantHash)
				}
				// The identity cached before the login shows it at once.
				cached, _, err := s.Identity(ctx, u.ID, old.ID, at)
				if err != nil || cached.LastLoginAt == nil || !cached.LastLoginAt.Equal(at) {
					t.Errorf("Identity(old session) lastLoginAt = %v (err %v), want %v", cached.LastLoginAt, err, at)
				}
				wantIdentity(t, s, u, sess, at, true, true)
				rt, rs, _, err := s.RefreshTokenByHash(ctx, tok.TokenHash)
				if err != nil || rt.ID != tok.ID || rs.ID != sess.ID {
					t.Errorf("RefreshTokenByHash() = %v, %v, %v; want the new token and session", rt, rs, err)
				}
			})
		}

		t.Run("unknown user", func(t *testing.T) {
			sess := &models.Session{UserID: "00000000-0000-0000-0000-000000000000", ExpiresAt: at.Add(threeDays)}
			tok := &models.RefreshToken{TokenHash: hashOf("unknown"), ExpiresAt: at.Add(threeDays)}
			if err := s.StartLoginSession(ctx, sess, tok, at, ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("StartLoginSession(unknown user) error = %v, want ErrNotFound", err)
			}
			if _, _, _, err := s.RefreshTokenByHash(ctx, tok.TokenHash); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("RefreshTokenByHash after a failed start = %v, want ErrNotFound", err)
			}
		})
	})
}

// TestStartLoginSessionReachesReplicas: another Store on the same database
// hears of the login (its cached user shows the new last login).
func TestStartLoginSessionReachesReplicas(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			dsn, a := storetest.OpenDSN(t, kind)
			b, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			storetest.Listening(t, b)
			u, old := identityFixture(t, a, "replicated")
			wantIdentity(t, b, u, old, t0, true, true) // cached on b
			events := make(chan store.IdentityEvent, 100)
			b.SetIdentityObserver(func(ev store.IdentityEvent) {
				if ev.Kind == store.EventInvalidated && ev.Change.UserID == u.ID {
					events <- ev
				}
			})
			at := t0.Add(time.Minute)
			sess := &models.Session{UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(threeDays)}
			tok := &models.RefreshToken{TokenHash: hashOf("replicated login"), ExpiresAt: at.Add(threeDays)}
			if err := a.StartLoginSession(ctx, sess, tok, at, ""); err != nil {
				t.Fatal(err)
			}
			select {
			case <-events:
			case <-time.After(10 * time.Second):
				t.Fatal("the other Store never heard of the login")
			}
			got, _, err := b.Identity(ctx, u.ID, old.ID, at)
			if err != nil || got.LastLoginAt == nil || !got.LastLoginAt.Equal(at) {
				t.Fatalf("Identity on the other Store: lastLoginAt = %v (err %v), want %v", got.LastLoginAt, err, at)
			}
		})
	}
}
