package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs payload, taken as is, as the claims of an HS256 token under
// testSecret: tests of claim types need JSON that no Go struct would marshal.
func signRaw(t testing.TB, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, testSecret)
	if err != nil {
		t.Fatalf("Sign() error = %v", err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// claimsJSON returns the claims IssueAccess would write at now as a JSON
// object, with each of edits (name → raw JSON value, "" to drop the claim)
// applied.
func claimsJSON(now time.Time, edits map[string]string) string {
	c := map[string]string{
		"iss":        `"ironclad"`,
		"sub":        `"user-1"`,
		"iat":        fmt.Sprint(now.Unix()),
		"nbf":        fmt.Sprint(now.Unix()),
		"exp":        fmt.Sprint(now.Add(5 * time.Minute).Unix()),
		"jti":        `"jti-1"`,
		"token_type": `"access"`,
		"sid":        `"session-1"`,
	}
	for k, v := range edits {
		if v == "" {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for _, k := range []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "token_type", "sid", "EXP", "extra"} {
		if v, ok := c[k]; ok {
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", k, v)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// Claims must have the JSON types of RFC 7519: a token signed with the
// right key but a claim of another type is invalid, never accepted and
// never merely expired. golang-jwt alone would take exp "1796161772".
func TestVerifyAccessClaimTypes(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{Leeway: 5 * time.Second}, &clock)
	exp := fmt.Sprint(clock.Add(5 * time.Minute).Unix())
	past := fmt.Sprint(clock.Add(-time.Hour).Unix())
	cases := []struct {
		name  string
		edits map[string]string
	}{
		{"exp as string", map[string]string{"exp": `"` + exp + `"`}},
		{"exp as string 1796161772", map[string]string{"exp": `"1796161772"`}},
		{"exp as float string", map[string]string{"exp": `"` + exp + `.5"`}},
		{"exp null", map[string]string{"exp": `null`}},
		{"exp as object", map[string]string{"exp": `{"$date":` + exp + `}`}},
		{"exp as array", map[string]string{"exp": `[` + exp + `]`}},
		{"exp as bool", map[string]string{"exp": `true`}},
		{"exp beyond float64", map[string]string{"exp": `1e400`}},
		{"exp in upper case as string", map[string]string{"EXP": `"` + exp + `"`}}, // JSON keys match case-insensitively
		{"nbf as string", map[string]string{"nbf": `"` + fmt.Sprint(clock.Unix()) + `"`}},
		{"nbf null", map[string]string{"nbf": `null`}},
		{"iat as bool", map[string]string{"iat": `true`}},
		{"iat null", map[string]string{"iat": `null`}},
		{"iat as string", map[string]string{"iat": `"` + fmt.Sprint(clock.Unix()) + `"`}},
		{"sub as number", map[string]string{"sub": `42`}},
		{"sub as array", map[string]string{"sub": `["user-1"]`}},
		{"sub null", map[string]string{"sub": `null`}},
		{"sid as object", map[string]string{"sid": `{"id":"session-1"}`}},
		{"sid as number", map[string]string{"sid": `7`}},
		{"token_type as number", map[string]string{"token_type": `1`}},
		{"token_type as bool", map[string]string{"token_type": `true`}},
		{"jti as array", map[string]string{"jti": `["jti-1"]`}},
		{"jti as number", map[string]string{"jti": `12345`}},
		{"jti null", map[string]string{"jti": `null`}},
		{"iss as number", map[string]string{"iss": `1`}},
		{"iss as array", map[string]string{"iss": `["ironclad"]`}},
		{"iss null", map[string]string{"iss": `null`}},
		{"aud as number", map[string]string{"aud": `1`}},
		{"aud as object", map[string]string{"aud": `{"a":"b"}`}},
		{"aud null", map[string]string{"aud": `null`}},
		{"aud as bool", map[string]string{"aud": `false`}},
		{"aud array with number", map[string]string{"aud": `["api",1]`}},
		{"aud array with null", map[string]string{"aud": `["api",null]`}},
		{"aud array of arrays", map[string]string{"aud": `[["api"]]`}},
		// Expired and mistyped: the type fault wins, so no refresh is invited.
		{"expired with sub as number", map[string]string{"exp": past, "sub": `42`}},
		{"expired exp as string", map[string]string{"exp": `"` + past + `"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload := claimsJSON(clock, tc.edits)
			token := signRaw(t, payload)
			got, err := tk.VerifyAccess(token)
			if err != ErrInvalidToken {
				t.Fatalf("VerifyAccess(%s) error = %v, want %v", payload, err, ErrInvalidToken)
			}
			if got != nil {
				t.Errorf("VerifyAccess(%s) claims = %+v, want nil", payload, got)
			}
			// The per-request path says the same and caches nothing.
			if _, _, _, err := tk.verifyCached(token); err != ErrInvalidToken {
				t.Errorf("verifyCached(%s) error = %v, want %v", payload, err, ErrInvalidToken)
			}
			if n := tk.cache.len(); n != 0 {
				t.Errorf("cache holds %d tokens after a mistyped one, want 0", n)
			}
		})
	}
}

// Well-typed claims still verify, whatever else the payload holds.
func TestVerifyAccessClaimTypesAccepted(t *testing.T) {
	clock := testEpoch
	tk := newTestTokens(t, TokenConfig{Leeway: 5 * time.Second}, &clock)
	exp := clock.Add(5 * time.Minute).Unix()
	cases := []struct {
		name    string
		edits   map[string]string
		wantSub string
		wantAud jwt.ClaimStrings
		wantExp time.Time
	}{
		{"as issued", nil, "user-1", nil, time.Unix(exp, 0)},
		{"aud string", map[string]string{"aud": `"api"`}, "user-1", jwt.ClaimStrings{"api"}, time.Unix(exp, 0)},
		{"aud array", map[string]string{"aud": `["api","web"]`}, "user-1", jwt.ClaimStrings{"api", "web"}, time.Unix(exp, 0)},
		{"aud empty array", map[string]string{"aud": `[]`}, "user-1", jwt.ClaimStrings{}, time.Unix(exp, 0)},
		{"fractional exp", map[string]string{"exp": fmt.Sprint(exp) + `.5`}, "user-1", nil, time.Unix(exp, 0)}, // jwt.TimePrecision
		{"exponent exp", map[string]string{"exp": fmt.Sprintf("%de0", exp)}, "user-1", nil, time.Unix(exp, 0)},
		{"no nbf, no iat, no jti", map[string]string{"nbf": "", "iat": "", "jti": ""}, "user-1", nil, time.Unix(exp, 0)},
		{"escaped sub", map[string]string{"sub": `"user\u002d1"`}, "user-1", nil, time.Unix(exp, 0)},
		{"non-ASCII sub", map[string]string{"sub": `"usér"`}, "usér", nil, time.Unix(exp, 0)},
		{"unknown claim of any type", map[string]string{"extra": `{"a":[null,1,"x",{}]}`}, "user-1", nil, time.Unix(exp, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload := claimsJSON(clock, tc.edits)
			got, err := tk.VerifyAccess(signRaw(t, payload))
			if err != nil {
				t.Fatalf("VerifyAccess(%s) error = %v, want nil", payload, err)
			}
			if got.Subject != tc.wantSub || got.SessionID != "session-1" || got.TokenType != "access" || got.Issuer != "ironclad" {
				t.Errorf("VerifyAccess(%s) claims = %+v", payload, got)
			}
			if fmt.Sprint(got.Audience) != fmt.Sprint(tc.wantAud) || (got.Audience == nil) != (tc.wantAud == nil) {
				t.Errorf("VerifyAccess(%s) aud = %#v, want %#v", payload, got.Audience, tc.wantAud)
			}
			if !got.ExpiresAt.Time.Equal(tc.wantExp) {
				t.Errorf("VerifyAccess(%s) exp = %v, want %v", payload, got.ExpiresAt.Time, tc.wantExp)
			}
		})
	}
}

// The strict decoding reads well-typed claims exactly as golang-jwt's own
// types do.
func TestAccessClaimsDecodeLikeJWT(t *testing.T) {
	want := validClaims(testEpoch.Add(123456789 * time.Nanosecond))
	want.Audience = jwt.ClaimStrings{"api"}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var lenient struct {
		jwt.RegisteredClaims
		TokenType string `json:"token_type"`
		SessionID string `json:"sid"`
	}
	if err := json.Unmarshal(b, &lenient); err != nil {
		t.Fatalf("json.Unmarshal(%s) into jwt types error = %v", b, err)
	}
	var got AccessClaims
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("json.Unmarshal(%s) error = %v", b, err)
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"exp", got.ExpiresAt.Time, lenient.ExpiresAt.Time},
		{"nbf", got.NotBefore.Time, lenient.NotBefore.Time},
		{"iat", got.IssuedAt.Time, lenient.IssuedAt.Time},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got.Issuer != lenient.Issuer || got.Subject != lenient.Subject || got.ID != lenient.ID ||
		fmt.Sprint(got.Audience) != fmt.Sprint(lenient.Audience) ||
		got.TokenType != lenient.TokenType || got.SessionID != lenient.SessionID {
		t.Errorf("json.Unmarshal(%s) = %+v, want %+v", b, got, lenient)
	}
}

// A wrong type is a decoding error that names no value; it reaches callers
// of VerifyAccess only as ErrInvalidToken.
func TestAccessClaimsUnmarshalErrors(t *testing.T) {
	for _, payload := range []string{`{"exp":"1796161772"}`, `{"sub":1}`, `{"aud":[1]}`, `[]`, `"x"`} {
		var c AccessClaims
		err := json.Unmarshal([]byte(payload), &c)
		if err == nil {
			t.Errorf("json.Unmarshal(%s) error = nil, want a type error", payload)
			continue
		}
		var typeErr *json.UnmarshalTypeError
		if !errors.Is(err, errClaimType) && !errors.As(err, &typeErr) {
			t.Errorf("json.Unmarshal(%s) error = %v, want errClaimType or *json.UnmarshalTypeError", payload, err)
		}
	}
}
