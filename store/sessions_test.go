package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
	"gorm.io/gorm"
)

func TestCreateSessionAndRefreshTokenByHash(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		sess, tok, plain := mustSession(t, s, u, t0.Add(threeDays))
		if sess.ID == "" || tok.ID == "" || tok.SessionID != sess.ID || tok.UserID != u.ID ||
			!sess.LastUsedAt.Equal(t0) || !tok.CreatedAt.Equal(t0) {
			t.Fatalf("CreateSession() set session %+v, token %+v", sess, tok)
		}

		gotTok, gotSess, gotUser, err := s.RefreshTokenByHash(ctx, hashOf(plain))
		if err != nil {
			t.Fatalf("RefreshTokenByHash() error = %v", err)
		}
		if *gotTok != *tok {
			t.Errorf("RefreshTokenByHash() token = %+v, want %+v", gotTok, tok)
		}
		if *gotSess != *sess {
			t.Errorf("RefreshTokenByHash() session = %+v, want %+v", gotSess, sess)
		}
		if gotUser.ID != u.ID || gotUser.Username != u.Username || gotUser.PasswordHash != u.PasswordHash ||
			gotUser.Role != u.Role || !gotUser.Active || !gotUser.CreatedAt.Equal(u.CreatedAt) {
			t.Errorf("RefreshTokenByHash() user = %+v, want %+v", gotUser, u)
		}

		if _, _, _, err := s.RefreshTokenByHash(ctx, hashOf("unknown")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RefreshTokenByHash(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestCreateSessionInvalid(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		exp := t0.Add(threeDays)

		err := s.CreateSession(ctx, &models.Session{UserID: "missing", ExpiresAt: exp},
			&models.RefreshToken{TokenHash: hashOf("a"), ExpiresAt: exp})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateSession(unknown user) error = %v, want ErrNotFound", err)
		}

		err = s.CreateSession(ctx, &models.Session{UserID: u.ID, ExpiresAt: exp},
			&models.RefreshToken{TokenHash: hashOf("b")})
		if err == nil {
			t.Errorf("CreateSession(token without expiry) error = nil, want an error")
		}

		// A long, invalid UTF-8 user agent is stored clipped, not refused.
		sess := &models.Session{UserID: u.ID, ExpiresAt: exp, UserAgent: strings.Repeat("é", 600) + "\xff", IP: "2001:db8::1"}
		if err := s.CreateSession(ctx, sess, &models.RefreshToken{TokenHash: hashOf("c"), ExpiresAt: exp}); err != nil {
			t.Fatalf("CreateSession(long user agent) error = %v", err)
		}
		_, got, _, err := s.RefreshTokenByHash(ctx, hashOf("c"))
		if err != nil || got.UserAgent != strings.Repeat("é", 512) {
			t.Errorf("stored user agent = %d characters, %v; want 512", len([]rune(got.UserAgent)), err)
		}
	})
}

func TestIdentity(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice := mustUser(t, s, "alice")
		bob := mustUser(t, s, "bob")
		live, _, _ := mustSession(t, s, alice, t0.Add(threeDays))
		revoked, _, _ := mustSession(t, s, alice, t0.Add(threeDays))
		if _, err := s.RevokeSession(ctx, revoked.ID, t0); err != nil {
			t.Fatalf("RevokeSession() error = %v", err)
		}
		short, _, _ := mustSession(t, s, alice, t0.Add(time.Hour))
		bobs, _, _ := mustSession(t, s, bob, t0.Add(threeDays))

		tests := []struct {
			name      string
			userID    string
			sessionID string
			now       time.Time
			wantLive  bool
			wantErr   error
		}{
			{"live", alice.ID, live.ID, t0, true, nil},
			{"revoked", alice.ID, revoked.ID, t0, false, nil},
			{"not yet expired", alice.ID, short.ID, t0.Add(time.Hour - time.Microsecond), true, nil},
			{"expired at the instant", alice.ID, short.ID, t0.Add(time.Hour), false, nil},
			{"expired", alice.ID, short.ID, t0.Add(2 * time.Hour), false, nil},
			{"unknown session", alice.ID, "missing", t0, false, store.ErrNotFound},
			{"unknown user", "missing", live.ID, t0, false, store.ErrNotFound},
			{"another user's session", alice.ID, bobs.ID, t0, false, store.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, gotLive, err := s.Identity(ctx, tt.userID, tt.sessionID, tt.now)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Identity() error = %v, want %v", err, tt.wantErr)
				}
				if gotLive != tt.wantLive {
					t.Errorf("Identity() live = %v, want %v", gotLive, tt.wantLive)
				}
				if err == nil && (u.ID != tt.userID || u.Username != "alice" || !u.Active) {
					t.Errorf("Identity() user = %+v, want alice", u)
				}
			})
		}

		// The user is returned whatever its state: the caller decides.
		// Deactivating also ended the session.
		if _, err := s.SetUserActive(ctx, alice.ID, false, t0); err != nil {
			t.Fatalf("SetUserActive() error = %v", err)
		}
		u, gotLive, err := s.Identity(ctx, alice.ID, live.ID, t0)
		if err != nil || u.Active || gotLive {
			t.Errorf("Identity(inactive user) = %+v, %v, %v; want the inactive user, not live", u, gotLive, err)
		}
	})
}

