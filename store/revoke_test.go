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

// tokenState returns whether the token with this plain value is revoked, and
// whether its session is.
func tokenState(t *testing.T, s *store.Store, plain string) (tokenRevoked, sessionRevoked bool) {
	t.Helper()
	tok, sess, _, err := s.RefreshTokenByHash(context.Background(), hashOf(plain))
	if err != nil {
		t.Fatalf("RefreshTokenByHash(%q) error = %v", plain, err)
	}
	return tok.RevokedAt != nil, sess.RevokedAt != nil
}

func TestUserSessions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		older, olderTok, _ := mustSession(t, s, alice, t0.Add(threeDays))
		newer, newerTok, _ := mustSession(t, s, alice, t0.Add(threeDays))
		if err := s.Rotate(ctx, newerTok.ID, nextToken(newerTok, "newer-2"), t0.Add(time.Minute), "agent/2", "198.51.100.2"); err != nil {
			t.Fatal(err)
		}
		revoked, _, _ := mustSession(t, s, alice, t0.Add(threeDays))
		if _, err := s.RevokeSession(ctx, revoked.ID, t0); err != nil {
			t.Fatal(err)
		}
		mustSession(t, s, alice, t0.Add(time.Minute)) // expires before now
		mustSession(t, s, bob, t0.Add(threeDays))     // another user's
		// A session whose refresh token expired (idle too long) is over.
		idle, _, _ := mustSession(t, s, alice, t0.Add(threeDays))
		if err := s.DB().Model(&models.RefreshToken{}).Where("session_id = ?", idle.ID).
			Update("expires_at", t0.Add(time.Minute)).Error; err != nil {
			t.Fatal(err)
		}

		got, err := s.UserSessions(ctx, alice.ID, t0.Add(2*time.Minute))
		if err != nil {
			t.Fatalf("UserSessions() error = %v", err)
		}
		if len(got) != 2 || got[0].ID != newer.ID || got[1].ID != older.ID {
			t.Fatalf("UserSessions() = %+v, want [newer, older]", got)
		}
		if got[0].UserAgent != "agent/2" || got[0].IP != "198.51.100.2" || !got[0].LastUsedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("newer session = %+v, want the last refresh's agent, IP and time", got[0])
		}
		if !got[1].RefreshExpiresAt.Equal(olderTok.ExpiresAt) {
			t.Errorf("RefreshExpiresAt = %v, want %v", got[1].RefreshExpiresAt, olderTok.ExpiresAt)
		}
	})
}

func TestRevokeUserSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		mine, _, minePlain := mustSession(t, s, alice, t0.Add(threeDays))
		theirs, _, theirPlain := mustSession(t, s, bob, t0.Add(threeDays))

		tests := []struct {
			name      string
			sessionID string
			want      bool
		}{
			{"another user's session", theirs.ID, false},
			{"unknown", "no-such-session", false},
			{"own live session", mine.ID, true},
			{"own session again", mine.ID, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.RevokeUserSession(ctx, alice.ID, tt.sessionID, t0)
				if err != nil || got != tt.want {
					t.Errorf("RevokeUserSession(%s) = %v, %v, want %v", tt.name, got, err, tt.want)
				}
			})
		}
		if tr, sr := tokenState(t, s, minePlain); !tr || !sr {
			t.Errorf("own session: token revoked %v, session revoked %v; want both", tr, sr)
		}
		if tr, sr := tokenState(t, s, theirPlain); tr || sr {
			t.Errorf("another user's session: token revoked %v, session revoked %v; want neither", tr, sr)
		}
	})
}

func TestRevokeUserSessions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		keep, _, keepPlain := mustSession(t, s, alice, t0.Add(threeDays))
		_, _, aPlain := mustSession(t, s, alice, t0.Add(threeDays))
		_, _, bPlain := mustSession(t, s, alice, t0.Add(threeDays))
		mustSession(t, s, alice, t0.Add(time.Minute)) // expired: not counted
		_, _, bobPlain := mustSession(t, s, bob, t0.Add(threeDays))
		now := t0.Add(time.Hour)

		n, err := s.RevokeUserSessions(ctx, alice.ID, keep.ID, now)
		if err != nil || n != 2 {
			t.Fatalf("RevokeUserSessions(keep one) = %d, %v, want 2", n, err)
		}
		for _, p := range []string{aPlain, bPlain} {
			if tr, sr := tokenState(t, s, p); !tr || !sr {
				t.Errorf("ended session: token revoked %v, session revoked %v; want both", tr, sr)
			}
		}
		if tr, sr := tokenState(t, s, keepPlain); tr || sr {
			t.Errorf("kept session: token revoked %v, session revoked %v; want neither", tr, sr)
		}
		n, err = s.RevokeUserSessions(ctx, alice.ID, "", now)
		if err != nil || n != 1 {
			t.Fatalf("RevokeUserSessions(all) = %d, %v, want 1", n, err)
		}
		if tr, sr := tokenState(t, s, bobPlain); tr || sr {
			t.Errorf("another user's session: token revoked %v, session revoked %v; want neither", tr, sr)
		}
	})
}

