package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// The documents of refresh-token cookie mode: refreshToken and logout
// without an argument read the cookie.
const (
	cookieRefreshMutation        = `mutation { refreshToken { ` + apptest.PayloadFields + ` } }`
	cookieLogoutMutation         = `mutation { logout }`
	cookieLogoutAllMutation      = `mutation { logoutAll }`
	cookieChangePasswordMutation = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { ` + apptest.PayloadFields + ` } }`
)

func TestCookieMode(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("cleo", apptest.Password, models.RoleUser)
		loginVars := map[string]any{"u": "cleo", "p": apptest.Password}

		login := func(t *testing.T) *http.Cookie {
			t.Helper()
			r := e.Send(apptest.Request{Query: apptest.LoginMutation, Vars: loginVars})
			apptest.MustOK(t, r)
			if p := r.Payload(t, "login"); p.RefreshToken != "" || p.AccessToken == "" {
				t.Fatalf("login body: refreshToken %q, accessToken %q; want null and a token", p.RefreshToken, p.AccessToken)
			}
			if !strings.Contains(r.Body, `"refreshToken":null`) {
				t.Fatalf("refreshToken is not null in the body: %s", r.Body)
			}
			return e.WantRefreshCookie(t, r, true)
		}

		t.Run("login sets the cookie and leaves the token out of the body", func(t *testing.T) {
			login(t)
		})

		t.Run("refreshToken without argument reads the cookie and rotates it", func(t *testing.T) {
			c := login(t)
			for _, header := range []map[string]string{apptest.CSRF, {"Apollo-Require-Preflight": "true"}} {
				r := e.Send(apptest.Request{Query: cookieRefreshMutation, Header: header, Cookies: []*http.Cookie{c}})
				apptest.MustOK(t, r)
				p := r.Payload(t, "refreshToken")
				if p.RefreshToken != "" || p.User == nil || p.User.Username != "cleo" {
					t.Fatalf("refresh body = %s; want null refreshToken for cleo", r.Body)
				}
				next := e.WantRefreshCookie(t, r, true)
				if next.Value == c.Value {
					t.Fatal("refresh did not rotate the cookie")
				}
				apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil))
				c = next
			}
		})

		t.Run("without a CSRF header the cookie is not used", func(t *testing.T) {
			c := login(t)
			r := e.Send(apptest.Request{Query: cookieRefreshMutation, Cookies: []*http.Cookie{c}})
			gotCode, gotReason := r.Code()
			if r.Status != http.StatusOK || gotCode != "BAD_REQUEST" || gotReason != "csrf_header_missing" {
				t.Fatalf("got %d %q %q, want 200 BAD_REQUEST csrf_header_missing: %s", r.Status, gotCode, gotReason, r.Body)
			}
			if r.Cookie(auth.RefreshCookieName) != nil {
				t.Fatal("a refused request changed the cookie")
			}
			// Nothing was rotated: the cookie still works with the header.
			apptest.MustOK(t, e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}}))
		})

		t.Run("no cookie", func(t *testing.T) {
			r := e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF})
			apptest.WantError(t, r, "UNAUTHENTICATED", "refresh_token_invalid")
		})

		t.Run("an explicit argument does not need the CSRF header", func(t *testing.T) {
			first := login(t)
			r := e.Send(apptest.Request{Query: apptest.RefreshMutation, Vars: map[string]any{"t": first.Value}})
			apptest.MustOK(t, r)
			if p := r.Payload(t, "refreshToken"); p.RefreshToken != "" {
				t.Fatalf("cookie mode returned a refresh token in the body")
			}
			e.WantRefreshCookie(t, r, true)
		})

		t.Run("a reused cookie ends the session and is cleared", func(t *testing.T) {
			c := login(t)
			apptest.MustOK(t, e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}}))
			// Past the reuse grace window (REFRESH_REUSE_GRACE), whatever
			// its default, a second presentation is reuse.
			e.Clock.Advance(e.App.Config.ReuseGrace + time.Second)
			r := e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}})
			apptest.WantError(t, r, "UNAUTHENTICATED", "refresh_token_reused")
			apptest.WantCookieCleared(t, r)
		})
	}, apptest.CookieMode)
}

func TestCookieModeInsecureForLocalhost(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("dev", apptest.Password, models.RoleUser)
		r := e.Send(apptest.Request{Query: apptest.LoginMutation, Vars: map[string]any{"u": "dev", "p": apptest.Password}})
		apptest.MustOK(t, r)
		e.WantRefreshCookie(t, r, false)
	}, apptest.CookieMode, func(c *app.Config) { c.CookieSecure = false })
}

func TestBodyModeIgnoresCookies(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("bobby", apptest.Password, models.RoleUser)
		r := e.Send(apptest.Request{Query: apptest.LoginMutation, Vars: map[string]any{"u": "bobby", "p": apptest.Password}})
		apptest.MustOK(t, r)
		p := r.Payload(t, "login")
		if p.RefreshToken == "" || len(r.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("body mode: refreshToken %q, Set-Cookie %q; want a token and no cookie", p.RefreshToken, r.Header.Values("Set-Cookie"))
		}
		// The argument is required when there is no cookie mode, whatever
		// cookies arrive.
		r = e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF,
			Cookies: []*http.Cookie{{Name: auth.RefreshCookieName, Value: p.RefreshToken}}})
		apptest.WantError(t, r, "BAD_USER_INPUT", "")
		if f := r.Fields(); f[0] != "refreshToken" {
			t.Fatalf("extensions.field = %q, want refreshToken", f[0])
		}
		apptest.MustOK(t, e.Refresh(p.RefreshToken))
	})
}

func TestPlaygroundInCookieMode(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				mutate func(*app.Config)
			}{{"body mode", func(*app.Config) {}}, {"cookie mode", apptest.CookieMode}} {
				t.Run(tc.name, func(t *testing.T) {
					e := apptest.Open(t, kind, tc.mutate)
					r := e.Serve(httptest.NewRequest(http.MethodGet, "/", nil))
					// The playground's fetcher sends the CSRF header, so
					// refreshToken without an argument works from it.
					if r.Status != http.StatusOK || !strings.Contains(r.Body, `"X-Requested-With":"graphiql"`) {
						t.Fatalf("GET / = %d; page lacks the fetcher's CSRF header", r.Status)
					}
					// GraphiQL asks for application/json: errors stay HTTP 200.
					res := e.Send(apptest.Request{Query: apptest.MeQuery, Header: map[string]string{"Accept": "application/json, multipart/mixed"}})
					apptest.WantError(t, res, "UNAUTHENTICATED", "missing_token")
				})
			}
		})
	}
}

func TestCookieModeSessions(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("ada", apptest.Password, models.RoleUser)
		login := func(t *testing.T) (access string, c *http.Cookie) {
			t.Helper()
			r := e.Send(apptest.Request{Query: apptest.LoginMutation, Vars: map[string]any{"u": "ada", "p": apptest.Password}})
			apptest.MustOK(t, r)
			return r.Payload(t, "login").AccessToken, e.WantRefreshCookie(t, r, true)
		}

		t.Run("logout without argument ends the cookie's session and clears it", func(t *testing.T) {
			access, c := login(t)
			r := e.Send(apptest.Request{Query: cookieLogoutMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}})
			if !apptest.Decode[bool](t, r, "logout") {
				t.Fatalf("logout = %s", r.Data["logout"])
			}
			apptest.WantCookieCleared(t, r)
			apptest.WantError(t, e.Do(apptest.Bearer(access), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
			r = e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}})
			apptest.WantError(t, r, "UNAUTHENTICATED", "refresh_token_invalid")
		})

		t.Run("logout without a CSRF header changes nothing", func(t *testing.T) {
			access, c := login(t)
			r := e.Send(apptest.Request{Query: cookieLogoutMutation, Cookies: []*http.Cookie{c}})
			if code, reason := r.Code(); code != "BAD_REQUEST" || reason != "csrf_header_missing" {
				t.Fatalf("got %q %q, want BAD_REQUEST csrf_header_missing: %s", code, reason, r.Body)
			}
			if r.Cookie(auth.RefreshCookieName) != nil {
				t.Fatal("a refused logout changed the cookie")
			}
			apptest.MustOK(t, e.Do(apptest.Bearer(access), apptest.MeQuery, nil))
		})

		t.Run("logout without a cookie is a no-op", func(t *testing.T) {
			r := e.Send(apptest.Request{Query: cookieLogoutMutation, Header: apptest.CSRF})
			if !apptest.Decode[bool](t, r, "logout") {
				t.Fatalf("logout = %s", r.Data["logout"])
			}
		})

		t.Run("logoutAll clears the cookie", func(t *testing.T) {
			access, _ := login(t)
			r := e.Send(apptest.Request{Query: cookieLogoutAllMutation, Authz: apptest.Bearer(access)})
			apptest.MustOK(t, r)
			apptest.WantCookieCleared(t, r)
		})

		t.Run("register puts the refresh token in the cookie", func(t *testing.T) {
			r := e.Send(apptest.Request{Query: registerOp, Vars: registerOpVars("newcomer", "newcomer@example.com", apptest.Password)})
			apptest.MustOK(t, r)
			if p := r.Payload(t, "register"); p.RefreshToken != "" || p.AccessToken == "" {
				t.Fatalf("register body: refreshToken %q; want null", p.RefreshToken)
			}
			c := e.WantRefreshCookie(t, r, true)
			apptest.MustOK(t, e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}}))
		})

		t.Run("changePassword puts the new refresh token in the cookie", func(t *testing.T) {
			access, old := login(t)
			r := e.Send(apptest.Request{Query: cookieChangePasswordMutation, Vars: map[string]any{"c": apptest.Password, "n": "a brand new passphrase"},
				Authz: apptest.Bearer(access)})
			apptest.MustOK(t, r)
			if p := r.Payload(t, "changePassword"); p.RefreshToken != "" || p.AccessToken == "" {
				t.Fatalf("changePassword body: refreshToken %q; want null", p.RefreshToken)
			}
			c := e.WantRefreshCookie(t, r, true)
			if c.Value == old.Value {
				t.Fatal("changePassword kept the old refresh token")
			}
			apptest.MustOK(t, e.Send(apptest.Request{Query: cookieRefreshMutation, Header: apptest.CSRF, Cookies: []*http.Cookie{c}}))
		})
	}, apptest.CookieMode)
}

func TestLogoutArgumentWithoutCookieMode(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		r := e.Send(apptest.Request{Query: cookieLogoutMutation, Header: apptest.CSRF})
		apptest.WantError(t, r, "BAD_USER_INPUT", "")
	})
}
