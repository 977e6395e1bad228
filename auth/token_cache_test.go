package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/models"
)

// A cached token is only as good as the clock says: each hit re-checks the
// validity window against the injected clock, and a token outside it gets
// the error a full verification gives.
func TestTokenCacheRechecksTime(t *testing.T) {
	const leeway = 10 * time.Second
	cases := []struct {
		name    string
		move    time.Duration // clock change after the token was cached
		wantErr error
	}{
		{"still valid", 4 * time.Minute, nil},
		{"within leeway after exp", 5*time.Minute + leeway - time.Second, nil},
		{"expired at exp plus leeway", 5*time.Minute + leeway, ErrTokenExpired},
		{"long expired", time.Hour, ErrTokenExpired},
		{"clock back before iat minus leeway", -leeway - time.Second, ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := testEpoch
			tk := newTestTokens(t, TokenConfig{Leeway: leeway}, &clock)
			tok, _, err := tk.IssueAccess("user-1", "session-1", models.RoleUser)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := tk.verifyCached(tok); err != nil {
				t.Fatalf("verifyCached(fresh) error = %v", err)
			}
			if n := tk.cache.len(); n != 1 {
				t.Fatalf("cache holds %d tokens after one verification, want 1", n)
			}
			clock = clock.Add(tc.move)
			for i := range 2 { // a second call must not revive the entry
				uid, sid, _, err := tk.verifyCached(tok)
				if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
					t.Fatalf("call %d: verifyCached after %v error = %v, want %v", i, tc.move, err, tc.wantErr)
				}
				if err == nil && (uid != "user-1" || sid != "session-1") {
					t.Fatalf("verifyCached = %q, %q; want user-1, session-1", uid, sid)
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.wantErr == nil]; tk.cache.len() != want {
				t.Fatalf("cache holds %d tokens, want %d", tk.cache.len(), want)
			}
		})
	}
}

// Only tokens that verified enter the cache: garbage, forgeries, expired and
// non-access tokens are refused every time and leave no entry.
func TestTokenCacheOnlyVerified(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{}, &clock)
	expired := validClaims(clock)
	expired.ExpiresAt = jwt.NewNumericDate(clock.Add(-time.Minute))
	wrongType := validClaims(clock)
	wrongType.TokenType = "refresh"
	cases := []struct {
		name, token string
		want        error
	}{
		{"garbage", "not.a.jwt", ErrInvalidToken},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), validClaims(clock)), ErrInvalidToken},
		{"expired", sign(t, jwt.SigningMethodHS256, testSecret, expired), ErrTokenExpired},
		{"not an access token", sign(t, jwt.SigningMethodHS256, testSecret, wrongType), ErrInvalidToken},
		{"too long", strings.Repeat("a", MaxAccessTokenLen+1), ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				if _, _, _, err := tk.verifyCached(tc.token); !errors.Is(err, tc.want) {
					t.Fatalf("verifyCached(%s) error = %v, want %v", tc.name, err, tc.want)
				}
			}
			if n := tk.cache.len(); n != 0 {
				t.Fatalf("cache holds %d tokens after refusals, want 0", n)
			}
		})
	}
}

// The cache never holds more than its size; evicted tokens still verify
// (the long way).
func TestTokenCacheBounded(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{CacheSize: 3}, &clock)
	var tokens []string
	for i := range 20 {
		tok, _, err := tk.IssueAccess(fmt.Sprintf("user-%d", i), fmt.Sprintf("session-%d", i), models.RoleUser)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	for round := range 2 {
		for i, tok := range tokens {
			uid, sid, _, err := tk.verifyCached(tok)
			if err != nil || uid != fmt.Sprintf("user-%d", i) || sid != fmt.Sprintf("session-%d", i) {
				t.Fatalf("round %d: verifyCached(token %d) = %q, %q, %v", round, i, uid, sid, err)
			}
			if n := tk.cache.len(); n > 3 {
				t.Fatalf("cache holds %d tokens, want at most 3", n)
			}
		}
	}
}

// CacheSize < 0 turns the cache off: verification still works.
func TestTokenCacheOff(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{CacheSize: -1}, &clock)
	tok, _, err := tk.IssueAccess("user-1", "session-1", models.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if tk.cache != nil {
		t.Fatal("cache present with CacheSize -1")
	}
	if uid, sid, _, err := tk.verifyCached(tok); err != nil || uid != "user-1" || sid != "session-1" {
		t.Fatalf("verifyCached = %q, %q, %v", uid, sid, err)
	}
	clock = clock.Add(time.Hour)
	if _, _, _, err := tk.verifyCached(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("verifyCached(expired) error = %v, want ErrTokenExpired", err)
	}
}
