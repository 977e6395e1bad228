package auth

import (
	"context"
	"math/rand/v2"
	"time"
)

// Purge deletes expired, used and revoked refresh tokens and ended sessions,
// and mail sent or given up, and spent mail tokens, older than MAIL_MAX_AGE.
// Used tokens are kept until they would have expired, so reuse of a stolen
// token is still detected; the deletes are idempotent, so replicas may run
// Purge concurrently.
//
// It also deletes the audit events older than AuditRetention (none when it
// is 0).
func (s *Service) Purge(ctx context.Context) (int64, error) {
	now := s.opts.Now().UTC()
	n, err := s.store.Purge(ctx, now, s.opts.RefreshTTL)
	if err != nil {
		return n, err
	}
	m, err := s.store.PurgeMail(ctx, now, s.mailKeep())
	n += m
	if err != nil || s.opts.AuditRetention <= 0 {
		return n, err
	}
	m, err = s.store.PurgeAudit(ctx, now.Add(-s.opts.AuditRetention))
	return n + m, err
}

// mailKeep is how long sent mail and spent mail tokens are kept.
func (s *Service) mailKeep() time.Duration {
	if s.opts.MailMaxAge > 0 {
		return s.opts.MailMaxAge
	}
	return time.Hour
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
			s.log.InfoContext(ctx, "purged expired tokens, sessions and audit events", "rows", n)
		}
	}
}

// CountPurgeable counts what Purge would delete now, deleting nothing.
func (s *Service) CountPurgeable(ctx context.Context) (int64, error) {
	now := s.opts.Now().UTC()
	n, err := s.store.CountPurgeable(ctx, now, s.opts.RefreshTTL)
	if err != nil {
		return n, err
	}
	m, err := s.store.CountPurgeableMail(ctx, now, s.mailKeep())
	n += m
	if err != nil || s.opts.AuditRetention <= 0 {
		return n, err
	}
	m, err = s.store.CountAuditBefore(ctx, now.Add(-s.opts.AuditRetention))
	return n + m, err
}
