package auth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// The fuzz targets' token service: a fixed key and clock, so that the
// committed corpus (testdata/fuzz) holds tokens that verify, expire or
// carry mistyped claims under it.
var (
	fuzzSecret = []byte("fuzz-secret-0123456789abcdef0123456789")
	fuzzEpoch  = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // iat of the corpus tokens
	fuzzLeeway = 5 * time.Second
)

func fuzzTokens(tb testing.TB) *auth.Tokens {
	tb.Helper()
	tk, err := auth.NewTokens(auth.TokenConfig{Secret: fuzzSecret, AccessTTL: 5 * time.Minute, Leeway: fuzzLeeway},
		func() time.Time { return fuzzEpoch.Add(time.Minute) })
	if err != nil {
		tb.Fatal(err)
	}
	return tk
}

// fuzzSign signs payload, as is, as the claims of an HS256 token under
// fuzzSecret.
func fuzzSign(tb testing.TB, payload []byte) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	sig, err := jwt.SigningMethodHS256.Sign(signing, fuzzSecret)
	if err != nil {
		tb.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// fuzzPayloads are claim sets for the seeds: well-formed, expired,
// mistyped, odd JSON.
var fuzzPayloads = []string{
	`{"iss":"ironclad","sub":"user-1","iat":1893553445,"nbf":1893553445,"exp":1893553745,"jti":"jti-1","token_type":"access","sid":"session-1"}`,
	`{"iss":"ironclad","sub":"user-1","iat":1893553445,"nbf":1893553445,"exp":1893553446,"jti":"jti-1","token_type":"access","sid":"session-1"}`,
	`{"iss":"ironclad","sub":"user-1","iat":1893553445,"nbf":1893553445,"exp":"1796161772","jti":"jti-1","token_type":"access","sid":"session-1"}`,
	`{"iss":"ironclad","sub":42,"iat":true,"nbf":"1893553445","exp":1893553745,"jti":["j"],"token_type":1,"sid":{"a":1}}`,
	`{"iss":"ironclad","sub":"user-1","aud":["api",null],"iat":1893553445,"exp":1e400,"token_type":"access","sid":"session-1"}`,
	`{"iss":"ironclad","sub":"u\u0000\ud800","exp":-1e308,"token_type":"access","sid":"s","EXP":9223372036854775807}`,
	`{"a":{"b":{"c":{"d":[[[[{}]]]]}}}}`,
	`{}`, `[]`, `null`, `"x"`, `1`,
}

// Any string given to VerifyAccess either verifies, with the claims of an
// access token valid now, or fails with ErrInvalidToken or ErrTokenExpired.
func FuzzVerifyAccess(f *testing.F) {
	tk := fuzzTokens(f)
	for _, p := range fuzzPayloads {
		f.Add(fuzzSign(f, []byte(p)))
	}
	issued, _, err := tk.IssueAccess("user-1", "session-1", models.RoleUser)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{issued, "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "\x00.\x00.\x00", "\xff\xfe.\xc3\x28.\xa0\xa1",
		strings.Repeat("A", auth.MaxAccessTokenLen+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := tk.VerifyAccess(token)
		checkVerified(t, token, claims, err)
	})
}

// Any claims JSON, signed with the right key: the strict decoding never
// panics, and what it accepts has the RFC 7519 types (checked here against
// a plain decoding of the same bytes).
func FuzzVerifyAccessClaims(f *testing.F) {
	tk := fuzzTokens(f)
	for _, p := range fuzzPayloads {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		claims, err := tk.VerifyAccess(fuzzSign(t, payload))
		checkVerified(t, string(payload), claims, err)
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("VerifyAccess accepted claims %q that are not a JSON object: %v", payload, err)
		}
		for _, k := range []string{"exp", "nbf", "iat"} {
			if v, ok := m[k]; ok {
				if _, isNum := v.(json.Number); !isNum {
					t.Errorf("VerifyAccess accepted %s = %#v (not a JSON number) in %q", k, v, payload)
				}
			}
		}
		for _, k := range []string{"iss", "sub", "jti", "sid", "token_type"} {
			if v, ok := m[k]; ok {
				if _, isStr := v.(string); !isStr {
					t.Errorf("VerifyAccess accepted %s = %#v (not a JSON string) in %q", k, v, payload)
				}
			}
		}
		if v, ok := m["aud"]; ok {
			okAud := false
			switch a := v.(type) {
			case string:
				okAud = true
			case []any:
				okAud = true
				for _, e := range a {
					if _, isStr := e.(string); !isStr {
						okAud = false
					}
				}
			}
			if !okAud {
				t.Errorf("VerifyAccess accepted aud = %#v in %q", v, payload)
			}
		}
	})
}

