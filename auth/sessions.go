package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// SessionInfo is one live session as its user sees it.
type SessionInfo struct {
	ID         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // when it ends unless refreshed first (never after its absolute end)
	UserAgent  string    // seen at login or the last refresh
	IP         string    // seen at login or the last refresh
	Current    bool      // the session of the requesting access token
}

// Sessions lists the viewer's live sessions, most recently used first.
func (s *Service) Sessions(ctx context.Context) ([]SessionInfo, error) {
	v := ViewerFrom(ctx)
	if v.User == nil {
		return nil, v.Err
	}
	live, err := s.store.UserSessions(ctx, v.User.ID, s.opts.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	out := make([]SessionInfo, len(live))
	for i, l := range live {
		out[i] = SessionInfo{
			ID:         l.ID,
			CreatedAt:  l.CreatedAt,
			LastUsedAt: l.LastUsedAt,
			ExpiresAt:  minTime(l.RefreshExpiresAt, l.ExpiresAt),
			UserAgent:  l.UserAgent,
			IP:         l.IP,
			Current:    l.ID == v.SessionID,
		}
	}
	return out, nil
}

// Logout ends the session of a refresh token — any token of the session,
// current or already rotated. It is idempotent and reveals nothing: an
// unknown, malformed or already ended token is not an error.
func (s *Service) Logout(ctx context.Context, refresh string) error {
	c := ClientFrom(ctx)
	if refresh == "" || len(refresh) > maxRefreshLen {
		return nil
	}
	tok, _, _, err := s.store.RefreshTokenByHash(ctx, hashOpaqueToken(refresh))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	ev := s.audit.event(ctx, models.AuditLoggedOut, tok.UserID, tok.SessionID, nil)
	ended, err := s.store.RevokeSession(with(ctx, ev), tok.SessionID, s.opts.Now().UTC())
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if ended {
		s.obs.SessionsEnded(EndLogout, 1)
		s.log.InfoContext(ctx, "logged out", "event", "logout", "user_id", tok.UserID, "session_id", tok.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	}
	return nil
}

// LogoutAll ends every session of the viewer, the current one included, and
// returns how many live sessions it ended.
func (s *Service) LogoutAll(ctx context.Context) (int, error) {
	v, c := ViewerFrom(ctx), ClientFrom(ctx)
	if v.User == nil {
		return 0, v.Err
	}
	ev := s.audit.event(ctx, models.AuditLoggedOutAll, v.User.ID, v.SessionID, nil)
	n, err := s.store.RevokeUserSessions(with(ctx, ev), v.User.ID, "", s.opts.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("logout all: %w", err)
	}
	if n > 0 {
		s.obs.SessionsEnded(EndLogoutAll, int(n))
	}
	s.log.InfoContext(ctx, "logged out everywhere", "event", "logout_all", "sessions_ended", n,
		"user_id", v.User.ID, "session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return int(n), nil
}

// RevokeSession ends one of the viewer's sessions. It reports whether a live
// session ended; an unknown id, an ended session and another user's session
// all answer false, so ids of other users' sessions cannot be probed.
func (s *Service) RevokeSession(ctx context.Context, sessionID string) (bool, error) {
	v, c := ViewerFrom(ctx), ClientFrom(ctx)
	if v.User == nil {
		return false, v.Err
	}
	if sessionID == "" || len(sessionID) > 64 {
		return false, nil
	}
	ev := s.audit.event(ctx, models.AuditSessionRevoked, v.User.ID, sessionID, map[string]any{"by_session_id": v.SessionID})
	ended, err := s.store.RevokeUserSession(with(ctx, ev), v.User.ID, sessionID, s.opts.Now().UTC())
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	if ended {
		s.obs.SessionsEnded(EndRevoked, 1)
		s.log.InfoContext(ctx, "session revoked", "event", "session_revoked", "user_id", v.User.ID, "session_id", sessionID,
			"by_session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	}
	return ended, nil
}

// startSession creates a session for u and returns its first token pair.
func (s *Service) startSession(ctx context.Context, u *models.User, c Client, now time.Time) (*Grant, error) {
	sess, tok, plain, err := s.newSession(u, c, now)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateSession(ctx, sess, tok); err != nil {
		return nil, err
	}
	return s.grant(u, sess.ID, plain, tok.ExpiresAt, now)
}

// newSession returns, unsaved, a session for u starting at now, its first
// refresh token and that token's plain value.
func (s *Service) newSession(u *models.User, c Client, now time.Time) (*models.Session, *models.RefreshToken, string, error) {
	plain, hash, err := NewRefreshToken()
	if err != nil {
		return nil, nil, "", err
	}
	sess := &models.Session{
		UserID:     u.ID,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(s.opts.SessionMaxAge),
		UserAgent:  c.UserAgent,
		IP:         c.IP,
	}
	tok := &models.RefreshToken{
		TokenHash: hash,
		UserID:    u.ID,
		CreatedAt: now,
		ExpiresAt: minTime(now.Add(s.opts.RefreshTTL), sess.ExpiresAt),
	}
	return sess, tok, plain, nil
}
