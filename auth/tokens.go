package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
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
	MaxLeeway = 60 * time.Second
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
	Leeway    time.Duration // clock skew allowance, 0..MaxLeeway
	// CacheSize bounds the cache of verified access tokens (see
	// token_cache.go): 0 means DefaultTokenCacheSize, negative turns it off.
	CacheSize int
	// Audience, when not empty, is the aud of issued tokens; verification
	// requires a token to name one of them.
	Audience []string
	// ClaimsProfile adds a consumer's own claims to every access token:
	// "" (none) or ClaimsProfileHasura.
	ClaimsProfile string
}

// ClaimsProfileHasura is the TokenConfig.ClaimsProfile that gives every
// access token Hasura's namespace claim (HasuraClaimsKey).
const ClaimsProfileHasura = "hasura"

// HasuraClaimsKey is the claim Hasura reads its session variables from.
const HasuraClaimsKey = "https://hasura.io/jwt/claims"

// HasuraClaims is Hasura's claims object, in the format Hasura documents:
// the roles are lower case; an admin may also act as a user. Deliberately
// small: no email or profile. It reflects the user's role when the token was
// issued, so a role change reaches Hasura within one access-token lifetime.
type HasuraClaims struct {
	AllowedRoles []string `json:"x-hasura-allowed-roles"`
	DefaultRole  string   `json:"x-hasura-default-role"`
	UserID       string   `json:"x-hasura-user-id"`
}

// hasuraClaims returns the Hasura claims of a user with role.
func hasuraClaims(userID string, role models.Role) (*HasuraClaims, error) {
	switch role {
	case models.RoleUser:
		return &HasuraClaims{AllowedRoles: []string{"user"}, DefaultRole: "user", UserID: userID}, nil
	case models.RoleAdmin:
		return &HasuraClaims{AllowedRoles: []string{"user", "admin"}, DefaultRole: "admin", UserID: userID}, nil
	}
	// Fail closed: a token must never claim a role Ironclad does not know.
	return nil, fmt.Errorf("role %q has no Hasura role", role)
}

// AccessClaims are the claims of an access token: iss, sub (user id), iat,
// nbf, exp, jti, token_type "access", sid, and with a claims profile that
// profile's claims. They decode strictly (see UnmarshalJSON).
type AccessClaims struct {
	jwt.RegisteredClaims
	TokenType string `json:"token_type"`
	SessionID string `json:"sid"`
	// Hasura is set on issue with ClaimsProfileHasura. Verification does not
	// decode it (Ironclad reads the role from the user, never the token).
	Hasura *HasuraClaims `json:"https://hasura.io/jwt/claims,omitempty"`
}

// errClaimType is the decoding error of a claim with the wrong JSON type.
// The parser reports it as a malformed token, so VerifyAccess says
// ErrInvalidToken.
var errClaimType = errors.New("claim has the wrong JSON type")

