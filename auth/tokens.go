package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/models"
)

// Errors of bearer authentication. VerifyAccess returns ErrTokenExpired and
// ErrInvalidToken; Authenticate also reports ErrMissingToken (no header),
// ErrUserInactive, ErrSessionRevoked and, for personal access tokens,
// ErrPersonalTokenRevoked. They are shared values: callers compare them with
// errors.Is and must not modify them.
var (
	// ErrMissingToken means the request carried no access token.
	ErrMissingToken = models.Unauthenticated(models.ReasonMissingToken, "authentication required")
	// ErrTokenExpired means a genuine access token whose only fault is its age.
	ErrTokenExpired = models.Unauthenticated(models.ReasonTokenExpired, "access token expired")
	// ErrInvalidToken means a token that is malformed, forged, or not an access token.
	ErrInvalidToken = models.Unauthenticated(models.ReasonInvalidToken, "invalid access token")
)

const (
	// DefaultIssuer is the iss claim used when TokenConfig.Issuer is empty.
	DefaultIssuer = "ironclad"
	// MaxLeeway bounds TokenConfig.Leeway: more skew than this would quietly
	// extend the life of every stolen access token.
	MaxLeeway = 30 * time.Second
	// MaxAccessTokenLen is the longest token VerifyAccess will parse: far
	// above a real token, it keeps garbage headers from costing base64 and
	// JSON work on every request.
	MaxAccessTokenLen = 4096

	tokenTypeAccess = "access"
)

// TokenConfig configures access tokens.
type TokenConfig struct {
	Secret    []byte        // HMAC key
	Algorithm string        // "HS256" (default when empty), "HS384" or "HS512"
	Issuer    string        // iss, checked on verify; default "ironclad"
	AccessTTL time.Duration // lifetime of access tokens, > 0
	Leeway    time.Duration // clock skew allowance, 0..30s
	// CacheSize bounds the cache of verified access tokens (see
	// token_cache.go): 0 means DefaultTokenCacheSize, negative turns it off.
	CacheSize int
}

// AccessClaims are the claims of an access token: iss, sub (user id), iat,
// nbf, exp, jti, token_type "access", sid.
type AccessClaims struct {
	jwt.RegisteredClaims
	TokenType string `json:"token_type"`
	SessionID string `json:"sid"`
}

// Tokens issues and verifies access tokens. It is immutable after
// construction and safe for concurrent use.
type Tokens struct {
	method jwt.SigningMethod
	secret []byte
	key    any // secret boxed once, so the key func does not allocate per call
	issuer string
	ttl    time.Duration
	leeway time.Duration
	now    func() time.Time
	parser *jwt.Parser
	cache  *tokenCache // nil when off
}

// NewTokens validates cfg and returns a Tokens. A nil now means time.Now.
func NewTokens(cfg TokenConfig, now func() time.Time) (*Tokens, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("token config: secret is empty")
	}
	alg := cfg.Algorithm
	if alg == "" {
		alg = jwt.SigningMethodHS256.Alg()
	}
	// Only HMAC algorithms: the secret is symmetric, and an allow-list rules
	// out "none" and RSA/HMAC key-confusion attacks.
	var method jwt.SigningMethod
	switch alg {
	case "HS256":
		method = jwt.SigningMethodHS256
	case "HS384":
		method = jwt.SigningMethodHS384
	case "HS512":
		method = jwt.SigningMethodHS512
	default:
		return nil, fmt.Errorf("token config: unsupported algorithm %q (want HS256, HS384 or HS512)", cfg.Algorithm)
	}
	if cfg.AccessTTL <= 0 {
		return nil, fmt.Errorf("token config: access token lifetime %v must be positive", cfg.AccessTTL)
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("token config: leeway %v must be between 0 and %v", cfg.Leeway, MaxLeeway)
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if now == nil {
		now = time.Now
	}
	secret := bytes.Clone(cfg.Secret) // the caller may reuse its slice
	t := &Tokens{
		method: method,
		secret: secret,
		key:    secret,
		issuer: issuer,
		ttl:    cfg.AccessTTL,
		leeway: cfg.Leeway,
		now:    now,
	}
	switch {
	case cfg.CacheSize == 0:
		t.cache = newTokenCache(DefaultTokenCacheSize)
	case cfg.CacheSize > 0:
		t.cache = newTokenCache(cfg.CacheSize)
	}
	// One parser for the life of the service: building it per request would
	// allocate the validator and option closures on every call.
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(), // no malleable base64 (non-zero trailing bits)
	)
	return t, nil
}

