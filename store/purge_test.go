package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestPurge(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const keep = 24 * time.Hour
		now := t0.Add(10 * 24 * time.Hour)
		u := mustUser(t, s, "alice")

		// A live session with a used, a live and a long-used token.
		live, liveTok, _ := mustSession(t, s, u, now.Add(threeDays))
		if err := s.Rotate(ctx, liveTok.ID, nextToken(liveTok, "live-2"), now.Add(-2*keep), "", ""); err != nil {
			t.Fatalf("Rotate() error = %v", err) // live-1 used 2 days ago: purged
		}
		live2, _, _, _ := s.RefreshTokenByHash(ctx, hashOf("live-2"))
		if err := s.Rotate(ctx, live2.ID, nextToken(live2, "live-3"), now.Add(-time.Hour), "", ""); err != nil {
			t.Fatalf("Rotate() error = %v", err) // live-2 used an hour ago: kept
		}
		// A token that expired long ago in the live session.
		expiredTok := &models.RefreshToken{ID: "expired", TokenHash: hashOf("expired"), UserID: u.ID, SessionID: live.ID,
			CreatedAt: t0, ExpiresAt: now.Add(-2 * keep)}
		if err := s.DB().Create(expiredTok).Error; err != nil {
			t.Fatalf("insert token: %v", err)
		}
		// A token that expired recently is kept for reporting.
		recentTok := &models.RefreshToken{ID: "recent", TokenHash: hashOf("recent"), UserID: u.ID, SessionID: live.ID,
			CreatedAt: t0, ExpiresAt: now.Add(-time.Hour)}
		if err := s.DB().Create(recentTok).Error; err != nil {
			t.Fatalf("insert token: %v", err)
		}

		// Sessions that ended long ago go with their tokens.
		oldRevoked, _, _ := mustSession(t, s, u, now.Add(threeDays))
		if _, err := s.RevokeSession(ctx, oldRevoked.ID, now.Add(-2*keep)); err != nil {
			t.Fatalf("RevokeSession() error = %v", err)
		}
		oldExpired, _, _ := mustSession(t, s, u, now.Add(-2*keep))
		// Sessions that ended recently stay.
		newRevoked, _, _ := mustSession(t, s, u, now.Add(threeDays))
		if _, err := s.RevokeSession(ctx, newRevoked.ID, now.Add(-time.Hour)); err != nil {
			t.Fatalf("RevokeSession() error = %v", err)
		}
		newExpired, _, _ := mustSession(t, s, u, now.Add(-time.Hour))

		got, err := s.Purge(ctx, now, keep)
		if err != nil {
			t.Fatalf("Purge() error = %v", err)
		}
		// live-1, expired, 2 sessions and their 2 tokens.
		if got != 6 {
			t.Errorf("Purge() = %d rows, want 6", got)
		}

		for _, c := range []struct {
			hash string
			want bool
		}{
			{liveTok.TokenHash, false},
			{hashOf("live-2"), true},
			{hashOf("live-3"), true},
			{expiredTok.TokenHash, false},
			{recentTok.TokenHash, true},
		} {
			_, _, _, err := s.RefreshTokenByHash(ctx, c.hash)
			if found := err == nil; found != c.want {
				t.Errorf("after Purge() token %s found = %v (%v), want %v", c.hash[:8], found, err, c.want)
			}
		}
		for _, c := range []struct {
			name string
			id   string
			want bool
		}{
			{"live", live.ID, true},
			{"revoked long ago", oldRevoked.ID, false},
			{"expired long ago", oldExpired.ID, false},
			{"revoked recently", newRevoked.ID, true},
			{"expired recently", newExpired.ID, true},
		} {
			_, _, err := s.Identity(ctx, u.ID, c.id, now)
			if found := err == nil; found != c.want {
				t.Errorf("after Purge() session %s found = %v (%v), want %v", c.name, found, err, c.want)
			}
		}

		again, err := s.Purge(ctx, now, keep)
		if err != nil || again != 0 {
			t.Errorf("second Purge() = %d, %v, want 0, nil", again, err)
		}
	})
}

func TestPurgeBatches(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		sess, _, _ := mustSession(t, s, u, t0.Add(threeDays))
		const n = 2500
		toks := make([]models.RefreshToken, n)
		for i := range toks {
			toks[i] = models.RefreshToken{ID: fmt.Sprintf("tok-%05d", i), TokenHash: hashOf(fmt.Sprint(i)),
				UserID: u.ID, SessionID: sess.ID, CreatedAt: t0, ExpiresAt: t0}
		}
		if err := s.DB().CreateInBatches(toks, 500).Error; err != nil {
			t.Fatalf("insert tokens: %v", err)
		}
		got, err := s.Purge(ctx, t0.Add(time.Hour), 0)
		if err != nil || got != n {
			t.Errorf("Purge() = %d, %v, want %d", got, err, n)
		}
		if _, live, err := s.Identity(ctx, u.ID, sess.ID, t0.Add(time.Hour)); err != nil || !live {
			t.Errorf("Identity() after Purge() = %v, %v, want the live session kept", live, err)
		}
	})
}