// UnmarshalJSON decodes claims with the types RFC 7519 gives them: exp, nbf
// and iat JSON numbers; iss, sub, jti, sid and token_type strings; aud a
// string or an array of strings. jwt.NumericDate alone also takes a numeric
// string ("1796161772") and jwt.ClaimStrings a null. A claim present with
// another type, null included, fails the decoding; absent claims stay zero.
// It runs on every verification the token cache misses, and before the
// signature is checked, so it must stay cheap on any input.
func (c *AccessClaims) UnmarshalJSON(b []byte) error {
	var w struct {
		Issuer    claimString   `json:"iss"`
		Subject   claimString   `json:"sub"`
		Audience  claimAudience `json:"aud"`
		ExpiresAt claimTime     `json:"exp"`
		NotBefore claimTime     `json:"nbf"`
		IssuedAt  claimTime     `json:"iat"`
		ID        claimString   `json:"jti"`
		TokenType claimString   `json:"token_type"`
		SessionID claimString   `json:"sid"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    string(w.Issuer),
			Subject:   string(w.Subject),
			Audience:  jwt.ClaimStrings(w.Audience),
			ExpiresAt: w.ExpiresAt.date,
			NotBefore: w.NotBefore.date,
			IssuedAt:  w.IssuedAt.date,
			ID:        string(w.ID),
		},
		TokenType: string(w.TokenType),
		SessionID: string(w.SessionID),
	}
	return nil
}

// claimString is a claim that must be a JSON string. encoding/json hands
// UnmarshalJSON a syntactically valid value (also for null), so the first
// byte tells its type.
type claimString string

func (s *claimString) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' {
		return errClaimType
	}
	// Fast path, the form of every claim Ironclad issues: printable ASCII
	// without escapes is its own value.
	if raw := b[1 : len(b)-1]; plainASCII(raw) {
		*s = claimString(raw)
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = claimString(v)
	return nil
}

func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}

// claimTime is a NumericDate claim that must be a JSON number.
type claimTime struct{ date *jwt.NumericDate }

func (t *claimTime) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errClaimType // a string, bool, null, object or array
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errClaimType // beyond float64
	}
	// As jwt.NumericDate decodes it: seconds with a fraction, truncated to
	// jwt.TimePrecision.
	sec, frac := math.Modf(f)
	t.date = jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9)))
	return nil
}

// claimAudience is an aud claim: a JSON string or an array of strings.
type claimAudience []string

func (a *claimAudience) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s claimString
		if err := s.UnmarshalJSON(b); err != nil {
			return err
		}
		*a = claimAudience{string(s)}
		return nil
	case len(b) > 0 && b[0] == '[':
		var ss []claimString // each element strict: no null, number or object
		if err := json.Unmarshal(b, &ss); err != nil {
			return err
		}
		out := make(claimAudience, len(ss))
		for i, s := range ss {
			out[i] = string(s)
		}
		*a = out
		return nil
	}
	return errClaimType
}

// Tokens issues and verifies access tokens. It is safe for concurrent use;
// only its key ring changes after construction, swapped whole (keys.go).
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
	// profile is TokenConfig.ClaimsProfile.
	profile string
	// keys is the key ring (keys.go): the HMAC secret alone until a
	// KeyRing installs asymmetric keys.
	keys atomic.Pointer[keySet]
	// reloadUnknown, set by a KeyRing, rereads the ring when a token names
	// an unknown kid and reports whether it read anything new; bounded in
	// rate, so forged kids cost at most a few reads a second.
	reloadUnknown atomic.Pointer[func() bool]
	audience      []string // aud of issued tokens; verification requires one
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
	switch cfg.ClaimsProfile {
	case "", ClaimsProfileHasura:
	default:
		return nil, fmt.Errorf("token config: unknown claims profile %q (want %q or none)", cfg.ClaimsProfile, ClaimsProfileHasura)
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
		method:  method,
		secret:  secret,
		key:     secret,
		issuer:  issuer,
		ttl:     cfg.AccessTTL,
		leeway:  cfg.Leeway,
		now:     now,
		profile: cfg.ClaimsProfile,
	}
	switch {
	case cfg.CacheSize == 0:
		t.cache = newTokenCache(DefaultTokenCacheSize)
	case cfg.CacheSize > 0:
		t.cache = newTokenCache(cfg.CacheSize)
	}
	// One parser for the life of the service: building it per request would
	// allocate the validator and option closures on every call.
	t.keys.Store(hmacKeySet(method, secret))
	t.audience = append([]string(nil), cfg.Audience...)
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(validMethods(alg)),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(), // no malleable base64 (non-zero trailing bits)
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...)) // any one of them
	}
	t.parser = jwt.NewParser(opts...)
	return t, nil
}

// AccessTTL returns the lifetime of the access tokens t issues.
func (t *Tokens) AccessTTL() time.Duration { return t.ttl }

// IssueAccess signs an access token for userID, whose role is role now, in
// session sessionID and returns it with its claims. Only a claims profile
// puts the role in the token (ClaimsProfileHasura): then an unknown role is
// an error.
func (t *Tokens) IssueAccess(userID, sessionID string, role models.Role) (string, *AccessClaims, error) {
	if userID == "" || sessionID == "" {
		return "", nil, errors.New("issue access token: empty user or session id")
	}
	var hasura *HasuraClaims
	if t.profile == ClaimsProfileHasura {
		var err error
		if hasura, err = hasuraClaims(userID, role); err != nil {
			return "", nil, fmt.Errorf("issue access token: %w", err)
		}
	}
	jti, err := randomString(16) // 128 bits: unique without coordination
	if err != nil {
		return "", nil, fmt.Errorf("issue access token: %w", err)
	}
	now := t.now()
	claims := &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Audience:  t.audience,
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        jti,
		},
		TokenType: tokenTypeAccess,
		SessionID: sessionID,
		Hasura:    hasura,
	}
	s, err := t.sign(claims)
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
	if errors.Is(err, errUnknownKID) {
		if reload := t.reloadUnknown.Load(); reload != nil && (*reload)() {
			claims = new(AccessClaims)
			_, err = t.parser.ParseWithClaims(token, claims, t.keyFunc)
		}
	}
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

// keyFunc returns the key the token's kid names in the current key ring,
// pinned to that key's algorithm (keySet.key): the header's alg never
// chooses the key.
func (t *Tokens) keyFunc(tok *jwt.Token) (any, error) {
	return t.keys.Load().key(tok, t.now())
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
