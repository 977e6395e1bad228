package app_test

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

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/internal/testclock"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// Benchmarks of whole requests through the real handler (httptest, no
// network), on SQLite and, when TEST_DATABASE_URL is set, on Postgres. The
// load harness in bench/ measures the same paths over real sockets.
//
//	go test -run '^$' -bench . -benchmem ./app

// newBenchEnv builds the real handler on a fresh store of kind, with the
// test configuration (apptest.Config: its cheap hash) changed by mutate, and
// a test clock. Unlike apptest.New it discards the log (Logs stays nil):
// kept in memory, a benchmark's lines would grow the heap it measures. The
// JSON handler still formats every line, as a production server writing to
// a pipe would.
func newBenchEnv(b *testing.B, kind string, mutate ...func(*app.Config)) *apptest.Env {
	b.Helper()
	cfg := apptest.Config(b, nil)
	for _, m := range mutate {
		m(&cfg)
	}
	c := testclock.New()
	a, err := app.New(cfg, storetest.Open(b, kind), slog.New(slog.NewJSONHandler(io.Discard, nil)), c.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Audit.Close(context.Background()) }) // before the store closes
	return &apptest.Env{T: b, App: a, Handler: a.Handler(), Clock: c}
}

// benchLogin creates a user and logs them in.
func benchLogin(e *apptest.Env, username string) apptest.Payload {
	e.T.Helper()
	e.CreateUser(username, apptest.Password, models.RoleUser)
	return e.Login(username, apptest.Password)
}

// replay serves the same request body repeatedly without re-encoding it.
type replay struct {
	body  []byte
	authz string
}

func (r replay) request() *http.Request {
	req := httptest.NewRequest(http.MethodPost, app.GraphQLPath, bytes.NewReader(r.body))
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
			e := newBenchEnv(b, kind)
			p := benchLogin(e, "alice")
			body, _ := json.Marshal(map[string]any{"query": apptest.MeQuery})
			rp := replay{body: body, authz: apptest.Bearer(p.AccessToken)}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					e.Handler.ServeHTTP(rec, rp.request())
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
						e.Handler.ServeHTTP(rec, rp.request())
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
func BenchmarkLoginOverhead(b *testing.B) { benchmarkLogin(b, apptest.FastHash) }

func benchmarkLogin(b *testing.B, params auth.Params) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := newBenchEnv(b, kind, func(c *app.Config) { c.HashParams = params })
			benchLogin(e, "alice")
			body, _ := json.Marshal(map[string]any{"query": apptest.LoginMutation, "variables": map[string]any{"u": "alice", "p": apptest.Password}})
			rp := replay{body: body}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.Handler.ServeHTTP(rec, rp.request())
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
			e := newBenchEnv(b, kind)
			tok := benchLogin(e, "alice").RefreshToken
			const query = `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`
			b.ReportAllocs()
			for b.Loop() {
				tok = apptest.Decode[apptest.Payload](b, e.Do("", query, map[string]any{"t": tok}), "refreshToken").RefreshToken
			}
		})
	}
}

// BenchmarkMeByAlg is BenchmarkMe/sqlite/serial for each signing algorithm,
// with the cache of verified access tokens on (the default): after the first
// request every verification is a cache hit, so the algorithm should cost
// next to nothing on the steady path. Compare each with HS256 in the same
// run.
func BenchmarkMeByAlg(b *testing.B) {
	for _, alg := range []string{auth.AlgHS256, auth.AlgEdDSA, auth.AlgES256, auth.AlgRS256} {
		b.Run(alg, func(b *testing.B) {
			e := newBenchEnv(b, "sqlite", withAlg(alg))
			p := benchLogin(e, "alice")
			body, _ := json.Marshal(map[string]any{"query": apptest.MeQuery})
			rp := replay{body: body, authz: apptest.Bearer(p.AccessToken)}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.Handler.ServeHTTP(rec, rp.request())
				if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
