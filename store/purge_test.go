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

// TestPurgeBatchesEveryCondition fills each purge condition with more rows
// than one batch holds, beside rows that must stay, and checks that Purge
// deletes exactly the purgeable ones, however many batches each takes.
func TestPurgeBatchesEveryCondition(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const keep = 24 * time.Hour
		now := t0.Add(30 * 24 * time.Hour)
		long, recent := now.Add(-2*keep), now.Add(-time.Hour)
		u := mustUser(t, s, "alice")
		live, _, _ := mustSession(t, s, u, now.Add(threeDays))
		endedExpired, _, _ := mustSession(t, s, u, long)
		endedRevoked, _, _ := mustSession(t, s, u, now.Add(threeDays))
		if _, err := s.RevokeSession(ctx, endedRevoked.ID, long); err != nil {
			t.Fatalf("RevokeSession() error = %v", err)
		}
		const n = 1300 // more than one batch (1000) of each kind
		var toks []models.RefreshToken
		add := func(kind, session string, expires time.Time, used, revoked *time.Time) {
			for i := range n {
				id := fmt.Sprintf("%s-%05d", kind, i)
				toks = append(toks, models.RefreshToken{ID: id, TokenHash: hashOf(id), UserID: u.ID, SessionID: session,
					CreatedAt: t0, ExpiresAt: expires, UsedAt: used, RevokedAt: revoked})
			}
		}
		future := now.Add(threeDays)
		add("expired", live.ID, long, nil, nil)
		add("used", live.ID, future, &long, nil)
		add("revoked", live.ID, future, nil, &long)
		add("of-expired-session", endedExpired.ID, future, nil, nil)
		add("of-revoked-session", endedRevoked.ID, future, nil, nil)
		const purgeable = 5 * n
		add("used-recently", live.ID, future, &recent, nil)
		add("revoked-recently", live.ID, future, nil, &recent)
		add("expired-recently", live.ID, recent, nil, nil)
		if err := s.DB().CreateInBatches(toks, 500).Error; err != nil {
			t.Fatalf("insert tokens: %v", err)
		}
		var before int64
		if err := s.DB().Model(&models.RefreshToken{}).Count(&before).Error; err != nil {
			t.Fatal(err)
		}
		want, err := s.CountPurgeable(ctx, now, keep)
		if err != nil {
			t.Fatalf("CountPurgeable() error = %v", err)
		}
		// The tokens and the two sessions; the sessions' first tokens too.
		got, err := s.Purge(ctx, now, keep)
		if err != nil {
			t.Fatalf("Purge() error = %v", err)
		}
		if got != want {
			t.Errorf("Purge() = %d rows, CountPurgeable() said %d", got, want)
		}
		var left []models.RefreshToken
		if err := s.DB().Find(&left).Error; err != nil {
			t.Fatal(err)
		}
		kept := map[string]int{}
		for _, tok := range left {
			kind := tok.ID
			if i := len(kind) - 6; i > 0 && kind[i] == '-' {
				kind = kind[:i]
			}
			kept[kind]++
		}
		for _, kind := range []string{"used-recently", "revoked-recently", "expired-recently"} {
			if kept[kind] != n {
				t.Errorf("after Purge() %d %s tokens left, want all %d", kept[kind], kind, n)
			}
		}
		for _, kind := range []string{"expired", "used", "revoked", "of-expired-session", "of-revoked-session"} {
			if kept[kind] != 0 {
				t.Errorf("after Purge() %d %s tokens left, want 0", kept[kind], kind)
			}
		}
		if int64(len(left)) != before-int64(purgeable)-2 { // -2: the ended sessions' first tokens
			t.Errorf("after Purge() %d tokens left of %d, want %d", len(left), before, before-int64(purgeable)-2)
		}
		for _, c := range []struct {
			name string
			id   string
			want bool
		}{{"live", live.ID, true}, {"expired long ago", endedExpired.ID, false}, {"revoked long ago", endedRevoked.ID, false}} {
			_, _, err := s.Identity(ctx, u.ID, c.id, now)
			if found := err == nil; found != c.want {
				t.Errorf("after Purge() session %s found = %v (%v), want %v", c.name, found, err, c.want)
			}
		}
		if again, err := s.Purge(ctx, now, keep); err != nil || again != 0 {
			t.Errorf("second Purge() = %d, %v, want 0, nil", again, err)
		}
	})
}