func TestChangePassword(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice := mustUser(t, s, "alice")
		cur, curTok, curPlain := mustSession(t, s, alice, t0.Add(threeDays))
		_, _, otherPlain := mustSession(t, s, alice, t0.Add(threeDays))
		now := t0.Add(time.Hour)

		next := &models.RefreshToken{TokenHash: hashOf("fresh"), ExpiresAt: curTok.ExpiresAt}
		n, err := s.ChangePassword(ctx, alice.ID, cur.ID, "$argon2id$new", next, now)
		if err != nil || n != 1 {
			t.Fatalf("ChangePassword() = %d, %v, want 1", n, err)
		}
		u, err := s.UserByID(ctx, alice.ID)
		if err != nil || u.PasswordHash != "$argon2id$new" {
			t.Errorf("password hash = %q (%v), want the new one", u.PasswordHash, err)
		}
		if tr, sr := tokenState(t, s, otherPlain); !tr || !sr {
			t.Errorf("other session: token revoked %v, session revoked %v; want both", tr, sr)
		}
		if tr, sr := tokenState(t, s, curPlain); !tr || sr {
			t.Errorf("current session's old token: revoked %v, session revoked %v; want the token only", tr, sr)
		}
		tok, sess, _, err := s.RefreshTokenByHash(ctx, hashOf("fresh"))
		if err != nil || tok.SessionID != cur.ID || tok.RevokedAt != nil || sess.RevokedAt != nil {
			t.Errorf("new token %+v in session %+v (%v), want a live token of the current session", tok, sess, err)
		}
		if _, live, err := s.Identity(ctx, alice.ID, cur.ID, now); err != nil || !live {
			t.Errorf("Identity(current session) live = %v, %v; want true", live, err)
		}

		// A session that ended meanwhile cannot be continued.
		if _, err := s.RevokeSession(ctx, cur.ID, now); err != nil {
			t.Fatal(err)
		}
		_, err = s.ChangePassword(ctx, alice.ID, cur.ID, "$argon2id$newer", &models.RefreshToken{TokenHash: hashOf("x"), ExpiresAt: curTok.ExpiresAt}, now)
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("ChangePassword(revoked session) error = %v, want ErrConflict", err)
		}
		if u, _ := s.UserByID(ctx, alice.ID); u.PasswordHash != "$argon2id$new" {
			t.Errorf("a refused ChangePassword() changed the hash to %q", u.PasswordHash)
		}
	})
}

func TestRotateKeeping(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		sess, first, _ := mustSession(t, s, u, t0.Add(threeDays))
		window := 10 * time.Second

		second := nextToken(first, "second")
		if err := s.RotateKeeping(ctx, first.ID, second, t0, "", "", store.Successor{Sealed: []byte("sealed-2"), Until: t0.Add(window)}); err != nil {
			t.Fatalf("RotateKeeping() error = %v", err)
		}
		got, err := s.KeptSuccessor(ctx, first.ID, t0.Add(window-time.Millisecond))
		if err != nil || string(got) != "sealed-2" {
			t.Fatalf("KeptSuccessor() in the window = %q, %v, want sealed-2", got, err)
		}
		if _, err := s.KeptSuccessor(ctx, first.ID, t0.Add(window)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("KeptSuccessor() at the window's end error = %v, want ErrNotFound", err)
		}

		// The next rotation makes the first token older than previous.
		third := nextToken(second, "third")
		if err := s.RotateKeeping(ctx, second.ID, third, t0.Add(time.Second), "", "", store.Successor{Sealed: []byte("sealed-3"), Until: t0.Add(time.Second + window)}); err != nil {
			t.Fatalf("RotateKeeping(second) error = %v", err)
		}
		if _, err := s.KeptSuccessor(ctx, first.ID, t0.Add(time.Second)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("KeptSuccessor(older than previous) error = %v, want ErrNotFound", err)
		}

		// Purging after the window clears what is kept.
		if _, err := s.Purge(ctx, t0.Add(time.Hour), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		var kept int64
		if err := s.DB().Model(&models.RefreshToken{}).Where("successor_sealed IS NOT NULL OR successor_until IS NOT NULL").Count(&kept).Error; err != nil {
			t.Fatal(err)
		}
		if kept != 0 {
			t.Errorf("%d tokens still keep a successor after Purge past the window", kept)
		}

		// Revoking the session clears a kept successor at once.
		fourth := nextToken(third, "fourth")
		if err := s.RotateKeeping(ctx, third.ID, fourth, t0.Add(2*time.Hour), "", "", store.Successor{Sealed: []byte("sealed-4"), Until: t0.Add(2*time.Hour + window)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RevokeSession(ctx, sess.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.KeptSuccessor(ctx, third.ID, t0.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("KeptSuccessor() after RevokeSession error = %v, want ErrNotFound", err)
		}
		if err := s.DB().Model(&models.RefreshToken{}).Where("successor_sealed IS NOT NULL").Count(&kept).Error; err != nil || kept != 0 {
			t.Errorf("%d sealed successors remain after RevokeSession (%v)", kept, err)
		}
	})
}

func TestUserSessionsBounded(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "scripted")
		for range store.MaxListedSessions + 2 {
			mustSession(t, s, u, t0.Add(threeDays))
		}
		got, err := s.UserSessions(context.Background(), u.ID, t0)
		if err != nil || len(got) != store.MaxListedSessions {
			t.Fatalf("UserSessions() = %d sessions, %v; want %d", len(got), err, store.MaxListedSessions)
		}
	})
}
