// Package apptest is the one test harness of Ironclad's HTTP application:
// it builds the real handler (app.New + Handler) on a fresh SQLite store,
// and on Postgres when TEST_DATABASE_URL is set, with a settable clock and a
// captured log, and posts GraphQL to it as any client would. Tests of every
// package (auth, graph, store, app, the command) use it through their
// external test packages.
package apptest

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

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/internal/requestid"
	"github.com/ironclad-auth/ironclad/internal/testclock"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// Secret is a 32-byte key used only by tests.
const Secret = "test-secret-0123456789abcdefghij"

// Password is accepted by every password rule.
const Password = "correct horse battery"

// FastHash keeps argon2id cheap under -race; production uses DefaultParams.
var FastHash = auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// GraphQL documents most tests send.
const (
	PayloadFields   = `accessToken refreshToken tokenType expiresIn refreshExpiresIn user { id username email role lastLoginAt }`
	LoginMutation   = `mutation($u: String!, $p: String!) { login(username: $u, password: $p) { ` + PayloadFields + ` } }`
	RefreshMutation = `mutation($t: String!) { refreshToken(refreshToken: $t) { ` + PayloadFields + ` } }`
	MeQuery         = `{ me { id username email role createdAt lastLoginAt } }`
)

// Env is one Ironclad server on a test database.
type Env struct {
	T       testing.TB
	App     *app.App
	Handler http.Handler
	Clock   *testclock.Clock
	Logs    *Logs
	server  *httptest.Server // URL's listener, started on first use
}

// Config returns the configuration of a test server: the environment a
// developer would give (a test secret, a temporary data folder) and a cheap
// password hash.
func Config(t testing.TB, env map[string]string) app.Config {
	t.Helper()
	vars := map[string]string{"JWT_SECRET": Secret, "DATA_DIR": t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	cfg.HashParams = FastHash
	return cfg
}

// New builds the real handler on st. Several environments may share one
// clock to act as replicas of one deployment; a nil clock makes a new one.
func New(t testing.TB, st *store.Store, c *testclock.Clock, mutate ...func(*app.Config)) *Env {
	t.Helper()
	cfg := Config(t, nil)
	for _, m := range mutate {
		m(&cfg)
	}
	if c == nil {
		c = testclock.New()
	}
	logs := &Logs{}
	log := slog.New(requestid.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a, err := app.New(cfg, st, log, c.Now)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	// Before the store closes (cleanups run last first): the audit writer
	// flushes into it.
	t.Cleanup(func() { a.Audit.Close(context.Background()) })
	t.Cleanup(a.Live.Close)
	return &Env{T: t, App: a, Handler: a.Handler(), Clock: c, Logs: logs}
}

// Open is New on a fresh store of kind ("sqlite" or "postgres").
func Open(t testing.TB, kind string, mutate ...func(*app.Config)) *Env {
	t.Helper()
	return New(t, storetest.Open(t, kind), nil, mutate...)
}

// ForEach runs fn in a subtest per database kind (storetest.Kinds), each
// with a fresh server.
func ForEach(t *testing.T, fn func(t *testing.T, e *Env), mutate ...func(*app.Config)) {
	t.Helper()
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) { fn(t, Open(t, kind, mutate...)) })
	}
}

// Pair returns two servers on two stores sharing one fresh database of the
// given kind and one clock: two replicas of one deployment.
func Pair(t testing.TB, kind string, mutate ...func(*app.Config)) (a, b *Env) {
	t.Helper()
	dsn, st := storetest.OpenDSN(t, kind)
	st2, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	storetest.Listening(t, st2) // on Postgres, b hears a's changes from the start
	c := testclock.New()
	return New(t, st, c, mutate...), New(t, st2, c, mutate...)
}

// Request is one POST /query with everything a client may add.
type Request struct {
	Query      string
	Vars       map[string]any
	Authz      string            // the Authorization header
	Header     map[string]string // more headers
	Cookies    []*http.Cookie
	RemoteAddr string // default: httptest's 192.0.2.1:1234
	UserAgent  string // default: ironclad-test
}

// HTTP builds the *http.Request of r.
func (r Request) HTTP(t testing.TB) *http.Request {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": r.Query, "variables": r.Vars})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, app.GraphQLPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ironclad-test")
	if r.UserAgent != "" {
		req.Header.Set("User-Agent", r.UserAgent)
	}
	if r.Authz != "" {
		req.Header.Set("Authorization", r.Authz)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	for _, c := range r.Cookies {
		req.AddCookie(c)
	}
	if r.RemoteAddr != "" {
		req.RemoteAddr = r.RemoteAddr
	}
	return req
}

// Send posts r through the real handler.
func (e *Env) Send(r Request) Response {
	e.T.Helper()
	return e.Serve(r.HTTP(e.T))
}

// Do posts one GraphQL operation with an Authorization header (none when
// authz is empty).
func (e *Env) Do(authz, query string, vars map[string]any) Response {
	e.T.Helper()
	return e.Send(Request{Query: query, Vars: vars, Authz: authz})
}

// Serve serves any request through the real handler and decodes a JSON
// body when there is one.
func (e *Env) Serve(req *http.Request) Response {
	e.T.Helper()
	rec := httptest.NewRecorder()
	e.Handler.ServeHTTP(rec, req)
	res := rec.Result()
	raw, _ := io.ReadAll(res.Body)
	out := Response{Status: rec.Code, Body: string(raw), Header: res.Header}
	if len(raw) > 0 && raw[0] == '{' && strings.HasPrefix(res.Header.Get("Content-Type"), "application/") {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.T.Fatalf("response is not JSON: %v\n%s", err, raw)
		}
	}
	return out
}

