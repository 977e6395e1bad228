package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestHTTPLimits(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("kim", apptest.Password, models.RoleUser)

		t.Run("mutation over GET is refused", func(t *testing.T) {
			q := url.QueryEscape(`mutation { login(username: "kim", password: "` + apptest.Password + `") { accessToken } }`)
			r := e.Serve(httptest.NewRequest(http.MethodGet, app.GraphQLPath+"?query="+q, nil))
			if r.Status == http.StatusOK && len(r.Errors) == 0 {
				t.Fatalf("GET mutation executed: %d %s", r.Status, r.Body)
			}
			if strings.Contains(r.Body, "accessToken\":\"") {
				t.Fatalf("GET mutation returned a token: %s", r.Body)
			}
		})

		t.Run("body over 1 MiB is refused", func(t *testing.T) {
			body := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
			req := httptest.NewRequest(http.MethodPost, app.GraphQLPath, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if r := e.Serve(req); r.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413", r.Status)
			}
			// Without a Content-Length the limit still holds.
			req = httptest.NewRequest(http.MethodPost, app.GraphQLPath, struct{ *strings.Reader }{strings.NewReader(body)})
			req.ContentLength = -1
			req.Header.Set("Content-Type", "application/json")
			if r := e.Serve(req); r.Status < 400 || r.Status >= 500 {
				t.Fatalf("chunked oversized body: status = %d, want 4xx", r.Status)
			}
		})

		t.Run("aliased logins are refused", func(t *testing.T) {
			var b strings.Builder
			b.WriteString("mutation {")
			for i := range 100 {
				fmt.Fprintf(&b, ` a%d: login(username: "kim", password: "guess%d") { accessToken }`, i, i)
			}
			b.WriteString(" }")
			r := e.Do("", b.String(), nil)
			if code, _ := r.Code(); code != "BAD_USER_INPUT" || r.Data["a0"] != nil {
				t.Fatalf("100 aliased logins: %d %s", r.Status, r.Body)
			}
			r = e.Do("", `mutation { login(username: "kim", password: "x") { accessToken } refreshToken(refreshToken: "y") { accessToken } }`, nil)
			if code, _ := r.Code(); code != "BAD_USER_INPUT" {
				t.Fatalf("login + refreshToken in one operation: %s", r.Body)
			}
			r = e.Do("", `mutation { ...F ...F } fragment F on Mutation { login(username: "kim", password: "x") { accessToken } }`, nil)
			if code, _ := r.Code(); code != "UNAUTHENTICATED" {
				t.Fatalf("a repeated fragment is one field and should execute once: %s", r.Body)
			}
		})

		t.Run("query complexity is limited", func(t *testing.T) {
			var b strings.Builder
			b.WriteString("{")
			for i := range 300 {
				fmt.Fprintf(&b, " m%d: me { id }", i)
			}
			b.WriteString(" }")
			r := e.Do("", b.String(), nil)
			if code, _ := r.Code(); code != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Fatalf("300 aliased me fields: %d %s", r.Status, r.Body)
			}
		})

		t.Run("undecodable body is a typed 400 without an echo", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, app.GraphQLPath, strings.NewReader(`{"query": "mutation", "password": "hunter2-secret`))
			req.Header.Set("Content-Type", "application/json")
			r := e.Serve(req)
			if code, _ := r.Code(); r.Status != http.StatusBadRequest || code != "BAD_REQUEST" || strings.Contains(r.Body, "hunter2") {
				t.Fatalf("status %d body %s", r.Status, r.Body)
			}
		})

		t.Run("unsupported method or media type is a typed error", func(t *testing.T) {
			for _, tc := range []struct {
				method, contentType string
				status              int
			}{
				{http.MethodPut, "application/json", http.StatusMethodNotAllowed},
				{http.MethodDelete, "", http.StatusMethodNotAllowed},
				{http.MethodPost, "text/plain", http.StatusUnsupportedMediaType},
				{http.MethodPost, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
			} {
				req := httptest.NewRequest(tc.method, app.GraphQLPath, strings.NewReader(`{"query":"{ me { id } }"}`))
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
				r := e.Serve(req)
				if code, _ := r.Code(); r.Status != tc.status || code != "BAD_REQUEST" {
					t.Errorf("%s %s: status %d body %s, want %d BAD_REQUEST", tc.method, tc.contentType, r.Status, r.Body, tc.status)
				}
			}
		})

		t.Run("health", func(t *testing.T) {
			for _, path := range []string{"/healthz", "/readyz"} {
				if r := e.Serve(httptest.NewRequest(http.MethodGet, path, nil)); r.Status != http.StatusOK {
					t.Fatalf("GET %s = %d", path, r.Status)
				}
			}
		})
	})
}

