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
	"testing"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// Benchmarks of whole requests through the real handler (httptest, no
// network), on SQLite and, when TEST_DATABASE_URL is set, on Postgres. The
// load harness in bench/ measures the same paths over real sockets.
//
//	go test -run '^$' -bench . -benchmem .

// benchEnv is one server for a benchmark: the real handler on a fresh store.
type benchEnv struct {
	b       *testing.B
	app     *app
	handler http.Handler
}

// newBenchEnv builds the real handler on a fresh store of kind. Logs are
// discarded (as a production server writing JSON to a pipe would cost about
// the same, the text handler still formats every line).
func newBenchEnv(b *testing.B, kind string, params auth.Params) *benchEnv {
	b.Helper()
	_, st := storetest.OpenDSN(b, kind)
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"JWT_SECRET": testSecret, "DATA_DIR": b.TempDir()}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	cfg.HashParams = params
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	a, err := newApp(cfg, st, log, newClock().Now)
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{b: b, app: a, handler: newHandler(a)}
}

// request builds one GraphQL POST.
func gqlRequest(b testing.TB, authz, query string, vars map[string]any) *http.Request {
	b.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return req
}

// post serves one GraphQL operation and fails the benchmark unless it
// succeeded; it returns the response body.
func (e *benchEnv) post(authz, query string, vars map[string]any) []byte {
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, gqlRequest(e.b, authz, query, vars))
	if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		e.b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func (e *benchEnv) login(username, password string) payload {
	e.b.Helper()
	if _, err := e.app.auth.CreateUser(context.Background(), auth.NewUser{Username: username, Password: password, Role: models.RoleUser}); err != nil {
		e.b.Fatal(err)
	}
	var r struct {
		Data struct{ Login payload } `json:"data"`
	}
	if err := json.Unmarshal(e.post("", loginMutation, map[string]any{"u": username, "p": password}), &r); err != nil {
		e.b.Fatal(err)
	}
	return r.Data.Login
}

// replay serves the same request body repeatedly without re-encoding it.
type replay struct {
	body  []byte
	authz string
}

func (r replay) request() *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json")
	if r.authz != "" {
		req.Header.Set("Authorization", r.authz)
	}
	return req
}

// BenchmarkBaseline is the floor every other benchmark here is compared to:
// a bare handler answering a fixed JSON body, under the same httptest
// request and recorder costs.
func BenchmarkBaseline(b *testing.B) {
	body := []byte(`{"data":{"me":{"id":"7f9c2ba4-e88f-4b1a-9f4e-0c1d2e3f4a5b","username":"alice"}}}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	rp := replay{body: []byte(`{"query":"{ me { id username } }"}`)}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), rp.request())
	}
}

// BenchmarkMe is the steady state of an authenticated request: the me query
// with a valid access token, end to end through the real handler.
func BenchmarkMe(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := newBenchEnv(b, kind, fastHash)
			p := e.login("alice", "correct horse battery")
			body, _ := json.Marshal(map[string]any{"query": meQuery})
			rp := replay{body: body, authz: bearer(p.AccessToken)}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					e.handler.ServeHTTP(rec, rp.request())
					if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						rec := httptest.NewRecorder()
						e.handler.ServeHTTP(rec, rp.request())
						if rec.Code != http.StatusOK {
							b.Errorf("status %d: %s", rec.Code, rec.Body)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkLogin measures login with the production argon2id parameters:
// it should cost one hash (compare auth's BenchmarkHashDefaultParams) plus
// a few milliseconds of database work at most.
func BenchmarkLogin(b *testing.B) { benchmarkLogin(b, auth.DefaultParams) }

// BenchmarkLoginOverhead is login with a trivial argon2id cost: everything a
// login does beside its hash (limiter, user lookup, the session write,
// token signing, GraphQL and HTTP), to set against BenchmarkLogin.
func BenchmarkLoginOverhead(b *testing.B) { benchmarkLogin(b, fastHash) }

func benchmarkLogin(b *testing.B, params auth.Params) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := newBenchEnv(b, kind, params)
			e.login("alice", "correct horse battery")
			body, _ := json.Marshal(map[string]any{"query": loginMutation, "variables": map[string]any{"u": "alice", "p": "correct horse battery"}})
			rp := replay{body: body}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.handler.ServeHTTP(rec, rp.request())
				if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkRefreshToken measures a refresh chain: each iteration trades the
// refresh token the previous one returned.
func BenchmarkRefreshToken(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := newBenchEnv(b, kind, fastHash)
			tok := e.login("alice", "correct horse battery").RefreshToken
			const query = `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`
			var r struct {
				Data struct{ RefreshToken payload } `json:"data"`
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := json.Unmarshal(e.post("", query, map[string]any{"t": tok}), &r); err != nil {
					b.Fatal(err)
				}
				tok = r.Data.RefreshToken.RefreshToken
			}
		})
	}
}
