package auth

import (
	"context"
	"math/rand/v2"
	"time"
)

// Purge deletes expired, used and revoked refresh tokens and ended sessions.
// Used tokens are kept until they would have expired, so reuse of a stolen
// token is still detected; the deletes are idempotent, so replicas may run
// Purge concurrently.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	return s.store.Purge(ctx, s.opts.Now().UTC(), s.opts.RefreshTTL)
}

// RunPurger calls Purge every interval (with jitter, so replicas started
// together do not sweep in lockstep) until ctx ends.
func (s *Service) RunPurger(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	for {
		wait := interval/2 + rand.N(interval)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		n, err := s.Purge(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "purge failed", "err", err)
			}
			continue
		}
		if n > 0 {
			s.log.InfoContext(ctx, "purged expired tokens and sessions", "rows", n)
		}
	}
}

// CountPurgeable counts what Purge would delete now, deleting nothing.
func (s *Service) CountPurgeable(ctx context.Context) (int64, error) {
	return s.store.CountPurgeable(ctx, s.opts.Now().UTC(), s.opts.RefreshTTL)
}
