package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestRotate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		_, tok, plain := mustSession(t, s, u, t0.Add(threeDays))
		now := t0.Add(time.Minute)

		next := nextToken(tok, "second")
		if err := s.Rotate(ctx, tok.ID, next, now, "agent/2", "198.51.100.7"); err != nil {
			t.Fatalf("Rotate() error = %v", err)
		}
		if next.ID == "" {
			t.Errorf("Rotate() left next.ID empty")
		}

		old, sess, _, err := s.RefreshTokenByHash(ctx, hashOf(plain))
		if err != nil {
			t.Fatalf("RefreshTokenByHash(old) error = %v", err)
		}
		if old.UsedAt == nil || !old.UsedAt.Equal(now) {
			t.Errorf("old token UsedAt = %v, want %v", old.UsedAt, now)
		}
		if !sess.LastUsedAt.Equal(now) || sess.UserAgent != "agent/2" || sess.IP != "198.51.100.7" {
			t.Errorf("session after Rotate() = %+v, want last use %v by agent/2 from 198.51.100.7", sess, now)
		}
		got, _, _, err := s.RefreshTokenByHash(ctx, hashOf("second"))
		if err != nil || got.ID != next.ID || got.SessionID != tok.SessionID || got.UsedAt != nil {
			t.Errorf("RefreshTokenByHash(new) = %+v, %v; want the unused successor in the session", got, err)
		}

		// The same token again: it was used.
		if err := s.Rotate(ctx, tok.ID, nextToken(tok, "third"), now, "", ""); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second Rotate() of the same token error = %v, want ErrConflict", err)
		}
		if _, _, _, err := s.RefreshTokenByHash(ctx, hashOf("third")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a failed Rotate() inserted its token: RefreshTokenByHash() error = %v", err)
		}
		// The successor still rotates.
		if err := s.Rotate(ctx, next.ID, nextToken(next, "fourth"), now, "", ""); err != nil {
			t.Errorf("Rotate(successor) error = %v", err)
		}
	})
}

func TestRotateRefused(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice := mustUser(t, s, "alice")
		bob := mustUser(t, s, "bob")
		_, bobTok, _ := mustSession(t, s, bob, t0.Add(threeDays))

		tests := []struct {
			name  string
			setup func(t *testing.T, sess *models.Session, tok *models.RefreshToken) (oldID string, next *models.RefreshToken, now time.Time)
		}{
			{"session revoked", func(t *testing.T, sess *models.Session, tok *models.RefreshToken) (string, *models.RefreshToken, time.Time) {
				if _, err := s.RevokeSession(ctx, sess.ID, t0); err != nil {
					t.Fatalf("RevokeSession() error = %v", err)
				}
				return tok.ID, nextToken(tok, "n1"), t0.Add(time.Minute)
			}},
			{"session expired", func(t *testing.T, sess *models.Session, tok *models.RefreshToken) (string, *models.RefreshToken, time.Time) {
				return tok.ID, nextToken(tok, "n2"), sess.ExpiresAt
			}},
			{"token expired", func(t *testing.T, sess *models.Session, tok *models.RefreshToken) (string, *models.RefreshToken, time.Time) {
				if err := s.Rotate(ctx, tok.ID, &models.RefreshToken{TokenHash: hashOf("short"), UserID: tok.UserID,
					SessionID: tok.SessionID, ExpiresAt: t0.Add(time.Hour)}, t0, "", ""); err != nil {
					t.Fatalf("Rotate() error = %v", err)
				}
				short, _, _, err := s.RefreshTokenByHash(ctx, hashOf("short"))
				if err != nil {
					t.Fatalf("RefreshTokenByHash() error = %v", err)
				}
				return short.ID, nextToken(short, "n3"), t0.Add(time.Hour)
			}},
			{"unknown token", func(t *testing.T, sess *models.Session, tok *models.RefreshToken) (string, *models.RefreshToken, time.Time) {
				return "missing", nextToken(tok, "n4"), t0
			}},
			{"token of another session", func(t *testing.T, sess *models.Session, tok *models.RefreshToken) (string, *models.RefreshToken, time.Time) {
				return bobTok.ID, nextToken(tok, "n5"), t0
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sess, tok, _ := mustSession(t, s, alice, t0.Add(threeDays))
				oldID, next, now := tt.setup(t, sess, tok)
				if err := s.Rotate(ctx, oldID, next, now, "", ""); !errors.Is(err, store.ErrConflict) {
					t.Fatalf("Rotate() error = %v, want ErrConflict", err)
				}
				if _, _, _, err := s.RefreshTokenByHash(ctx, next.TokenHash); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("a refused Rotate() inserted its token: RefreshTokenByHash() error = %v", err)
				}
			})
		}
		// Bob's token was untouched by the attempt on it.
		got, _, _, err := s.RefreshTokenByHash(ctx, bobTok.TokenHash)
		if err != nil || got.UsedAt != nil {
			t.Errorf("bob's token = %+v, %v; want unused", got, err)
		}
	})
}

