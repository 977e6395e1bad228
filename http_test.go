package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestHTTPLimits(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("kim", "correct horse battery", models.RoleUser)

		t.Run("mutation over GET is refused", func(t *testing.T) {
			q := url.QueryEscape(`mutation { login(username: "kim", password: "correct horse battery") { accessToken } }`)
			r := e.serve(httptest.NewRequest(http.MethodGet, "/query?query="+q, nil))
			if r.Status == http.StatusOK && len(r.Errors) == 0 {
				t.Fatalf("GET mutation executed: %d %s", r.Status, r.Body)
			}
			if strings.Contains(r.Body, "accessToken\":\"") {
				t.Fatalf("GET mutation returned a token: %s", r.Body)
			}
		})

		t.Run("body over 1 MiB is refused", func(t *testing.T) {
			body := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
			req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413", rec.Code)
			}
			// Without a Content-Length the limit still holds.
			req = httptest.NewRequest(http.MethodPost, "/query", struct{ *strings.Reader }{strings.NewReader(body)})
			req.ContentLength = -1
			req.Header.Set("Content-Type", "application/json")
			rec = httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code < 400 || rec.Code >= 500 {
				t.Fatalf("chunked oversized body: status = %d, want 4xx", rec.Code)
			}
		})

		t.Run("aliased logins are refused", func(t *testing.T) {
			var b strings.Builder
			b.WriteString("mutation {")
			for i := range 100 {
				fmt.Fprintf(&b, ` a%d: login(username: "kim", password: "guess%d") { accessToken }`, i, i)
			}
			b.WriteString(" }")
			r := e.do("", b.String(), nil)
			if code, _ := r.code(); code != "BAD_USER_INPUT" || r.Data["a0"] != nil {
				t.Fatalf("100 aliased logins: %d %s", r.Status, r.Body)
			}
			r = e.do("", `mutation { login(username: "kim", password: "x") { accessToken } refreshToken(refreshToken: "y") { accessToken } }`, nil)
			if code, _ := r.code(); code != "BAD_USER_INPUT" {
				t.Fatalf("login + refreshToken in one operation: %s", r.Body)
			}
			r = e.do("", `mutation { ...F ...F } fragment F on Mutation { login(username: "kim", password: "x") { accessToken } }`, nil)
			if code, _ := r.code(); code != "UNAUTHENTICATED" {
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
			r := e.do("", b.String(), nil)
			if code, _ := r.code(); code != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Fatalf("300 aliased me fields: %d %s", r.Status, r.Body)
			}
		})

		t.Run("undecodable body is a typed 400 without an echo", func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(`{"query": "mutation", "password": "hunter2-secret`))
			req.Header.Set("Content-Type", "application/json")
			r := e.serve(req)
			if code, _ := r.code(); r.Status != http.StatusBadRequest || code != "BAD_REQUEST" || strings.Contains(r.Body, "hunter2") {
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
				req := httptest.NewRequest(tc.method, "/query", strings.NewReader(`{"query":"{ me { id } }"}`))
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
				r := e.serve(req)
				if code, _ := r.code(); r.Status != tc.status || code != "BAD_REQUEST" {
					t.Errorf("%s %s: status %d body %s, want %d BAD_REQUEST", tc.method, tc.contentType, r.Status, r.Body, tc.status)
				}
			}
		})

		t.Run("health", func(t *testing.T) {
			for _, path := range []string{"/healthz", "/readyz"} {
				rec := httptest.NewRecorder()
				e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					t.Fatalf("GET %s = %d", path, rec.Code)
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
				e := newTestEnv(t, st, nil, func(c *config) { c.Playground = tc.playground })
				rec := httptest.NewRecorder()
				e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				served := rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "/query")
				if served != tc.playground {
					t.Fatalf("GET / = %d (playground served %v, want %v)", rec.Code, served, tc.playground)
				}
				r := e.do("", introspect, nil)
				if ok := len(r.Errors) == 0; ok != tc.playground {
					t.Fatalf("introspection allowed = %v, want %v: %s", ok, tc.playground, r.Body)
				}
			})
		}
	})
}

func TestLogsHoldNoSecrets(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		const password = "s3cret-Password-in-flight"
		e.createUser("lee", password, models.RoleUser)
		p := e.login("lee", password)
		r := e.refresh(p.RefreshToken)
		mustOK(t, r)
		p2 := r.payload(t, "refreshToken")
		e.refresh(p.RefreshToken) // reuse: logged as an event
		e.do(bearer(p2.AccessToken), meQuery, nil)
		e.do("", loginMutation, map[string]any{"u": "lee", "p": "wrong-" + password})

		logs := e.logs.String()
		for _, secret := range []string{password, p.AccessToken, p.RefreshToken, p2.AccessToken, p2.RefreshToken, testSecret} {
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
	})
}

func TestPurge(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("max", "correct horse battery", models.RoleUser)
		old := e.login("max", "correct horse battery")
		mustOK(t, e.refresh(old.RefreshToken))

		e.clock.Advance(8 * 24 * time.Hour)
		live := e.login("max", "correct horse battery")
		n, err := e.app.auth.Purge(context.Background())
		if err != nil || n == 0 {
			t.Fatalf("Purge() = %d, %v; want rows deleted", n, err)
		}
		// The purged token is unknown now; the live session is untouched.
		wantError(t, e.refresh(old.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		mustOK(t, e.refresh(live.RefreshToken))
	})
}

func TestRunServesAndShutsDown(t *testing.T) {
	// Exercise run() on a real port with an SQLite file, so the command path
	// (config, migrations, listener, graceful shutdown) is covered end to end.
	env := map[string]string{"JWT_SECRET": testSecret, "DATA_DIR": t.TempDir(), "ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, nil, pw) }()
	addr := readListenAddr(t, pr)
	go io.Copy(io.Discard, pr)

	body, _ := json.Marshal(map[string]any{"query": meQuery})
	resp, err := http.Post("http://"+addr+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /query = %d", resp.StatusCode)
	}
	// With neither GOGC nor GOMEMLIMIT in its environment, serve runs with
	// Ironclad's collector settings (gc.go) and puts the runtime's back.
	wantLimit := int64(gcBaseLimit + runtime.GOMAXPROCS(0)*int(auth.DefaultParams.Memory)<<10)
	if l := debug.SetMemoryLimit(-1); l != wantLimit {
		t.Errorf("memory limit while serving = %d, want %d", l, wantLimit)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run() after cancel = %v, want nil", err)
	}
	if l := debug.SetMemoryLimit(-1); l == wantLimit {
		t.Errorf("memory limit after run() = %d, want the runtime's own back", l)
	}
	pw.Close()
}

// readListenAddr reads the server's startup banner for its address.
func readListenAddr(t *testing.T, r io.Reader) string {
	t.Helper()
	const marker = "GraphQL endpoint: http://"
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), marker); ok {
			addr, _, _ := strings.Cut(rest, "/query")
			return addr
		}
	}
	t.Fatalf("server exited before listening: %v", sc.Err())
	return ""
}
