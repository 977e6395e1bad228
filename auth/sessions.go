package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
func (s *Service) Sessions(ctx context.Context, v Viewer) ([]SessionInfo, error) {
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
func (s *Service) Logout(ctx context.Context, refresh string, c Client) error {
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
	ended, err := s.store.RevokeSession(ctx, tok.SessionID, s.opts.Now().UTC())
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if ended {
		s.log.InfoContext(ctx, "logged out", "event", "logout", "user_id", tok.UserID, "session_id", tok.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	}
	return nil
}

// LogoutAll ends every session of the viewer, the current one included, and
// returns how many live sessions it ended.
func (s *Service) LogoutAll(ctx context.Context, v Viewer, c Client) (int, error) {
	if v.User == nil {
		return 0, v.Err
	}
	n, err := s.store.RevokeUserSessions(ctx, v.User.ID, "", s.opts.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("logout all: %w", err)
	}
	s.log.InfoContext(ctx, "logged out everywhere", "event", "logout_all", "sessions_ended", n,
		"user_id", v.User.ID, "session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return int(n), nil
}

// RevokeSession ends one of the viewer's sessions. It reports whether a live
// session ended; an unknown id, an ended session and another user's session
// all answer false, so ids of other users' sessions cannot be probed.
func (s *Service) RevokeSession(ctx context.Context, v Viewer, sessionID string, c Client) (bool, error) {
	if v.User == nil {
		return false, v.Err
	}
	if sessionID == "" || len(sessionID) > 64 {
		return false, nil
	}
	ended, err := s.store.RevokeUserSession(ctx, v.User.ID, sessionID, s.opts.Now().UTC())
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	if ended {
		s.log.InfoContext(ctx, "session revoked", "event", "session_revoked", "user_id", v.User.ID, "session_id", sessionID,
			"by_session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	}
	return ended, nil
}

// ChangePassword checks the viewer's current password, applies the rules of
// account creation to the new one, stores its hash, ends every other session
// of the user and returns a fresh token pair for the current session. The
// current session survives (its access tokens keep working); its previous
// refresh tokens do not. Wrong current passwords count against the same
// per-username and per-IP limits as logins.
func (s *Service) ChangePassword(ctx context.Context, v Viewer, current, newPassword string, c Client) (*Grant, error) {
	if v.User == nil {
		return nil, v.Err
	}
	switch {
	case current == "":
		return nil, models.BadField("currentPassword", "current password is required")
	case len(current) > MaxPasswordLen:
		return nil, models.BadField("currentPassword", fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen))
	}
	// The same rules as account creation, reported on the newPassword field.
	if perr := ValidatePassword(newPassword, v.User.Username, s.opts.MinPasswordLen); perr != nil {
		e := *perr
		e.Field = "newPassword"
		return nil, &e
	}
	u := *v.User
	att, err := s.limiter.begin(ctx, u.Username, c.IP)
	if err != nil {
		s.rateLimited(ctx, att, u.ID, c)
		return nil, err
	}
	defer att.abandon(ctx)
	ok, _, err := s.hasher.Verify(ctx, current, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("change password: verify: %w", err)
	}
	if !ok {
		att.failed()
		s.log.InfoContext(ctx, "password change refused: wrong current password", "event", "password_change_failed",
			"user_id", u.ID, "session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
		return nil, ErrInvalidCredentials
	}
	att.succeeded(ctx)

	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	plain, th, err := NewRefreshToken()
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	next := &models.RefreshToken{TokenHash: th, CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL)}
	n, err := s.store.ChangePassword(ctx, u.ID, v.SessionID, hash, next, now)
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrSessionRevoked // the session ended while we hashed
	}
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	u.PasswordHash = hash
	s.log.InfoContext(ctx, "password changed", "event", "password_changed", "other_sessions_ended", n,
		"user_id", u.ID, "session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return s.grant(&u, v.SessionID, plain, next.ExpiresAt, now)
}

// rateLimited logs an attempt the limiter refused.
func (s *Service) rateLimited(ctx context.Context, att *attempt, userID string, c Client) {
	if att == nil {
		return // the limiter failed; the error is logged where it is mapped
	}
	attrs := []any{"event", "login_rate_limited", "limit", att.scope, "retry_after", att.retryAfter.String(), "ip", c.IP, "user_agent", c.UserAgent}
	if userID != "" { // a refused login never looks the user up: that would be work
		attrs = append(attrs, "user_id", userID)
	}
	s.log.WarnContext(ctx, "login attempt refused: too many failures", attrs...)
}

// TokenInfo describes a token as verifyToken reports it.
type TokenInfo struct {
	Valid     bool
	Reason    string    // why not valid: a reason of the error table
	TokenType string    // "access" or "refresh"; empty when unrecognised
	Subject   string    // the user id, for authentic tokens
	ExpiresAt time.Time // zero when unknown
}

// VerifyToken says whether an access or refresh token would be accepted now,
// and if not, why. A bad token is never an error; only a failing database is.
// It changes nothing: inspecting a rotated refresh token is not reuse.
func (s *Service) VerifyToken(ctx context.Context, token string) (TokenInfo, error) {
	if strings.Count(token, ".") == 2 {
		return s.verifyAccess(ctx, token)
	}
	if token == "" || len(token) > maxRefreshLen {
		return TokenInfo{Reason: models.ReasonInvalidToken}, nil
	}
	tok, sess, u, err := s.store.RefreshTokenByHash(ctx, hashOpaqueToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return TokenInfo{Reason: models.ReasonInvalidToken}, nil
	}
	if err != nil {
		return TokenInfo{}, fmt.Errorf("verify token: %w", err)
	}
	info := TokenInfo{TokenType: "refresh", Subject: tok.UserID, ExpiresAt: minTime(tok.ExpiresAt, sess.ExpiresAt)}
	now := s.opts.Now().UTC()
	// The same order as refreshing: deactivation also ends the sessions,
	// and user_inactive says why.
	switch {
	case !u.Active:
		info.Reason = models.ReasonUserInactive
	case sess.RevokedAt != nil:
		info.Reason = models.ReasonSessionRevoked
	case tok.UsedAt != nil:
		info.Reason = models.ReasonRefreshReused
	case tok.RevokedAt != nil:
		info.Reason = models.ReasonRefreshInvalid
	case !now.Before(info.ExpiresAt):
		info.Reason = models.ReasonRefreshExpired
	default:
		info.Valid = true
	}
	return info, nil
}

func (s *Service) verifyAccess(ctx context.Context, token string) (TokenInfo, error) {
	claims, err := s.tokens.inspectAccess(token)
	if claims == nil {
		return TokenInfo{Reason: models.ReasonOf(err)}, nil
	}
	info := TokenInfo{TokenType: tokenTypeAccess, Subject: claims.Subject}
	if claims.ExpiresAt != nil {
		info.ExpiresAt = claims.ExpiresAt.UTC()
	}
	if err != nil {
		info.Reason = models.ReasonOf(err) // token_expired
		return info, nil
	}
	u, live, err := s.store.Identity(ctx, claims.Subject, claims.SessionID, s.opts.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		info.Reason = models.ReasonUserInactive
	case err != nil:
		return TokenInfo{}, fmt.Errorf("verify token: %w", err)
	case !u.Active:
		info.Reason = models.ReasonUserInactive
	case !live:
		info.Reason = models.ReasonSessionRevoked
	default:
		info.Valid = true
	}
	return info, nil
}