func TestIdentityIsOneStatement(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		sess, _, _ := mustSession(t, s, u, t0.Add(threeDays))
		n := countQueries(t, s)
		if _, _, err := s.Identity(context.Background(), u.ID, sess.ID, t0); err != nil {
			t.Fatalf("Identity() error = %v", err)
		}
		if *n != 1 {
			t.Errorf("Identity() ran %d statements, want 1", *n)
		}
		*n = 0
		if _, _, _, err := s.RefreshTokenByHash(context.Background(), "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RefreshTokenByHash() error = %v", err)
		}
		if *n != 1 {
			t.Errorf("RefreshTokenByHash() ran %d statements, want 1", *n)
		}
	})
}

// countQueries counts the statements s runs from now on. It is not safe for
// concurrent use.
func countQueries(t *testing.T, s *store.Store) *int {
	t.Helper()
	n := new(int)
	inc := func(*gorm.DB) { *n++ }
	cb := s.DB().Callback()
	for name, err := range map[string]error{
		"query":  cb.Query().After("gorm:query").Register("test:count", inc),
		"row":    cb.Row().After("gorm:row").Register("test:count", inc),
		"raw":    cb.Raw().After("gorm:raw").Register("test:count", inc),
		"create": cb.Create().After("gorm:create").Register("test:count", inc),
		"update": cb.Update().After("gorm:update").Register("test:count", inc),
		"delete": cb.Delete().After("gorm:delete").Register("test:count", inc),
	} {
		if err != nil {
			t.Fatalf("register %s counter: %v", name, err)
		}
	}
	return n
}

func TestRevokeSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		sess, tok, plain := mustSession(t, s, u, t0.Add(threeDays))
		next := nextToken(tok, "second")
		if err := s.Rotate(ctx, tok.ID, next, t0, "", ""); err != nil {
			t.Fatalf("Rotate() error = %v", err)
		}
		other, _, otherPlain := mustSession(t, s, u, t0.Add(threeDays))
		short, _, _ := mustSession(t, s, u, t0.Add(time.Minute))

		now := t0.Add(time.Hour)
		tests := []struct {
			name      string
			sessionID string
			want      bool
		}{
			{"live", sess.ID, true},
			{"already revoked", sess.ID, false},
			{"expired", short.ID, false},
			{"unknown", "missing", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.RevokeSession(ctx, tt.sessionID, now)
				if err != nil || got != tt.want {
					t.Errorf("RevokeSession(%s) = %v, %v, want %v", tt.name, got, err, tt.want)
				}
			})
		}

		// Both tokens of the family are revoked at now; the first revocation
		// time is kept.
		for _, p := range []string{plain, "second"} {
			rt, rs, _, err := s.RefreshTokenByHash(ctx, hashOf(p))
			if err != nil || rt.RevokedAt == nil || !rt.RevokedAt.Equal(now) || rs.RevokedAt == nil || !rs.RevokedAt.Equal(now) {
				t.Errorf("after RevokeSession token %+v session %+v (%v), want both revoked at %v", rt, rs, err, now)
			}
		}
		if err := s.Rotate(ctx, next.ID, nextToken(next, "third"), now, "", ""); !errors.Is(err, store.ErrConflict) {
			t.Errorf("Rotate() after RevokeSession error = %v, want ErrConflict", err)
		}
		// Another session of the same user is untouched.
		rt, rs, _, err := s.RefreshTokenByHash(ctx, hashOf(otherPlain))
		if err != nil || rt.RevokedAt != nil || rs.RevokedAt != nil || rs.ID != other.ID {
			t.Errorf("other session token %+v session %+v (%v), want live", rt, rs, err)
		}
	})
}
