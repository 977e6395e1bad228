package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// testSecret is a 32-byte key used only by tests.
const testSecret = "test-secret-0123456789abcdefghij"

// fastHash keeps argon2id cheap under -race; production uses DefaultParams.
var fastHash = auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable time source shared by a test and its server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is one Ironclad server on a test database.
type testEnv struct {
	t       *testing.T
	app     *app
	handler http.Handler
	clock   *clock
	logs    *syncBuffer
}

func testConfig(t *testing.T) config {
	t.Helper()
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"JWT_SECRET": testSecret, "DATA_DIR": t.TempDir()}[k]
	})
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	cfg.HashParams = fastHash
	return cfg
}

// newTestEnv builds the real handler on st. Several environments may share
// one clock to act as replicas of one deployment.
func newTestEnv(t *testing.T, st *store.Store, c *clock, mutate ...func(*config)) *testEnv {
	t.Helper()
	cfg := testConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	if c == nil {
		c = newClock()
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := newApp(cfg, st, log, c.Now)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	return &testEnv{t: t, app: a, handler: newHandler(a), clock: c, logs: logs}
}

// gqlError is one entry of a GraphQL response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Body   string
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

// code returns extensions.code and extensions.reason of the first error.
func (r gqlResponse) code() (code, reason string) {
	if len(r.Errors) == 0 {
		return "", ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	re, _ := r.Errors[0].Extensions["reason"].(string)
	return c, re
}

// do posts one GraphQL operation through the real handler.
func (e *testEnv) do(authz, query string, vars map[string]any) gqlResponse {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ironclad-test")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return e.serve(req)
}

func (e *testEnv) serve(req *http.Request) gqlResponse {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Result().Body)
	resp := gqlResponse{Status: rec.Code, Body: string(raw)}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/") {
		if err := json.Unmarshal(raw, &resp); err != nil {
			e.t.Fatalf("response is not JSON: %v\n%s", err, raw)
		}
	}
	return resp
}

// mustOK fails the test unless r is HTTP 200 without errors.
func mustOK(t *testing.T, r gqlResponse) {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("status %d, body %s", r.Status, r.Body)
	}
}

// wantError fails unless r is HTTP 200 with the given code and reason.
func wantError(t *testing.T, r gqlResponse, code, reason string) {
	t.Helper()
	gotCode, gotReason := r.code()
	if r.Status != http.StatusOK || gotCode != code || gotReason != reason {
		t.Fatalf("got status %d code %q reason %q, want 200 %q %q; body %s", r.Status, gotCode, gotReason, code, reason, r.Body)
	}
}

type payload struct {
	AccessToken      string `json:"accessToken"`
	RefreshToken     string `json:"refreshToken"`
	TokenType        string `json:"tokenType"`
	ExpiresIn        int    `json:"expiresIn"`
	RefreshExpiresIn int    `json:"refreshExpiresIn"`
	User             struct {
		ID          string  `json:"id"`
		Username    string  `json:"username"`
		Email       *string `json:"email"`
		Role        string  `json:"role"`
		LastLoginAt *string `json:"lastLoginAt"`
	} `json:"user"`
}

const payloadFields = `accessToken refreshToken tokenType expiresIn refreshExpiresIn user { id username email role lastLoginAt }`

const loginMutation = `mutation($u: String!, $p: String!) { login(username: $u, password: $p) { ` + payloadFields + ` } }`
const refreshMutation = `mutation($t: String!) { refreshToken(refreshToken: $t) { ` + payloadFields + ` } }`
const meQuery = `{ me { id username email role createdAt lastLoginAt } }`

func (r gqlResponse) payload(t *testing.T, field string) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal(r.Data[field], &p); err != nil {
		t.Fatalf("decode %s: %v; body %s", field, err, r.Body)
	}
	return p
}

// createUser stores an account through the service, as the CLI does.
func (e *testEnv) createUser(username, password string, role models.Role) *models.User {
	e.t.Helper()
	u, err := e.app.auth.CreateUser(context.Background(), auth.NewUser{Username: username, Email: username + "@example.com", Password: password, Role: role})
	if err != nil {
		e.t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

func (e *testEnv) login(username, password string) payload {
	e.t.Helper()
	r := e.do("", loginMutation, map[string]any{"u": username, "p": password})
	mustOK(e.t, r)
	return r.payload(e.t, "login")
}

func (e *testEnv) refresh(token string) gqlResponse {
	e.t.Helper()
	return e.do("", refreshMutation, map[string]any{"t": token})
}

func bearer(token string) string { return "Bearer " + token }

// replicaPair returns two servers on two stores sharing one fresh database
// of the given kind and one clock: two replicas of one deployment.
func replicaPair(t *testing.T, kind string, mutate ...func(*config)) (a, b *testEnv) {
	t.Helper()
	dsn, st := storetest.OpenDSN(t, kind)
	st2, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	storetest.Listening(t, st2) // on Postgres, b hears a's changes from the start
	c := newClock()
	return newTestEnv(t, st, c, mutate...), newTestEnv(t, st2, c, mutate...)
}

// refreshConcurrently presents one refresh token n times at once, spread
// over envs (replicas), and returns every answer.
func refreshConcurrently(envs []*testEnv, token string, n int) []gqlResponse {
	results := make([]gqlResponse, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = envs[i%len(envs)].refresh(token)
		}()
	}
	close(start)
	wg.Wait()
	return results
}
