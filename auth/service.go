package auth

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

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

// Service runs Ironclad's credential and session flows: login, refresh,
// logout, the session list, password change, token verification and the
// authentication of a bearer token. Accounts and PersonalTokens are its two
// other concerns, built on the same store, hasher and clock.
//
// Every method that acts for a caller reads who is asking from ctx
// (ViewerFrom) and where from (ClientFrom), as the middleware put them.
type Service struct {
	Accounts       *Accounts
	PersonalTokens *PersonalTokens

	store   *store.Store
	tokens  *Tokens
	hasher  *Hasher
	log     *slog.Logger
	opts    Options
	limiter *LoginLimiter
	sealer  *sealer // seals successors kept for the reuse grace window

	mixAt      atomic.Int64 // when the stored hash formats were last counted (unix ns)
	mixRunning atomic.Bool  // a count is under way
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
	s := &Service{store: st, tokens: tokens, hasher: hasher, log: log, opts: opts, limiter: lim, sealer: sl}
	s.Accounts = &Accounts{s: s}
	s.PersonalTokens = &PersonalTokens{store: st, log: log, now: opts.Now}
	return s
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

func (s *Service) grant(u *models.User, sessionID, refresh string, refreshExp, now time.Time) (*Grant, error) {
	access, _, err := s.tokens.IssueAccess(u.ID, sessionID, u.Role)
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

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