// AccessTTL returns the lifetime of the access tokens t issues.
func (t *Tokens) AccessTTL() time.Duration { return t.ttl }

// IssueAccess signs an access token for userID in session sessionID and
// returns it with its claims.
func (t *Tokens) IssueAccess(userID, sessionID string) (string, *AccessClaims, error) {
	if userID == "" || sessionID == "" {
		return "", nil, errors.New("issue access token: empty user or session id")
	}
	jti, err := randomString(16) // 128 bits: unique without coordination
	if err != nil {
		return "", nil, fmt.Errorf("issue access token: %w", err)
	}
	now := t.now()
	claims := &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        jti,
		},
		TokenType: tokenTypeAccess,
		SessionID: sessionID,
	}
	s, err := jwt.NewWithClaims(t.method, claims).SignedString(t.secret)
	if err != nil {
		return "", nil, fmt.Errorf("issue access token: %w", err)
	}
	return s, claims, nil
}

// VerifyAccess checks token's signature, algorithm, issuer and lifetime and
// returns its claims. Every failure is ErrInvalidToken, except a genuine
// access token whose only fault is expiry, which is ErrTokenExpired so that
// clients know to refresh.
func (t *Tokens) VerifyAccess(token string) (*AccessClaims, error) {
	claims, err := t.inspectAccess(token)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// inspectAccess is VerifyAccess that also returns the (authentic) claims of
// an access token whose only fault is expiry, alongside ErrTokenExpired.
func (t *Tokens) inspectAccess(token string) (*AccessClaims, error) {
	if len(token) > MaxAccessTokenLen {
		return nil, ErrInvalidToken
	}
	claims := new(AccessClaims)
	_, err := t.parser.ParseWithClaims(token, claims, t.keyFunc)
	if err != nil && !onlyExpired(err) {
		// Malformed, bad signature, wrong alg, wrong issuer, missing exp,
		// nbf/iat in the future: all forgery or garbage, whatever else is wrong.
		return nil, ErrInvalidToken
	}
	// jwt only reports expiry once the signature has verified, so the claims
	// are authentic here even when err is set. A refresh or foreign token must
	// still not pass as an expired access token.
	if claims.TokenType != tokenTypeAccess || claims.Subject == "" || claims.SessionID == "" {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return claims, ErrTokenExpired
	}
	return claims, nil
}

// keyFunc returns the HMAC key. The parser's method allow-list has already
// run; checking the method again costs a comparison and guards against a
// future change of parser options.
func (t *Tokens) keyFunc(tok *jwt.Token) (any, error) {
	if tok.Method != t.method {
		return nil, jwt.ErrTokenSignatureInvalid
	}
	return t.key, nil
}

// onlyExpired reports whether every leaf of err's tree is jwt.ErrTokenExpired
// (jwt joins claim errors and wraps them in jwt.ErrTokenInvalidClaims). Any
// other leaf, including an unknown one, means the token is invalid.
func onlyExpired(err error) bool {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		if len(errs) == 0 {
			return false
		}
		for _, c := range errs {
			if c != jwt.ErrTokenInvalidClaims && !onlyExpired(c) {
				return false
			}
		}
		// A bare ErrTokenInvalidClaims with no expiry beside it is not expiry.
		return errors.Is(err, jwt.ErrTokenExpired)
	case interface{ Unwrap() error }:
		return onlyExpired(e.Unwrap())
	default:
		return err == jwt.ErrTokenExpired
	}
}

// NewRefreshToken returns a new opaque refresh token and the hash to store.
// plain is 256 bits from crypto/rand, base64url without padding (43
// characters); it has no dots, so it can never parse as a JWT.
func NewRefreshToken() (plain, hash string, err error) {
	plain, err = randomString(32)
	if err != nil {
		return "", "", fmt.Errorf("new refresh token: %w", err)
	}
	return plain, hashOpaqueToken(plain), nil
}

// hashOpaqueToken returns the hex SHA-256 of plain, the form refresh tokens
// are stored and looked up in. A fast unsalted hash is enough: the input has
// 256 bits of entropy, so it cannot be brute-forced, and lookups must be exact.
func hashOpaqueToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// randomString returns n random bytes from crypto/rand as base64url without padding.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
