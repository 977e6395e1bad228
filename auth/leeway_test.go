package auth_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// JWT_LEEWAY is a Go duration from 0s to auth.MaxLeeway, 5s by default.
func TestLoadConfigJWTLeeway(t *testing.T) {
	cases := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 5 * time.Second, false},
		{"0s", 0, false},
		{"0", 0, false},
		{"1500ms", 1500 * time.Millisecond, false},
		{"60s", 60 * time.Second, false},
		{"1m", time.Minute, false},
		{"61s", 0, true},
		{"1h", 0, true},
		{"-1s", 0, true},
		{"5", 0, true}, // no unit
		{"five seconds", 0, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.value), func(t *testing.T) {
			env := map[string]string{"JWT_LEEWAY": tc.value}
			c, err := app.LoadConfig(func(k string) string { return env[k] })
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "JWT_LEEWAY") {
					t.Fatalf("LoadConfig(JWT_LEEWAY=%q) error = %v, want one naming JWT_LEEWAY", tc.value, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig(JWT_LEEWAY=%q) error = %v", tc.value, err)
			}
			if c.JWTLeeway != tc.want {
				t.Fatalf("LoadConfig(JWT_LEEWAY=%q).JWTLeeway = %v, want %v", tc.value, c.JWTLeeway, tc.want)
			}
		})
	}
	if auth.MaxLeeway != time.Minute {
		t.Errorf("auth.MaxLeeway = %v, want 1m (the bound JWT_LEEWAY documents)", auth.MaxLeeway)
	}
}

// The README's row of JWT_LEEWAY: right after JWT_ISSUER, with its default.
func TestSettingsJWTLeeway(t *testing.T) {
	for i, s := range app.Settings {
		if s.Name != "JWT_LEEWAY" {
			continue
		}
		if i == 0 || app.Settings[i-1].Name != "JWT_ISSUER" {
			t.Errorf("JWT_LEEWAY is row %d of Settings, want the row after JWT_ISSUER", i)
		}
		if s.Default != "`5s`" || !strings.Contains(s.Doc, "`60s`") {
			t.Errorf("JWT_LEEWAY Default = %q, Doc = %q; want `5s` and the bound `60s`", s.Default, s.Doc)
		}
		return
	}
	t.Fatal("Settings has no JWT_LEEWAY")
}

// With leeway L an access token still works L-1s after its exp and is
// token_expired from exp+L on, the same whether the verified-token cache
// holds it (presented before) or not (first presented then).
func TestJWTLeewayEndToEnd(t *testing.T) {
	for _, leeway := range []string{"", "0s", "5s", "60s"} {
		t.Run("JWT_LEEWAY="+leeway, func(t *testing.T) {
			cfg := apptest.Config(t, map[string]string{"ACCESS_TOKEN_TTL": "5s", "JWT_LEEWAY": leeway})
			L := cfg.JWTLeeway
			if leeway == "" && L != 5*time.Second {
				t.Fatalf("default JWTLeeway = %v, want 5s", L)
			}
			apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
				e.CreateUser("lee", apptest.Password, models.RoleUser)
				warm := e.Login("lee", apptest.Password) // presented at once: cached
				cold := e.Login("lee", apptest.Password) // first presented at exp+L-1s
				late := e.Login("lee", apptest.Password) // first presented at exp+L+1s
				if warm.ExpiresIn != 5 {
					t.Fatalf("expiresIn = %d, want 5", warm.ExpiresIn)
				}
				ttl := time.Duration(warm.ExpiresIn) * time.Second
				apptest.MustOK(t, e.Do(apptest.Bearer(warm.AccessToken), apptest.MeQuery, nil))

				e.Clock.Advance(ttl + L - time.Second)
				apptest.MustOK(t, e.Do(apptest.Bearer(warm.AccessToken), apptest.MeQuery, nil))
				apptest.MustOK(t, e.Do(apptest.Bearer(cold.AccessToken), apptest.MeQuery, nil))

				e.Clock.Advance(time.Second) // exp+L: refused, cached or not
				for _, p := range []apptest.Payload{warm, cold} {
					apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", models.ReasonTokenExpired)
				}
				e.Clock.Advance(time.Second)
				for _, p := range []apptest.Payload{warm, cold, late} {
					apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", models.ReasonTokenExpired)
				}
			}, func(c *app.Config) { c.AccessTTL, c.JWTLeeway = cfg.AccessTTL, cfg.JWTLeeway })
		})
	}
}

// The leeway also applies before iat and nbf (a server whose clock is
// behind the issuer's), in the cache as in the parser.
func TestJWTLeewayClockBehind(t *testing.T) {
	for _, L := range []time.Duration{0, 5 * time.Second, time.Minute} {
		t.Run(fmt.Sprint(L), func(t *testing.T) {
			apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
				e.CreateUser("lee", apptest.Password, models.RoleUser)
				issued := e.Clock.Now()
				warm := e.Login("lee", apptest.Password)
				cold := e.Login("lee", apptest.Password)
				apptest.MustOK(t, e.Do(apptest.Bearer(warm.AccessToken), apptest.MeQuery, nil))

				e.Clock.Set(issued.Add(-L))
				for _, p := range []apptest.Payload{warm, cold} {
					apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil))
				}
				e.Clock.Set(issued.Add(-L - time.Second))
				for _, p := range []apptest.Payload{warm, cold} {
					apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", models.ReasonInvalidToken)
				}
			}, func(c *app.Config) { c.JWTLeeway = L })
		})
	}
}