// checkVerified fails unless VerifyAccess's answer is one it may give.
func checkVerified(t *testing.T, input string, claims *auth.AccessClaims, err error) {
	t.Helper()
	now := fuzzEpoch.Add(time.Minute)
	switch {
	case err == nil:
		if claims == nil || claims.TokenType != "access" || claims.Subject == "" || claims.SessionID == "" ||
			claims.Issuer != auth.DefaultIssuer || claims.ExpiresAt == nil || !now.Before(claims.ExpiresAt.Add(fuzzLeeway)) {
			t.Fatalf("VerifyAccess(%q) = %+v, nil; want the claims of an access token valid now", input, claims)
		}
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrTokenExpired):
		if err != auth.ErrInvalidToken && err != auth.ErrTokenExpired {
			t.Fatalf("VerifyAccess(%q) error = %v, want ErrInvalidToken or ErrTokenExpired itself", input, err)
		}
		if claims != nil {
			t.Fatalf("VerifyAccess(%q) = %+v, %v; want nil claims with an error", input, claims, err)
		}
	default:
		t.Fatalf("VerifyAccess(%q) error = %v, want ErrInvalidToken or ErrTokenExpired", input, err)
	}
}

// Operations that take a bearer header or a refresh token.
const (
	fuzzMeQuery        = `{ me { id } }`
	fuzzRefreshMut     = `mutation($t: String) { refreshToken(refreshToken: $t) { accessToken } }`
	fuzzLogoutMut      = `mutation($t: String) { logout(refreshToken: $t) }`
	fuzzVerifyTokenMut = `mutation($t: String!) { verifyToken(token: $t) { valid reason tokenType } }`
)

// Any string as the Authorization header (as is and after "Bearer "), and
// as the token of refreshToken, logout and verifyToken: the server answers
// as a client error, never HTTP 5xx or INTERNAL_SERVER_ERROR. The seeds
// reach access tokens, refresh tokens and personal access tokens.
func FuzzAuthenticateHeader(f *testing.F) {
	env := apptest.Open(f, "sqlite")
	admin := env.Session("fuzzadmin", models.RoleAdmin)
	p := env.Login("fuzzadmin", apptest.Password)
	pat := env.PersonalToken(admin, models.ScopeUsersRead)
	expired := env.Login("fuzzadmin", apptest.Password)
	for _, s := range []string{
		admin.Header, p.AccessToken, p.RefreshToken, pat.Header, strings.TrimPrefix(pat.Header, "Bearer "),
		apptest.Bearer(expired.RefreshToken), apptest.OtherToken(p.AccessToken), apptest.OtherToken(p.RefreshToken),
		"", "Bearer", "Bearer ", "bearer x", "Basic Zm9vOmJhcg==", auth.PersonalTokenPrefix, auth.PersonalTokenPrefix + strings.Repeat("A", 43),
		"Bearer \x00", "\x00\x00", "\xff\xfe\xfd", "Bearer \xc3\x28.\xa0\xa1.x", "Bearer a.b.c", "Bearer " + strings.Repeat("9", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := *env // the same server, failing this input's test
		e.T = t
		for _, h := range []string{s, "Bearer " + s} {
			checkNoServerError(t, "me with Authorization "+h, e.Do(h, fuzzMeQuery, nil))
		}
		for _, q := range []string{fuzzRefreshMut, fuzzLogoutMut, fuzzVerifyTokenMut} {
			checkNoServerError(t, q, e.Do("", q, map[string]any{"t": s}))
		}
	})
}

// checkNoServerError fails if r is an HTTP 5xx or carries
// INTERNAL_SERVER_ERROR.
func checkNoServerError(t *testing.T, what string, r apptest.Response) {
	t.Helper()
	if r.Status >= http.StatusInternalServerError || strings.Contains(r.Body, "INTERNAL_SERVER_ERROR") {
		t.Fatalf("%q: status %d, body %s", what, r.Status, r.Body)
	}
}
