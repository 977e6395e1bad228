package auth

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// The flows that check a password: login, and the change of a password.
// Both count failures against the same limits.

// Login checks a username and password and starts a new session for the
// client of ctx.
func (s *Service) Login(ctx context.Context, username, password string) (*Grant, error) {
	c := ClientFrom(ctx)
	if username == "" || password == "" {
		return nil, models.BadInput("username and password are required")
	}
	if utf8.RuneCountInString(username) > MaxUsernameLen {
		return nil, models.BadField("username", fmt.Sprintf("username must be at most %d characters", MaxUsernameLen))
	}
	if len(password) > MaxPasswordLen {
		return nil, models.BadField("password", fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen))
	}
	// Counted before any hashing: over the limit costs no argon2 work, and
	// parallel guesses cannot all pass a check made before any was counted.
	att, err := s.limiter.begin(ctx, username, c.IP)
	if err != nil {
		s.rateLimited(ctx, att, "", c)
		return nil, err
	}
	defer att.abandon(ctx) // no-op once settled; gives the count back if no password was checked

	u, err := s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		// Same work as a wrong password, in a format drawn from the stored
		// mix: no user enumeration by timing (hash_mix.go).
		s.maybeRefreshHashMix()
		if err := s.hasher.VerifyDummyFor(ctx, password, s.dummyPick(username)); err != nil {
			return nil, err
		}
		att.failed()
		s.log.InfoContext(ctx, "login failed", "event", "login_failed", "ip", c.IP, "user_agent", c.UserAgent)
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("login: verify password: %w", err)
	}
	if !ok || !u.Active {
		att.failed()
		// An inactive account answers like a wrong password, after the same work.
		s.log.InfoContext(ctx, "login failed", "event", "login_failed", "user_id", u.ID, "ip", c.IP, "user_agent", c.UserAgent)
		return nil, ErrInvalidCredentials
	}

	att.succeeded(ctx)

	newHash := ""
	if rehash {
		// Parameters changed since this hash was made, or it was imported
		// from another system: upgrade it to argon2id now that we know the
		// password.
		if newHash, err = s.hasher.Hash(ctx, password); err != nil {
			return nil, fmt.Errorf("login: rehash: %w", err)
		}
	}
	now := s.opts.Now().UTC()
	sess, tok, plain, err := s.newSession(u, c, now)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	// The login record and the new session commit together: one
	// transaction per login.
	if err := s.store.StartLoginSession(ctx, sess, tok, now, newHash); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	u.LastLoginAt = &now
	g, err := s.grant(u, sess.ID, plain, tok.ExpiresAt, now)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	s.log.InfoContext(ctx, "login succeeded", "event", "login_succeeded", "user_id", u.ID, "session_id", g.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return g, nil
}

// ChangePassword checks the viewer's current password, applies the rules of
// account creation to the new one, stores its hash, ends every other session
// of the user and returns a fresh token pair for the current session. The
// current session survives (its access tokens keep working); its previous
// refresh tokens do not. Wrong current passwords count against the same
// per-username and per-IP limits as logins.
func (s *Service) ChangePassword(ctx context.Context, current, newPassword string) (*Grant, error) {
	v, c := ViewerFrom(ctx), ClientFrom(ctx)
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
