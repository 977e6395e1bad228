package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Refresh rotates a refresh token: it returns a new pair and marks the
// presented token used. A used token presented again ends its session.
func (s *Service) Refresh(ctx context.Context, refresh string) (g *Grant, err error) {
	defer func() { s.obs.Refresh(refreshOutcome(g, err)) }()
	c := ClientFrom(ctx)
	if refresh == "" || len(refresh) > maxRefreshLen {
		return nil, ErrRefreshInvalid
	}
	tok, sess, u, err := s.store.RefreshTokenByHash(ctx, hashOpaqueToken(refresh))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrRefreshInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	now := s.opts.Now().UTC()
	if g, err := s.replay(ctx, tok, sess, u, now, c); g != nil || err != nil {
		return g, err
	}
	if err := s.checkRefresh(ctx, tok, sess, u, now, c); err != nil {
		return nil, err
	}

	plain, hash, err := NewRefreshToken()
	if err != nil {
		return nil, err
	}
	next := &models.RefreshToken{
		TokenHash: hash,
		UserID:    u.ID,
		SessionID: sess.ID,
		CreatedAt: now,
		// Idle lifetime from now, but never past the session's absolute end:
		// rotation cannot keep a stolen chain alive forever.
		ExpiresAt: minTime(now.Add(s.opts.RefreshTTL), sess.ExpiresAt),
	}
	err = s.rotate(ctx, tok.ID, next, plain, now, c)
	if errors.Is(err, store.ErrConflict) {
		// Another request rotated (or revoked) this token between our read
		// and our conditional update: it is now a used token presented
		// again, unless the winner kept its successor for us.
		if g, err := s.replayAfterConflict(ctx, refresh, now, c); g != nil || err != nil {
			return g, err
		}
		return nil, s.reused(ctx, tok, c)
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	g, err = s.grant(u, sess.ID, plain, next.ExpiresAt, now)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "token refreshed", "event", "token_refreshed", "user_id", u.ID, "session_id", sess.ID, "ip", c.IP, "user_agent", c.UserAgent)
	return g, nil
}

// checkRefresh decides whether a stored refresh token may be rotated now.
func (s *Service) checkRefresh(ctx context.Context, tok *models.RefreshToken, sess *models.Session, u *models.User, now time.Time, c Client) error {
	switch {
	case !u.Active:
		// First: deactivation also ends the sessions, and the client should
		// learn why, not just that its token stopped working.
		return ErrUserInactive
	case tok.UsedAt != nil && tok.RevokedAt == nil && sess.RevokedAt == nil:
		return s.reused(ctx, tok, c)
	case tok.UsedAt != nil, tok.RevokedAt != nil, sess.RevokedAt != nil:
		return ErrRefreshInvalid
	case !now.Before(tok.ExpiresAt), !now.Before(sess.ExpiresAt):
		return ErrRefreshExpired
	}
	return nil
}

// reused ends the session of a refresh token that was presented after its
// rotation: either the client or a thief holds a copy, and we cannot tell
// which, so both lose the session.
func (s *Service) reused(ctx context.Context, tok *models.RefreshToken, c Client) error {
	ev := s.audit.event(ctx, models.AuditRefreshReuse, tok.UserID, tok.SessionID, nil)
	ended, err := s.store.RevokeSession(with(ctx, ev), tok.SessionID, s.opts.Now().UTC())
	if err != nil {
		return fmt.Errorf("refresh: revoke reused session: %w", err)
	}
	if ended {
		s.obs.SessionsEnded(EndReused, 1)
	}
	s.log.WarnContext(ctx, "refresh token reused; session revoked", "event", "refresh_token_reused", "user_id", tok.UserID, "session_id", tok.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return ErrRefreshReused
}
