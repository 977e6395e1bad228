package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/models"
)

var (
	testSecret = []byte("test-secret-0123456789abcdef0123456789")
	testEpoch  = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

// newTestTokens returns Tokens whose clock reads *clock, so tests move time
// by assignment instead of sleeping.
func newTestTokens(t *testing.T, cfg TokenConfig, clock *time.Time) *Tokens {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 5 * time.Minute
	}
	tk, err := NewTokens(cfg, func() time.Time { return *clock })
	if err != nil {
		t.Fatalf("NewTokens(%+v) error = %v", cfg, err)
	}
	return tk
}

// validClaims returns the claims IssueAccess would produce at now.
func validClaims(now time.Time) *AccessClaims {
	return &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    DefaultIssuer,
			Subject:   "user-1",
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
			ID:        "jti-1",
		},
		TokenType: "access",
		SessionID: "session-1",
	}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("SignedString(%s) error = %v", m.Alg(), err)
	}
	return s
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, alg := range []string{"", "HS256", "HS384", "HS512"} {
		t.Run("alg="+alg, func(t *testing.T) {
			clock := testEpoch.Add(123 * time.Millisecond) // sub-second part must not leak into claims
			tk := newTestTokens(t, TokenConfig{Algorithm: alg}, &clock)
			token, issued, err := tk.IssueAccess("user-42", "session-7", models.RoleUser)
			if err != nil {
				t.Fatalf("IssueAccess() error = %v", err)
			}
			got, err := tk.VerifyAccess(token)
			if err != nil {
				t.Fatalf("VerifyAccess(%q) error = %v, want nil", token, err)
			}
			wantAlg := alg
			if wantAlg == "" {
				wantAlg = "HS256"
			}
			parsed, _, err := jwt.NewParser().ParseUnverified(token, &AccessClaims{})
			if err != nil {
				t.Fatalf("ParseUnverified(%q) error = %v", token, err)
			}
			if a := parsed.Header["alg"]; a != wantAlg {
				t.Errorf("header alg = %v, want %s", a, wantAlg)
			}
			iat := testEpoch // truncated to the second
			for _, c := range []struct {
				name      string
				got, want any
			}{
				{"iss", got.Issuer, "ironclad"},
				{"sub", got.Subject, "user-42"},
				{"token_type", got.TokenType, "access"},
				{"sid", got.SessionID, "session-7"},
				{"jti", got.ID, issued.ID},
				{"iat", got.IssuedAt.Unix(), iat.Unix()},
				{"nbf", got.NotBefore.Unix(), iat.Unix()},
				{"exp", got.ExpiresAt.Unix(), iat.Add(5 * time.Minute).Unix()},
				{"issued iat", issued.IssuedAt.Time.Equal(got.IssuedAt.Time), true},
				{"issued exp", issued.ExpiresAt.Time.Equal(got.ExpiresAt.Time), true},
				{"aud", len(got.Audience), 0},
			} {
				if c.got != c.want {
					t.Errorf("claim %s = %v, want %v", c.name, c.got, c.want)
				}
			}
			if b, err := base64.RawURLEncoding.DecodeString(got.ID); err != nil || len(b) != 16 {
				t.Errorf("jti %q: decoded %d bytes, err %v; want 16 random bytes", got.ID, len(b), err)
			}
			if tk.AccessTTL() != 5*time.Minute {
				t.Errorf("AccessTTL() = %v, want 5m", tk.AccessTTL())
			}
		})
	}
}

func TestIssueAccessUniqueJTI(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{}, &clock)
	_, a, err := tk.IssueAccess("u", "s", models.RoleUser)
	if err != nil {
		t.Fatalf("IssueAccess() error = %v", err)
	}
	_, b, err := tk.IssueAccess("u", "s", models.RoleUser)
	if err != nil {
		t.Fatalf("IssueAccess() error = %v", err)
	}
	if a.ID == b.ID {
		t.Errorf("two tokens share jti %q", a.ID)
	}
}

