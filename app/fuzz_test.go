package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// fuzzBodySeeds are GraphQL POST bodies for FuzzGraphQLBody: well-formed
// operations (reaching resolvers as an admin), odd JSON, NUL bytes, invalid
// UTF-8, huge numbers and deep nesting.
func fuzzBodySeeds() []string {
	cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	users := func(after string) string {
		return fmt.Sprintf(`{"query":"query($a: String) { users(first: 5, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage } } }","variables":{"a":%q}}`, after)
	}
	return []string{
		`{"query":"{ me { id } }","variables":{}}`,
		`{}`, `[]`, `null`, `""`, `0`, `true`, `{"query":null}`, `{"query":""}`, `{"query":1}`, `{"query":{}}`,
		`{"query":"{ me { id } }","variables":null}`, `{"query":"{ me { id } }","variables":[]}`, `{"query":"{ me { id } }","variables":"x"}`,
		`[{"query":"{ me { id } }"}]`,
		`{"query":"{ me { id } }","operationName":"nope"}`,
		`{"query":"{ me { id } }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"0"}}}`,
		"{\"query\":\"{ me { id } }\x00\"}",
		`{"query":"{ me { id } }\u0000"}`,
		"{\"query\":\"{ me { id } }\",\"variables\":{\"x\":\"\xff\xfe\"}}",
		"\xff\xfe\xfd",
		`{"query":"{ me { id } }","variables":{"x":1e400}}`,
		`{"query":"{ me { id } }","variables":{"x":123456789012345678901234567890}}`,
		`{"query":"query($n: Int) { users(first: $n) { edges { cursor } } }","variables":{"n":1e20}}`,
		`{"query":"query($n: Int) { users(first: $n) { edges { cursor } } }","variables":{"n":-1}}`,
		`{"query":"{ users(first: 99999999999999999999) { edges { cursor } } }"}`,
		`{"query":"{ me { id } }","variables":` + strings.Repeat(`{"a":`, 500) + `1` + strings.Repeat(`}`, 500) + `}`,
		`{"query":"{ me { id } }","variables":{"a":` + strings.Repeat(`[`, 500) + strings.Repeat(`]`, 500) + `}}`,
		`{"query":"{ ` + strings.Repeat(`me { `, 50) + `id` + strings.Repeat(` }`, 50) + ` }"}`,
		`{"query":"mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }","variables":{"u":"fuzz\u0000","p":"\u0000"}}`,
		`{"query":"mutation { verifyToken(token: \"a.b.c\") { valid reason } }"}`,
		`{"query":"mutation { refreshToken(refreshToken: \"\u0000\") { accessToken } }"}`,
		`{"query":"{ user(id: \"00000000-0000-0000-0000-000000000000\") { id username } }"}`,
		`{"query":"{ sessions { id current } }"}`,
		users(""), users("x"),
		users(cursor("u1|2026-01-02T03:04:05Z|00000000-0000-0000-0000-000000000000")),
		users(cursor("u1|9999-12-31T23:59:59-23:59|id")), // year 10000 in UTC
		users(cursor("u1|0000-01-01T00:00:00+23:59|id")), // year -1 in UTC
		users(cursor("u1|2026-01-02T03:04:05Z|a\x00b")),
		users(cursor("u1|2026-01-02T03:04:05Z|\xff\xfe")),
	}
}

// fuzzAdmin keeps an admin's access token for FuzzGraphQLBody, replacing
// it with a new admin when a fuzzed mutation ends its session or account.
type fuzzAdmin struct {
	env    *apptest.Env
	header string
	n      int
}

func (a *fuzzAdmin) authorization(t testing.TB) string {
	t.Helper()
	for a.header == "" {
		a.n++
		name := fmt.Sprintf("fuzzadmin%d", a.n)
		// A fuzzed register may already have taken the name: try the next.
		if _, err := a.env.App.Auth.Accounts.Create(context.Background(), auth.NewUser{
			Username: name, Email: name + "@example.com", Password: apptest.Password, Role: models.RoleAdmin,
		}); err != nil {
			if a.n > 1000 {
				t.Fatalf("create admin %s: %v", name, err)
			}
			continue
		}
		e := *a.env
		e.T = t
		a.header = apptest.Bearer(e.Login(name, apptest.Password).AccessToken)
	}
	return a.header
}

// Any bytes POSTed as application/json to /query, with no credentials and
// as an admin: never HTTP 5xx (413 for an oversized body is a client
// error) and never INTERNAL_SERVER_ERROR.
func FuzzGraphQLBody(f *testing.F) {
	env := apptest.Open(f, "sqlite")
	admin := &fuzzAdmin{env: env}
	admin.authorization(f)
	for _, s := range fuzzBodySeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, authz := range []string{"", admin.authorization(t)} {
			req := httptest.NewRequest(http.MethodPost, app.GraphQLPath, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			rec := httptest.NewRecorder()
			env.Handler.ServeHTTP(rec, req)
			out, _ := io.ReadAll(rec.Result().Body)
			if rec.Code >= http.StatusInternalServerError || bytes.Contains(out, []byte("INTERNAL_SERVER_ERROR")) {
				t.Fatalf("POST %q (authorization %t): status %d, body %s", body, authz != "", rec.Code, out)
			}
			if authz != "" && (bytes.Contains(out, []byte("UNAUTHENTICATED")) || bytes.Contains(out, []byte("FORBIDDEN"))) {
				admin.header = "" // perhaps logged out, deactivated or demoted by the body: a new admin next time
			}
		}
	})
}