func TestPlaygroundAndIntrospection(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		introspect := `{ __schema { queryType { name } } }`
		for _, tc := range []struct {
			name       string
			playground bool
		}{{"development", true}, {"production without PLAYGROUND", false}} {
			t.Run(tc.name, func(t *testing.T) {
				e := apptest.New(t, st, nil, func(c *app.Config) { c.Playground = tc.playground })
				page := e.Serve(httptest.NewRequest(http.MethodGet, "/", nil))
				served := page.Status == http.StatusOK && strings.Contains(page.Body, app.GraphQLPath)
				if served != tc.playground {
					t.Fatalf("GET / = %d (playground served %v, want %v)", page.Status, served, tc.playground)
				}
				r := e.Do("", introspect, nil)
				if ok := len(r.Errors) == 0; ok != tc.playground {
					t.Fatalf("introspection allowed = %v, want %v: %s", ok, tc.playground, r.Body)
				}
			})
		}
	})
}

func TestLogsHoldNoSecrets(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		const password = "s3cret-Password-in-flight"
		e.CreateUser("lee", password, models.RoleUser)
		p := e.Login("lee", password)
		r := e.Refresh(p.RefreshToken)
		apptest.MustOK(t, r)
		p2 := r.Payload(t, "refreshToken")
		e.Refresh(p.RefreshToken) // reuse: logged as an event
		e.Do(apptest.Bearer(p2.AccessToken), apptest.MeQuery, nil)
		e.Do("", apptest.LoginMutation, map[string]any{"u": "lee", "p": "wrong-" + password})

		logs := e.Logs.String()
		for _, secret := range []string{password, p.AccessToken, p.RefreshToken, p2.AccessToken, p2.RefreshToken, apptest.Secret} {
			if strings.Contains(logs, secret) {
				t.Fatalf("logs contain a secret %.12q...", secret)
			}
		}
		for _, event := range []string{"login_succeeded", "login_failed", "token_refreshed", "refresh_token_reused"} {
			if !strings.Contains(logs, event) {
				t.Errorf("logs lack the %s event", event)
			}
		}
		// One access line a request: method, path, status and duration only.
		if !strings.Contains(logs, `"msg":"request","method":"POST","path":"/query","status":200,"duration":`) {
			t.Errorf("logs lack the access line of a request:\n%s", logs)
		}
	}, strictReuse)
}

func TestPurge(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("max", apptest.Password, models.RoleUser)
		old := e.Login("max", apptest.Password)
		apptest.MustOK(t, e.Refresh(old.RefreshToken))

		e.Clock.Advance(8 * 24 * time.Hour)
		live := e.Login("max", apptest.Password)
		n, err := e.App.Auth.Purge(context.Background())
		if err != nil || n == 0 {
			t.Fatalf("Purge() = %d, %v; want rows deleted", n, err)
		}
		// The purged token is unknown now; the live session is untouched.
		apptest.WantError(t, e.Refresh(old.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		apptest.MustOK(t, e.Refresh(live.RefreshToken))
	})
}

// PASSWORD_MIN_LENGTH reaches the register mutation.
func TestPasswordMinLengthApplies(t *testing.T) {
	const register = `mutation($in: RegisterInput!) { register(input: $in) { ` + apptest.PayloadFields + ` } }`
	vars := func(password string) map[string]any {
		return map[string]any{"in": map[string]any{"username": "okname", "email": "ok@example.com", "password": password}}
	}
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		apptest.WantField(t, e.Do("", register, vars("Xk3!mq9zT2a")), "password")
		apptest.MustOK(t, e.Do("", register, vars("Xk3!mq9zT2ab")))
	}, func(c *app.Config) { c.MinPasswordLen = 12 })
}
