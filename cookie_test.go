package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

const cookieRefreshMutation = `mutation { refreshToken { ` + payloadFields + ` } }`

// wantRefreshCookie fails unless r sets a live refresh cookie with every
// protective attribute, and returns it.
func wantRefreshCookie(t *testing.T, r httpResult, secure bool) *http.Cookie {
	t.Helper()
	c := r.cookie(auth.RefreshCookieName)
	if c == nil || c.Value == "" {
		t.Fatalf("no refresh cookie set; Set-Cookie %q", r.Header.Values("Set-Cookie"))
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/query" || c.Secure != secure {
		t.Fatalf("cookie %q: HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /query, Secure=%v",
			c.Name, c.HttpOnly, c.SameSite, c.Path, c.Secure, secure)
	}
	if c.MaxAge != int((7 * 24 * time.Hour).Seconds()) {
		t.Fatalf("cookie Max-Age = %d, want the refresh-token lifetime", c.MaxAge)
	}
	return c
}

// wantCleared fails unless r deletes the refresh cookie.
func wantCleared(t *testing.T, r httpResult) {
	t.Helper()
	c := r.cookie(auth.RefreshCookieName)
	if c == nil || c.Value != "" || c.MaxAge >= 0 || c.Path != "/query" {
		t.Fatalf("refresh cookie not cleared; Set-Cookie %q", r.Header.Values("Set-Cookie"))
	}
}

func TestCookieMode(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil, cookieMode)
		e.createUser("cleo", "correct horse battery", models.RoleUser)
		loginVars := map[string]any{"u": "cleo", "p": "correct horse battery"}

		login := func(t *testing.T) *http.Cookie {
			t.Helper()
			r := e.send(browserRequest{query: loginMutation, vars: loginVars})
			mustOKResult(t, r)
			if p := r.payload(t, "login"); p.RefreshToken != "" || p.AccessToken == "" {
				t.Fatalf("login body: refreshToken %q, accessToken %q; want null and a token", p.RefreshToken, p.AccessToken)
			}
			if !strings.Contains(r.Body, `"refreshToken":null`) {
				t.Fatalf("refreshToken is not null in the body: %s", r.Body)
			}
			return wantRefreshCookie(t, r, true)
		}

		t.Run("login sets the cookie and leaves the token out of the body", func(t *testing.T) {
			login(t)
		})

		t.Run("refreshToken without argument reads the cookie and rotates it", func(t *testing.T) {
			c := login(t)
			for _, header := range []map[string]string{csrf, {"Apollo-Require-Preflight": "true"}} {
				r := e.send(browserRequest{query: cookieRefreshMutation, header: header, cookies: []*http.Cookie{c}})
				mustOKResult(t, r)
				p := r.payload(t, "refreshToken")
				if p.RefreshToken != "" || p.User.Username != "cleo" {
					t.Fatalf("refresh body = %+v; want null refreshToken for cleo", p)
				}
				next := wantRefreshCookie(t, r, true)
				if next.Value == c.Value {
					t.Fatal("refresh did not rotate the cookie")
				}
				mustOK(t, e.do(bearer(p.AccessToken), meQuery, nil))
				c = next
			}
		})

		t.Run("without a CSRF header the cookie is not used", func(t *testing.T) {
			c := login(t)
			r := e.send(browserRequest{query: cookieRefreshMutation, cookies: []*http.Cookie{c}})
			gotCode, gotReason := r.code()
			if r.Status != http.StatusOK || gotCode != "BAD_REQUEST" || gotReason != "csrf_header_missing" {
				t.Fatalf("got %d %q %q, want 200 BAD_REQUEST csrf_header_missing: %s", r.Status, gotCode, gotReason, r.Body)
			}
			if r.cookie(auth.RefreshCookieName) != nil {
				t.Fatal("a refused request changed the cookie")
			}
			// Nothing was rotated: the cookie still works with the header.
			mustOKResult(t, e.send(browserRequest{query: cookieRefreshMutation, header: csrf, cookies: []*http.Cookie{c}}))
		})

		t.Run("no cookie", func(t *testing.T) {
			r := e.send(browserRequest{query: cookieRefreshMutation, header: csrf})
			wantError(t, r.gqlResponse, "UNAUTHENTICATED", "refresh_token_invalid")
		})

		t.Run("an explicit argument does not need the CSRF header", func(t *testing.T) {
			first := login(t)
			r := e.send(browserRequest{query: refreshMutation, vars: map[string]any{"t": first.Value}})
			mustOKResult(t, r)
			if p := r.payload(t, "refreshToken"); p.RefreshToken != "" {
				t.Fatalf("cookie mode returned a refresh token in the body")
			}
			wantRefreshCookie(t, r, true)
		})

		t.Run("a reused cookie ends the session and is cleared", func(t *testing.T) {
			c := login(t)
			mustOKResult(t, e.send(browserRequest{query: cookieRefreshMutation, header: csrf, cookies: []*http.Cookie{c}}))
			r := e.send(browserRequest{query: cookieRefreshMutation, header: csrf, cookies: []*http.Cookie{c}})
			wantError(t, r.gqlResponse, "UNAUTHENTICATED", "refresh_token_reused")
			wantCleared(t, r)
		})
	})
}

