package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Input limits checked before any hashing, so oversized input costs nothing.
const (
	MaxUsernameLen = 150  // characters
	MaxPasswordLen = 1024 // bytes
	maxRefreshLen  = 256  // bytes; real refresh tokens are 43
)

// Errors of the login and refresh flows.
var (
	ErrInvalidCredentials = models.Unauthenticated(models.ReasonInvalidCredentials, "invalid username or password")
	ErrUserInactive       = models.Unauthenticated(models.ReasonUserInactive, "the account is inactive or no longer exists")
	ErrSessionRevoked     = models.Unauthenticated(models.ReasonSessionRevoked, "the session has ended")
	ErrRefreshInvalid     = models.Unauthenticated(models.ReasonRefreshInvalid, "invalid refresh token")
	ErrRefreshExpired     = models.Unauthenticated(models.ReasonRefreshExpired, "refresh token expired")
	ErrRefreshReused      = models.Unauthenticated(models.ReasonRefreshReused, "refresh token already used; the session has been ended")
)

// Options are the lifetimes and knobs of a Service.
type Options struct {
	RefreshTTL    time.Duration // idle lifetime of a refresh token
	SessionMaxAge time.Duration // absolute lifetime of a session
	Now           func() time.Time
	// SignupEnabled opens the register mutation.
	SignupEnabled bool
	// MinPasswordLen is the shortest new password; 0 means DefaultMinPassLen.
	MinPasswordLen int
	// ReuseGrace lets the immediately previous refresh token, presented
	// again within this long of its rotation, receive the same successor
	// instead of ending the session (REFRESH_REUSE_GRACE; 0 turns it off).
	ReuseGrace time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Limiter counts failed logins; nil means in memory with the defaults.
	Limiter *LoginLimiter
}

// Service runs Ironclad's authentication flows.
type Service struct {
	store   *store.Store
	tokens  *Tokens
	hasher  *Hasher
	log     *slog.Logger
	opts    Options
	limiter *LoginLimiter
	sealer  *sealer // seals successors kept for the reuse grace window
}

// NewService returns a Service. opts.Now defaults to time.Now.
func NewService(st *store.Store, tokens *Tokens, hasher *Hasher, opts Options, log *slog.Logger) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinPasswordLen <= 0 {
		opts.MinPasswordLen = DefaultMinPassLen
	}
	log = log.With("component", "auth")
	// tokens holds a non-empty secret (NewTokens checks), so neither can fail.
	sl, err := newSealer(tokens.secret)
	if err != nil {
		panic("auth.NewService: " + err.Error())
	}
	lim := opts.Limiter
	if lim == nil {
		if lim, err = NewLoginLimiter(LimiterConfig{Secret: tokens.secret, Now: opts.Now}, log); err != nil {
			panic("auth.NewService: " + err.Error())
		}
	}
	return &Service{store: st, tokens: tokens, hasher: hasher, log: log, opts: opts, limiter: lim, sealer: sl}
}

// Grant is the outcome of a successful login or refresh.
type Grant struct {
	AccessToken  string
	RefreshToken string
	AccessTTL    time.Duration
	RefreshTTL   time.Duration // time left until the new refresh token expires
	User         *models.User
	SessionID    string
}

// Login checks a username and password and starts a new session.
func (s *Service) Login(ctx context.Context, username, password string, c Client) (*Grant, error) {
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
		// Same argon2id work as a wrong password: no user enumeration by timing.
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
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
		// Parameters changed since this hash was made: upgrade it now that we
		// know the password.
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

func (s *Service) grant(u *models.User, sessionID, refresh string, refreshExp, now time.Time) (*Grant, error) {
	access, _, err := s.tokens.IssueAccess(u.ID, sessionID)
	if err != nil {
		return nil, fmt.Errorf("issue access token: %w", err)
	}
	return &Grant{
		AccessToken:  access,
		RefreshToken: refresh,
		AccessTTL:    s.tokens.AccessTTL(),
		RefreshTTL:   refreshExp.Sub(now),
		User:         u,
		SessionID:    sessionID,
	}, nil
}

// Refresh rotates a refresh token: it returns a new pair and marks the
// presented token used. A used token presented again ends its session.
func (s *Service) Refresh(ctx context.Context, refresh string, c Client) (*Grant, error) {
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
	g, err := s.grant(u, sess.ID, plain, next.ExpiresAt, now)
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
	if _, err := s.store.RevokeSession(ctx, tok.SessionID, s.opts.Now().UTC()); err != nil {
		return fmt.Errorf("refresh: revoke reused session: %w", err)
	}
	s.log.WarnContext(ctx, "refresh token reused; session revoked", "event", "refresh_token_reused", "user_id", tok.UserID, "session_id", tok.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return ErrRefreshReused
}

// Authenticate verifies an Authorization header value and loads its user and
// session in one query. It never returns an error: the outcome is the Viewer.
func (s *Service) Authenticate(ctx context.Context, header string) Viewer {
	if header == "" {
		return Viewer{Err: ErrMissingToken}
	}
	token, ok := bearerToken(header)
	if !ok {
		return Viewer{Err: ErrInvalidToken}
	}
	if strings.HasPrefix(token, PersonalTokenPrefix) {
		return s.authenticatePersonalToken(ctx, token)
	}
	userID, sessionID, err := s.tokens.verifyCached(token)
	if err != nil {
		return Viewer{Err: err}
	}
	u, live, err := s.store.Identity(ctx, userID, sessionID, s.opts.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Viewer{Err: ErrUserInactive}
	case err != nil:
		return Viewer{Err: fmt.Errorf("authenticate: %w", err)}
	case !u.Active:
		return Viewer{Err: ErrUserInactive}
	case !live:
		return Viewer{Err: ErrSessionRevoked}
	}
	return Viewer{User: u, SessionID: sessionID, Scopes: models.RoleScopes(u.Role)}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