// Error is one entry of a GraphQL response's errors.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a served request: its status, headers and body, and the
// GraphQL data and errors when the body is JSON.
type Response struct {
	Status int                        `json:"-"`
	Body   string                     `json:"-"`
	Header http.Header                `json:"-"`
	Data   map[string]json.RawMessage `json:"data"`
	Errors []Error                    `json:"errors"`
}

// Code returns extensions.code and extensions.reason of the first error.
func (r Response) Code() (code, reason string) {
	if len(r.Errors) == 0 {
		return "", ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	re, _ := r.Errors[0].Extensions["reason"].(string)
	return c, re
}

// Fields returns the extensions.field of every error of r, in order.
func (r Response) Fields() []string {
	var out []string
	for _, e := range r.Errors {
		f, _ := e.Extensions["field"].(string)
		out = append(out, f)
	}
	return out
}

// Cookie returns the Set-Cookie of name in the response, or nil.
func (r Response) Cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// MustOK fails the test unless r is HTTP 200 without errors.
func MustOK(t testing.TB, r Response) {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("status %d, body %s", r.Status, r.Body)
	}
}

// WantError fails unless r is HTTP 200 with the given code and reason.
func WantError(t testing.TB, r Response, code, reason string) {
	t.Helper()
	gotCode, gotReason := r.Code()
	if r.Status != http.StatusOK || gotCode != code || gotReason != reason {
		t.Fatalf("got status %d code %q reason %q, want 200 %q %q; body %s", r.Status, gotCode, gotReason, code, reason, r.Body)
	}
}

// WantField fails unless r has a BAD_USER_INPUT error whose
// extensions.field names field.
func WantField(t testing.TB, r Response, field string) {
	t.Helper()
	for _, e := range r.Errors {
		if e.Extensions["code"] == "BAD_USER_INPUT" && e.Extensions["field"] == field {
			return
		}
	}
	t.Fatalf("want BAD_USER_INPUT on field %q; body %s", field, r.Body)
}

// Into unmarshals r.Data[field] into dst, whatever the errors.
func Into(t testing.TB, r Response, field string, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.Data[field], dst); err != nil {
		t.Fatalf("decode %s: %v; body %s", field, err, r.Body)
	}
}

// Decode fails unless r succeeded, and returns its data field as a T
// (usually a graph/model type).
func Decode[T any](t testing.TB, r Response, field string) T {
	t.Helper()
	MustOK(t, r)
	var v T
	Into(t, r, field, &v)
	return v
}

// Payload is an AuthPayload as a test reads it: the generated type, with
// the refresh token as a plain string ("" in cookie mode).
type Payload struct {
	model.AuthPayload
	RefreshToken string `json:"refreshToken"`
}

// Payload decodes field as an AuthPayload.
func (r Response) Payload(t testing.TB, field string) Payload {
	t.Helper()
	var p Payload
	Into(t, r, field, &p)
	return p
}

// Bearer is the Authorization header of token.
func Bearer(token string) string { return "Bearer " + token }

// CreateUser stores an account through the service, as the CLI does.
func (e *Env) CreateUser(username, password string, role models.Role) *models.User {
	e.T.Helper()
	u, err := e.App.Auth.Accounts.Create(context.Background(), auth.NewUser{Username: username, Email: username + "@example.com", Password: password, Role: role})
	if err != nil {
		e.T.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

// Login logs username in and fails the test unless it succeeds.
func (e *Env) Login(username, password string) Payload {
	e.T.Helper()
	r := e.Do("", LoginMutation, map[string]any{"u": username, "p": password})
	MustOK(e.T, r)
	return r.Payload(e.T, "login")
}

// Settle waits until the store has heard back, on each notification
// channel, every change committed so far (store.Sync): a cache entry filled
// after it is not dropped by a late notification of an earlier write.
func (e *Env) Settle() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.App.Store.Sync(ctx); err != nil {
		e.T.Fatalf("store.Sync: %v", err)
	}
}

// Refresh presents a refresh token.
func (e *Env) Refresh(token string) Response {
	e.T.Helper()
	return e.Do("", RefreshMutation, map[string]any{"t": token})
}

// Actor is one caller of the API: a header and, for a user, who it is.
type Actor struct {
	Name   string
	Header string
	User   *models.User
}

// Session creates a user with role and Password, and logs them in.
func (e *Env) Session(username string, role models.Role) Actor {
	e.T.Helper()
	u := e.CreateUser(username, Password, role)
	return Actor{Name: username, Header: Bearer(e.Login(username, Password).AccessToken), User: u}
}

// PersonalToken creates a personal access token for a with scopes, through
// the API, and returns a caller using it.
func (e *Env) PersonalToken(a Actor, scopes ...models.Scope) Actor {
	e.T.Helper()
	r := e.Do(a.Header, `mutation($s: [Scope!]!) { createPersonalAccessToken(name: "ci", scopes: $s) { token personalAccessToken { id } } }`,
		map[string]any{"s": scopes})
	out := Decode[model.NewPersonalAccessToken](e.T, r, "createPersonalAccessToken")
	return Actor{Name: a.Name + " token", Header: Bearer(out.Token), User: a.User}
}

// RefreshConcurrently presents one refresh token n times at once, spread
// over envs (replicas), and returns every answer.
func RefreshConcurrently(envs []*Env, token string, n int) []Response {
	results := make([]Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = envs[i%len(envs)].Refresh(token)
		}()
	}
	close(start)
	wg.Wait()
	return results
}

// CookieMode turns on refresh-token cookies.
func CookieMode(c *app.Config) { c.RefreshTokenCookie = true }

// CSRF is a header that marks a request as sent by script.
var CSRF = map[string]string{"X-Requested-With": "XMLHttpRequest"}
