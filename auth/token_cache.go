package auth

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTokenCacheSize is how many verified access tokens a Tokens
// remembers: with tokens of about 350 bytes, a few megabytes at most.
const DefaultTokenCacheSize = 10_000

// verifiedToken is what a successful VerifyAccess established about one
// access token: whose it is, and the instants between which the parser
// would accept it (leeway included).
type verifiedToken struct {
	userID, sessionID string
	from              time.Time // accepted from here (the later of nbf and iat, less leeway)
	until             time.Time // accepted strictly before this (exp plus leeway)
	expires           time.Time // exp plus leeway: the token's own end, whatever its key's window
}

// valid reports whether the parser would still accept the token at now.
func (v verifiedToken) valid(now time.Time) bool {
	return !now.Before(v.from) && now.Before(v.until)
}

// tokenCache maps access tokens that verified to what they proved, so a
// client presenting the same token again skips the signature check and the
// JSON decoding of the claims. Only verified tokens enter, so an attacker
// cannot fill it with tokens of their choosing; its size is bounded, and a
// full cache evicts an arbitrary entry (Go randomises map iteration).
// It caches authenticity only: whether the session is live and the user
// active is still decided per request by the store's identity lookup.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[string]verifiedToken
	max int
	// hits and misses count lookups of verifyCached, for metrics.
	hits, misses atomic.Uint64
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	return &tokenCache{m: make(map[string]verifiedToken, min(size, 1024)), max: size}
}

func (c *tokenCache) get(token string) (verifiedToken, bool) {
	c.mu.RLock()
	v, ok := c.m[token]
	c.mu.RUnlock()
	return v, ok
}

func (c *tokenCache) put(token string, v verifiedToken) {
	token = strings.Clone(token) // do not pin the request's header
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[token]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[token] = v
}

func (c *tokenCache) remove(token string) {
	c.mu.Lock()
	delete(c.m, token)
	c.mu.Unlock()
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// verifyCached is VerifyAccess for the per-request path: it returns the
// user and session an access token names, from the cache when the token
// verified before and the clock still lies within its validity, and from
// a full verification otherwise, and until, the instant the token itself
// stops being accepted (exp plus leeway, whatever its key's window: a live
// connection ends then). Errors are those of VerifyAccess.
func (t *Tokens) verifyCached(token string) (userID, sessionID string, until time.Time, err error) {
	if t.cache == nil || len(token) > MaxAccessTokenLen {
		// Oversized tokens never verify: refuse them before hashing them
		// for a lookup.
		claims, err := t.VerifyAccess(token)
		if err != nil {
			return "", "", time.Time{}, err
		}
		return claims.Subject, claims.SessionID, claims.ExpiresAt.Add(t.leeway), nil
	}
	if v, ok := t.cache.get(token); ok {
		if v.valid(t.now()) {
			t.cache.hits.Add(1)
			return v.userID, v.sessionID, v.expires, nil
		}
		// Expired (or the clock went back): the full check below gives
		// the precise error.
		t.cache.remove(token)
	}
	t.cache.misses.Add(1)
	claims, err := t.VerifyAccess(token)
	if err != nil {
		return "", "", time.Time{}, err
	}
	v := verifiedToken{userID: claims.Subject, sessionID: claims.SessionID, until: claims.ExpiresAt.Add(t.leeway)}
	v.expires = v.until
	// The parser checked nbf and iat (WithIssuedAt) against now - leeway;
	// both are optional in the claims, exp is required.
	if claims.NotBefore != nil {
		v.from = claims.NotBefore.Add(-t.leeway)
	}
	if claims.IssuedAt != nil {
		if iat := claims.IssuedAt.Add(-t.leeway); iat.After(v.from) {
			v.from = iat
		}
	}
	if end := t.keys.Load().minUntil; !end.IsZero() && end.Before(v.until) {
		v.until = end // the key's window closes first (keys.go)
	}
	t.cache.put(token, v)
	return v.userID, v.sessionID, v.expires, nil
}

// clear forgets every entry: a key stopped verifying.
func (c *tokenCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// CacheStats returns how many access tokens the cache of verified tokens
// answered (hits) and how many needed a full verification (misses); both
// zero when the cache is off.
func (t *Tokens) CacheStats() (hits, misses uint64) {
	if t.cache == nil {
		return 0, 0
	}
	return t.cache.hits.Load(), t.cache.misses.Load()
}
