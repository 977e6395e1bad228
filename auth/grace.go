package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// The reuse grace window (REFRESH_REUSE_GRACE): two tabs refreshing with the
// same token at once should not log the user out. When it is on, a rotation
// keeps the successor refresh token in the rotated token's row — sealed with
// AES-GCM under a key derived from the JWT secret, bound to that row, and only
// until the window ends — so any replica can hand the same successor to a
// second presentation of the token within the window. Only the immediately
// previous token qualifies: once its successor has been rotated in turn, or
// the window has closed, presenting it again is reuse.

// rotate replaces token oldID by next (whose plain value is plain), keeping
// the sealed successor when the grace window is on.
func (s *Service) rotate(ctx context.Context, oldID string, next *models.RefreshToken, plain string, now time.Time, c Client) error {
	if s.opts.ReuseGrace <= 0 {
		return s.store.Rotate(ctx, oldID, next, now, c.UserAgent, c.IP)
	}
	keep := store.Successor{Sealed: s.sealer.seal([]byte(plain), []byte(oldID)), Until: now.Add(s.opts.ReuseGrace)}
	return s.store.RotateKeeping(ctx, oldID, next, now, c.UserAgent, c.IP, keep)
}

// replay answers a used token within the grace window with its kept
// successor and a fresh access token. It returns nil, nil when the token does
// not qualify, leaving the caller to judge it (as reuse, usually).
func (s *Service) replay(ctx context.Context, tok *models.RefreshToken, sess *models.Session, u *models.User, now time.Time, c Client) (*Grant, error) {
	if s.opts.ReuseGrace <= 0 || tok.UsedAt == nil || tok.RevokedAt != nil || sess.RevokedAt != nil {
		return nil, nil
	}
	sealed, err := s.store.KeptSuccessor(ctx, tok.ID, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	plain, err := s.sealer.open(sealed, []byte(tok.ID))
	if err != nil {
		// Sealed under another JWT secret (rotated since), or tampered
		// with: no successor to give, so this is reuse.
		s.log.WarnContext(ctx, "kept refresh successor does not open", "session_id", tok.SessionID, "err", err)
		return nil, nil
	}
	next, nsess, nu, err := s.store.RefreshTokenByHash(ctx, hashOpaqueToken(string(plain)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	// The successor must still be the session's current token: if it was
	// rotated in turn, tok is older than the previous token.
	if next.SessionID != tok.SessionID || next.UsedAt != nil || next.RevokedAt != nil || nsess.RevokedAt != nil ||
		!now.Before(next.ExpiresAt) || !now.Before(nsess.ExpiresAt) {
		return nil, nil
	}
	if !nu.Active {
		return nil, ErrUserInactive
	}
	g, err := s.grant(nu, nsess.ID, string(plain), next.ExpiresAt, now)
	if err != nil {
		return nil, err
	}
	g.grace = true
	s.log.InfoContext(ctx, "token refreshed within the reuse grace window", "event", "token_refreshed", "grace", true,
		"user_id", nu.ID, "session_id", nsess.ID, "ip", c.IP, "user_agent", c.UserAgent)
	return g, nil
}

// replayAfterConflict re-reads a token that lost a rotation race and replays
// it if the winner kept a successor.
func (s *Service) replayAfterConflict(ctx context.Context, refresh string, now time.Time, c Client) (*Grant, error) {
	if s.opts.ReuseGrace <= 0 {
		return nil, nil
	}
	tok, sess, u, err := s.store.RefreshTokenByHash(ctx, hashOpaqueToken(refresh))
	if err != nil {
		return nil, nil // it existed a moment ago; judge it as the caller would
	}
	return s.replay(ctx, tok, sess, u, now, c)
}