func TestCookieModeInsecureForLocalhost(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil, cookieMode, func(c *config) { c.CookieSecure = false })
		e.createUser("dev", "correct horse battery", models.RoleUser)
		r := e.send(browserRequest{query: loginMutation, vars: map[string]any{"u": "dev", "p": "correct horse battery"}})
		mustOKResult(t, r)
		wantRefreshCookie(t, r, false)
	})
}

func TestBodyModeIgnoresCookies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("bobby", "correct horse battery", models.RoleUser)
		r := e.send(browserRequest{query: loginMutation, vars: map[string]any{"u": "bobby", "p": "correct horse battery"}})
		mustOKResult(t, r)
		p := r.payload(t, "login")
		if p.RefreshToken == "" || len(r.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("body mode: refreshToken %q, Set-Cookie %q; want a token and no cookie", p.RefreshToken, r.Header.Values("Set-Cookie"))
		}
		// The argument is required when there is no cookie mode, whatever
		// cookies arrive.
		r = e.send(browserRequest{query: cookieRefreshMutation, header: csrf,
			cookies: []*http.Cookie{{Name: auth.RefreshCookieName, Value: p.RefreshToken}}})
		wantError(t, r.gqlResponse, "BAD_USER_INPUT", "")
		if f, _ := r.Errors[0].Extensions["field"].(string); f != "refreshToken" {
			t.Fatalf("extensions.field = %q, want refreshToken", f)
		}
		mustOK(t, e.refresh(p.RefreshToken))
	})
}

func TestPlaygroundInCookieMode(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		for _, tc := range []struct {
			name   string
			mutate func(*config)
		}{{"body mode", func(*config) {}}, {"cookie mode", cookieMode}} {
			t.Run(tc.name, func(t *testing.T) {
				e := newTestEnv(t, st, nil, tc.mutate)
				r := e.roundTrip(httptestRequest(http.MethodGet, "/"))
				// The playground's fetcher sends the CSRF header, so
				// refreshToken without an argument works from it.
				if r.Status != http.StatusOK || !strings.Contains(r.Body, `"X-Requested-With":"graphiql"`) {
					t.Fatalf("GET / = %d; page lacks the fetcher's CSRF header", r.Status)
				}
				// GraphiQL asks for application/json: errors stay HTTP 200.
				res := e.send(browserRequest{query: meQuery, header: map[string]string{"Accept": "application/json, multipart/mixed"}})
				wantError(t, res.gqlResponse, "UNAUTHENTICATED", "missing_token")
			})
		}
	})
}

const cookieLogoutMutation = `mutation { logout }`