func TestVerifyAccessRejects(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{Leeway: 10 * time.Second}, &clock)
	hs := jwt.SigningMethodHS256

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey() error = %v", err)
	}
	good, _, err := tk.IssueAccess("user-1", "session-1", models.RoleUser)
	if err != nil {
		t.Fatalf("IssueAccess() error = %v", err)
	}
	refresh, _, err := NewRefreshToken()
	if err != nil {
		t.Fatalf("NewRefreshToken() error = %v", err)
	}
	with := func(edit func(c *AccessClaims)) *AccessClaims {
		c := validClaims(clock)
		edit(c)
		return c
	}
	expired := with(func(c *AccessClaims) {
		c.IssuedAt = jwt.NewNumericDate(clock.Add(-time.Hour))
		c.NotBefore = c.IssuedAt
		c.ExpiresAt = jwt.NewNumericDate(clock.Add(-time.Minute))
	})

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims(clock)), ErrInvalidToken},
		{"wrong key", sign(t, hs, []byte("another-secret-another-secret-xx"), validClaims(clock)), ErrInvalidToken},
		{"alg HS512 when HS256 configured", sign(t, jwt.SigningMethodHS512, testSecret, validClaims(clock)), ErrInvalidToken},
		{"alg RS256", sign(t, jwt.SigningMethodRS256, rsaKey, validClaims(clock)), ErrInvalidToken},
		{"tampered payload", tamperSub(t, good, "admin-1"), ErrInvalidToken},
		{"missing exp", sign(t, hs, testSecret, with(func(c *AccessClaims) { c.ExpiresAt = nil })), ErrInvalidToken},
		{"nbf beyond leeway", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			c.NotBefore = jwt.NewNumericDate(clock.Add(11 * time.Second))
		})), ErrInvalidToken},
		{"iat beyond leeway", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			c.IssuedAt = jwt.NewNumericDate(clock.Add(time.Minute))
		})), ErrInvalidToken},
		{"wrong issuer", sign(t, hs, testSecret, with(func(c *AccessClaims) { c.Issuer = "evil" })), ErrInvalidToken},
		{"missing issuer", sign(t, hs, testSecret, with(func(c *AccessClaims) { c.Issuer = "" })), ErrInvalidToken},
		{"token_type refresh", sign(t, hs, testSecret, with(func(c *AccessClaims) { c.TokenType = "refresh" })), ErrInvalidToken},
		{"missing token_type", sign(t, hs, testSecret, with(func(c *AccessClaims) { c.TokenType = "" })), ErrInvalidToken},
		{"missing sid", sign(t, hs, testSecret, with(func(c *AccessClaims) { c.SessionID = "" })), ErrInvalidToken},
		{"missing sub", sign(t, hs, testSecret, with(func(c *AccessClaims) { c.Subject = "" })), ErrInvalidToken},
		{"exp as string", signMap(t, map[string]any{"iss": DefaultIssuer, "sub": "u", "sid": "s", "token_type": "access", "exp": "never"}), ErrInvalidToken},
		{"empty", "", ErrInvalidToken},
		{"two segments", "a.b", ErrInvalidToken},
		{"four segments", "a.b.c.d", ErrInvalidToken},
		{"garbage base64", "!!!.@@@.###", ErrInvalidToken},
		{"garbage json", "e30.bm90IGpzb24.c2ln", ErrInvalidToken},
		{"refresh token as access token", refresh, ErrInvalidToken},
		{"over-long but validly signed", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			c.SessionID = strings.Repeat("s", MaxAccessTokenLen)
		})), ErrInvalidToken},
		{"expired", sign(t, hs, testSecret, expired), ErrTokenExpired},
		{"expired with bad signature", sign(t, hs, []byte("another-secret-another-secret-xx"), expired), ErrInvalidToken},
		{"expired with wrong issuer", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			*c = *expired
			c.Issuer = "evil"
		})), ErrInvalidToken},
		{"expired refresh-typed token", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			*c = *expired
			c.TokenType = "refresh"
		})), ErrInvalidToken},
		{"expired and nbf in future", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			*c = *expired
			c.NotBefore = jwt.NewNumericDate(clock.Add(time.Hour))
		})), ErrInvalidToken},
		{"expired within leeway", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			c.ExpiresAt = jwt.NewNumericDate(clock.Add(-9 * time.Second))
		})), nil},
		{"nbf within leeway", sign(t, hs, testSecret, with(func(c *AccessClaims) {
			c.NotBefore = jwt.NewNumericDate(clock.Add(9 * time.Second))
		})), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tk.VerifyAccess(tt.token)
			if !errors.Is(err, tt.want) { // errors.Is(err, nil) holds only for a nil err
				t.Fatalf("VerifyAccess(%q) error = %v, want %v", abbrev(tt.token), err, tt.want)
			}
			if err != nil && got != nil {
				t.Errorf("VerifyAccess(%q) claims = %+v, want nil with error", abbrev(tt.token), got)
			}
		})
	}
}

func TestVerifyAccessExpiry(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{AccessTTL: time.Minute, Leeway: 5 * time.Second}, &clock)
	token, _, err := tk.IssueAccess("user-1", "session-1", models.RoleUser)
	if err != nil {
		t.Fatalf("IssueAccess() error = %v", err)
	}
	tests := []struct {
		name  string
		after time.Duration
		want  error
	}{
		{"fresh", 0, nil},
		{"just before exp", 59 * time.Second, nil},
		{"past exp within leeway", 64 * time.Second, nil},
		{"past exp and leeway", 65 * time.Second, ErrTokenExpired},
		{"long expired", 24 * time.Hour, ErrTokenExpired},
		{"clock behind iat beyond leeway", -10 * time.Second, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = testEpoch.Add(tt.after)
			_, err := tk.VerifyAccess(token)
			if !errors.Is(err, tt.want) { // errors.Is(err, nil) holds only for a nil err
				t.Errorf("VerifyAccess at +%v error = %v, want %v", tt.after, err, tt.want)
			}
		})
	}
}

func TestNewTokensConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     TokenConfig
		wantErr bool
	}{
		{"defaults", TokenConfig{Secret: testSecret, AccessTTL: time.Minute}, false},
		{"HS384", TokenConfig{Secret: testSecret, Algorithm: "HS384", AccessTTL: time.Minute}, false},
		{"HS512 with max leeway", TokenConfig{Secret: testSecret, Algorithm: "HS512", AccessTTL: time.Minute, Leeway: MaxLeeway}, false},
		{"empty secret", TokenConfig{AccessTTL: time.Minute}, true},
		{"leeway over max", TokenConfig{Secret: testSecret, AccessTTL: time.Minute, Leeway: MaxLeeway + time.Second}, true},
		{"negative leeway", TokenConfig{Secret: testSecret, AccessTTL: time.Minute, Leeway: -time.Second}, true},
		{"alg RS256", TokenConfig{Secret: testSecret, Algorithm: "RS256", AccessTTL: time.Minute}, true},
		{"alg none", TokenConfig{Secret: testSecret, Algorithm: "none", AccessTTL: time.Minute}, true},
		{"alg lowercase", TokenConfig{Secret: testSecret, Algorithm: "hs256", AccessTTL: time.Minute}, true},
		{"zero ttl", TokenConfig{Secret: testSecret}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk, err := NewTokens(tt.cfg, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewTokens(%+v) error = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
			if err == nil && tk == nil {
				t.Fatalf("NewTokens(%+v) = nil, nil", tt.cfg)
			}
		})
	}
}

func TestNewTokensCopiesSecret(t *testing.T) {
	clock := testEpoch
	secret := []byte("mutable-secret-mutable-secret-xx")
	tk := newTestTokens(t, TokenConfig{Secret: secret}, &clock)
	token, _, err := tk.IssueAccess("u", "s", models.RoleUser)
	if err != nil {
		t.Fatalf("IssueAccess() error = %v", err)
	}
	secret[0] ^= 0xff // the caller scribbling on its slice must not change our key
	if _, err := tk.VerifyAccess(token); err != nil {
		t.Errorf("VerifyAccess(%q) after caller changed its secret: error = %v, want nil", abbrev(token), err)
	}
}

func TestNewRefreshToken(t *testing.T) {
	seen := make(map[string]bool, 1000)
	for range 1000 {
		plain, hash, err := NewRefreshToken()
		if err != nil {
			t.Fatalf("NewRefreshToken() error = %v", err)
		}
		if len(plain) != 43 {
			t.Fatalf("NewRefreshToken() plain length = %d, want 43", len(plain))
		}
		raw, err := base64.RawURLEncoding.DecodeString(plain)
		if err != nil || len(raw) != 32 {
			t.Fatalf("NewRefreshToken() plain %q decodes to %d bytes (err %v), want 32 (256 bits)", plain, len(raw), err)
		}
		sum := sha256.Sum256([]byte(plain))
		if want := hex.EncodeToString(sum[:]); hash != want || hashOpaqueToken(plain) != want {
			t.Fatalf("NewRefreshToken() hash = %q, want hex sha256 %q", hash, want)
		}
		if seen[plain] {
			t.Fatalf("NewRefreshToken() repeated %q", plain)
		}
		seen[plain] = true
	}
}

func TestHashOpaqueToken(t *testing.T) {
	// Known answer: sha256("abc").
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := hashOpaqueToken("abc"); got != want {
		t.Errorf("hashOpaqueToken(%q) = %q, want %q", "abc", got, want)
	}
}

// tamperSub rewrites the sub claim of token and keeps the original signature.
func tamperSub(t *testing.T, token, sub string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("unmarshal payload: %v", err)
	}
	m["sub"] = sub
	payload, err = json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal payload: %v", err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// signMap signs arbitrary claims with the test key, for shapes AccessClaims cannot express.
func signMap(t *testing.T, claims map[string]any) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims(claims))
}

// abbrev shortens long tokens in failure messages.
func abbrev(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func BenchmarkIssueAccess(b *testing.B) {
	tk, err := NewTokens(TokenConfig{Secret: testSecret, AccessTTL: 5 * time.Minute}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tk.IssueAccess("7f9c2ba4-e88f-4b1a-9f4e-0c1d2e3f4a5b", "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e", models.RoleUser); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAccess(b *testing.B) {
	tk, err := NewTokens(TokenConfig{Secret: testSecret, AccessTTL: 5 * time.Minute}, nil)
	if err != nil {
		b.Fatal(err)
	}
	token, _, err := tk.IssueAccess("7f9c2ba4-e88f-4b1a-9f4e-0c1d2e3f4a5b", "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e", models.RoleUser)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.VerifyAccess(token); err != nil {
			b.Fatal(err)
		}
	}
}