// TestPurgeEndedSessionsInBatches ends more sessions than one batch holds,
// each with tokens, and checks that Purge takes every one with its tokens
// and keeps the live session. On Postgres, with the vacuum threshold
// lowered below the tokens deleted, it checks that the tokens' table was
// vacuumed before the token steps.
func TestPurgeEndedSessionsInBatches(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		defer store.SetVacuumAfter(1000)()
		const keep = 24 * time.Hour
		now := t0.Add(30 * 24 * time.Hour)
		u := mustUser(t, s, "alice")
		live, _, _ := mustSession(t, s, u, now.Add(threeDays))
		const n = 1300 // more than one batch (1000)
		var sessions []models.Session
		var toks []models.RefreshToken
		for i := range n {
			id := fmt.Sprintf("ended-%05d", i)
			ended := models.Session{ID: id, UserID: u.ID, CreatedAt: t0, ExpiresAt: now.Add(-2 * keep), UserAgent: "test", IP: "192.0.2.1"}
			if i%2 == 1 { // half revoked long ago instead
				revoked := now.Add(-2 * keep)
				ended.ExpiresAt, ended.RevokedAt = now.Add(threeDays), &revoked
			}
			sessions = append(sessions, ended)
			for j := range 2 {
				tid := fmt.Sprintf("%s-%d", id, j)
				toks = append(toks, models.RefreshToken{ID: tid, TokenHash: hashOf(tid), UserID: u.ID, SessionID: id,
					CreatedAt: t0, ExpiresAt: now.Add(threeDays)})
			}
		}
		if err := s.DB().CreateInBatches(sessions, 500).Error; err != nil {
			t.Fatalf("insert sessions: %v", err)
		}
		if err := s.DB().CreateInBatches(toks, 500).Error; err != nil {
			t.Fatalf("insert tokens: %v", err)
		}
		got, err := s.Purge(ctx, now, keep)
		if err != nil {
			t.Fatalf("Purge() error = %v", err)
		}
		if want := int64(3 * n); got != want {
			t.Errorf("Purge() = %d rows, want %d (%d sessions and their %d tokens)", got, want, n, 2*n)
		}
		var leftSessions, leftTokens int64
		s.DB().Model(&models.Session{}).Count(&leftSessions)
		s.DB().Model(&models.RefreshToken{}).Count(&leftTokens)
		if leftSessions != 1 || leftTokens != 1 {
			t.Errorf("after Purge() %d sessions and %d tokens left, want the live session and its token", leftSessions, leftTokens)
		}
		if _, ok, err := s.Identity(ctx, u.ID, live.ID, now); err != nil || !ok {
			t.Errorf("Identity(live) after Purge() = %v, %v, want the live session", ok, err)
		}
		if s.Dialect() != store.DialectPostgres {
			return
		}
		var vacuumed bool
		if err := s.DB().Raw("SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'refresh_tokens'").Scan(&vacuumed).Error; err != nil {
			t.Fatal(err)
		}
		if !vacuumed {
			t.Error("refresh_tokens not vacuumed after Purge() deleted more tokens with their sessions than the threshold")
		}
	})
}

// TestPurgeSkipsLockedSession: on Postgres a purge batch locks its
// sessions before their tokens, as every write to a session family does,
// and leaves a session another transaction holds to the next sweep instead
// of waiting for it (or deadlocking with it).
func TestPurgeSkipsLockedSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if s.Dialect() != store.DialectPostgres {
			t.Skip("row locks: Postgres only (SQLite has one writer at a time)")
		}
		ctx := context.Background()
		const keep = 24 * time.Hour
		now := t0.Add(30 * 24 * time.Hour)
		u := mustUser(t, s, "alice")
		held, _, _ := mustSession(t, s, u, now.Add(-2*keep))
		free, _, _ := mustSession(t, s, u, now.Add(-2*keep))
		tx := s.DB().Begin()
		defer tx.Rollback()
		if err := tx.Exec("UPDATE sessions SET user_agent = 'held' WHERE id = ?", held.ID).Error; err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		got, err := s.Purge(pctx, now, keep)
		if err != nil {
			t.Fatalf("Purge() with a session held by another transaction: %v", err)
		}
		// The free session with its token, and the held session's expired
		// token, which its own expiry purges; not the held session.
		if got != 3 {
			t.Errorf("Purge() = %d rows, want 3", got)
		}
		if _, _, err := s.Identity(ctx, u.ID, free.ID, now); err == nil {
			t.Error("the free ended session survived the purge")
		}
		var sessions int64
		if err := s.DB().Model(&models.Session{}).Where("id = ?", held.ID).Count(&sessions).Error; err != nil || sessions != 1 {
			t.Errorf("the held session: %d rows (%v), want it left to the next sweep", sessions, err)
		}
		tx.Rollback()
		if again, err := s.Purge(ctx, now, keep); err != nil || again != 1 {
			t.Errorf("Purge() after the lock was released = %d, %v; want 1 (the held session), nil", again, err)
		}
	})
}