func TestCookieModeSessions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil, cookieMode)
		e.createUser("ada", "correct horse battery", models.RoleUser)
		login := func(t *testing.T) (access string, c *http.Cookie) {
			t.Helper()
			r := e.send(browserRequest{query: loginMutation, vars: map[string]any{"u": "ada", "p": "correct horse battery"}})
			mustOKResult(t, r)
			return r.payload(t, "login").AccessToken, wantRefreshCookie(t, r, true)
		}

		t.Run("logout without argument ends the cookie's session and clears it", func(t *testing.T) {
			access, c := login(t)
			r := e.send(browserRequest{query: cookieLogoutMutation, header: csrf, cookies: []*http.Cookie{c}})
			mustOKResult(t, r)
			if string(r.Data["logout"]) != "true" {
				t.Fatalf("logout = %s", r.Data["logout"])
			}
			wantCleared(t, r)
			wantError(t, e.do(bearer(access), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
			r = e.send(browserRequest{query: cookieRefreshMutation, header: csrf, cookies: []*http.Cookie{c}})
			wantError(t, r.gqlResponse, "UNAUTHENTICATED", "refresh_token_invalid")
		})

		t.Run("logout without a CSRF header changes nothing", func(t *testing.T) {
			access, c := login(t)
			r := e.send(browserRequest{query: cookieLogoutMutation, cookies: []*http.Cookie{c}})
			if code, reason := r.code(); code != "BAD_REQUEST" || reason != "csrf_header_missing" {
				t.Fatalf("got %q %q, want BAD_REQUEST csrf_header_missing: %s", code, reason, r.Body)
			}
			if r.cookie(auth.RefreshCookieName) != nil {
				t.Fatal("a refused logout changed the cookie")
			}
			mustOK(t, e.do(bearer(access), meQuery, nil))
		})

		t.Run("logout without a cookie is a no-op", func(t *testing.T) {
			r := e.send(browserRequest{query: cookieLogoutMutation, header: csrf})
			mustOKResult(t, r)
			if string(r.Data["logout"]) != "true" {
				t.Fatalf("logout = %s", r.Data["logout"])
			}
		})

		t.Run("logoutAll clears the cookie", func(t *testing.T) {
			access, _ := login(t)
			r := e.send(browserRequest{query: logoutAllMutation, header: map[string]string{"Authorization": bearer(access)}})
			mustOKResult(t, r)
			wantCleared(t, r)
		})

		t.Run("register puts the refresh token in the cookie", func(t *testing.T) {
			r := e.send(browserRequest{query: registerMutation, vars: registerVars("newcomer", "newcomer@example.com", testPassword)})
			mustOKResult(t, r)
			if p := r.payload(t, "register"); p.RefreshToken != "" || p.AccessToken == "" {
				t.Fatalf("register body: refreshToken %q; want null", p.RefreshToken)
			}
			c := wantRefreshCookie(t, r, true)
			mustOKResult(t, e.send(browserRequest{query: cookieRefreshMutation, header: csrf, cookies: []*http.Cookie{c}}))
		})

		t.Run("changePassword puts the new refresh token in the cookie", func(t *testing.T) {
			access, old := login(t)
			r := e.send(browserRequest{query: changePasswordMut, vars: map[string]any{"c": "correct horse battery", "n": "a brand new passphrase"},
				header: map[string]string{"Authorization": bearer(access)}})
			mustOKResult(t, r)
			if p := r.payload(t, "changePassword"); p.RefreshToken != "" || p.AccessToken == "" {
				t.Fatalf("changePassword body: refreshToken %q; want null", p.RefreshToken)
			}
			c := wantRefreshCookie(t, r, true)
			if c.Value == old.Value {
				t.Fatal("changePassword kept the old refresh token")
			}
			mustOKResult(t, e.send(browserRequest{query: cookieRefreshMutation, header: csrf, cookies: []*http.Cookie{c}}))
		})
	})
}

func TestLogoutArgumentWithoutCookieMode(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		r := e.send(browserRequest{query: cookieLogoutMutation, header: csrf})
		wantError(t, r.gqlResponse, "BAD_USER_INPUT", "")
	})
}