func TestRotateConcurrently(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		_, tok, _ := mustSession(t, s, u, t0.Add(threeDays))
		rotateRace(t, []*store.Store{s}, tok)
	})
}

func TestRotateConcurrentlyTwoStores(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			// Two server processes sharing one database.
			dsn, first := storetest.OpenDSN(t, kind)
			second, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatalf("Open() second store error = %v", err)
			}
			t.Cleanup(func() { _ = second.Close() })
			u := mustUser(t, first, "alice")
			_, tok, _ := mustSession(t, first, u, t0.Add(threeDays))
			rotateRace(t, []*store.Store{first, second}, tok)
		})
	}
}

func TestRotateConcurrentlySharedCacheDSN(t *testing.T) {
	// The shared-cache form other code may write: Open serves it through
	// the memdb VFS, whose locks wait instead of failing.
	ctx := context.Background()
	dsn := "file:" + strings.ReplaceAll(t.Name(), "/", "_") + "?mode=memory&cache=shared"
	stores := make([]*store.Store, 2)
	for i := range stores {
		s, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("Open(%q) error = %v", dsn, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() error = %v", err)
		}
		stores[i] = s
	}
	u := mustUser(t, stores[0], "alice")
	if _, err := stores[1].UserByID(ctx, u.ID); err != nil {
		t.Fatalf("second store UserByID() error = %v, want the shared database", err)
	}
	_, tok, _ := mustSession(t, stores[0], u, t0.Add(threeDays))
	rotateRace(t, stores, tok)
}

func TestRotateRevokeRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		for i := range 10 {
			sess, tok, _ := mustSession(t, s, u, t0.Add(threeDays))
			var rotateErr, revokeErr error
			var wg sync.WaitGroup
			wg.Go(func() {
				rotateErr = s.Rotate(ctx, tok.ID, nextToken(tok, fmt.Sprintf("race-%d", i)), t0, "", "")
			})
			wg.Go(func() { _, revokeErr = s.RevokeSession(ctx, sess.ID, t0) })
			wg.Wait()
			if rotateErr != nil && !errors.Is(rotateErr, store.ErrConflict) {
				t.Errorf("Rotate() racing RevokeSession() error = %v, want nil or ErrConflict", rotateErr)
			}
			if revokeErr != nil {
				t.Errorf("RevokeSession() racing Rotate() error = %v", revokeErr)
			}
			// Whoever won, no token of the session is left unrevoked.
			var live int64
			if err := s.DB().Model(&models.RefreshToken{}).Where("session_id = ? AND revoked_at IS NULL", sess.ID).
				Count(&live).Error; err != nil {
				t.Fatalf("count tokens: %v", err)
			}
			if live != 0 {
				t.Errorf("round %d: %d unrevoked tokens in a revoked session (rotate error %v)", i, live, rotateErr)
			}
		}
	})
}

// rotateRace rotates tok from 20 goroutines spread over stores and checks
// that exactly one wins and the others get ErrConflict.
func rotateRace(t *testing.T, stores []*store.Store, tok *models.RefreshToken) {
	t.Helper()
	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			s := stores[i%len(stores)]
			errs[i] = s.Rotate(context.Background(), tok.ID, nextToken(tok, fmt.Sprintf("racer-%d", i)), t0.Add(time.Minute), "", "")
		})
	}
	close(start)
	wg.Wait()

	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("Rotate() #%d error = %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent Rotate() calls succeeded, want exactly 1", wins, n)
	}
	var count int64
	if err := stores[0].DB().Model(&models.RefreshToken{}).Where("session_id = ?", tok.SessionID).Count(&count).Error; err != nil {
		t.Fatalf("count tokens: %v", err)
	}
	if count != 2 {
		t.Errorf("session holds %d tokens after the race, want 2", count)
	}
}
