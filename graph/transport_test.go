package graph_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/internal/testclock"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestPOSTTransportMatchesGqlgen sends the same requests to a server on
// gqlgen's POST transport and to one on Ironclad's (graph/transport.go),
// both on one database, and wants the same status, headers and bytes:
// successes, errors in data, authentication failures (401 and the
// challenge under application/graphql-response+json), bodies that do not
// decode, operations that cannot start, Accept negotiation, content types
// with parameters, data json.Marshal escapes for HTML.
func TestPOSTTransportMatchesGqlgen(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			st := storetest.Open(t, kind)
			clock := testclock.New()
			graph.UseGqlgenPOST(true)
			theirs := apptest.New(t, st, clock)
			graph.UseGqlgenPOST(false)
			ours := apptest.New(t, st, clock)

			alice := ours.Session("alice", models.RoleUser)
			apptest.MustOK(t, ours.Do(alice.Header, `mutation($id: ID!) { updateProfile(id: $id, input: {displayName: "a<b>&c \u2028"}) { id } }`,
				map[string]any{"id": alice.User.ID}))

			const gr = "application/graphql-response+json"
			cases := []struct {
				name, body, authz, contentType, accept string
			}{
				{"me", `{"query":"{ me { id username email role createdAt lastLoginAt } }"}`, alice.Header, "application/json", ""},
				{"me, graphql-response", `{"query":"{ me { id username } }"}`, alice.Header, "application/json", gr},
				{"html characters in data", `{"query":"{ me { displayName } }"}`, alice.Header, "application/json", ""},
				{"no token", `{"query":"{ me { id } }"}`, "", "application/json", ""},
				{"no token, graphql-response", `{"query":"{ me { id } }"}`, "", "application/json", gr},
				{"bad token, graphql-response", `{"query":"{ me { id } }"}`, "Bearer nope", "application/json", gr},
				{"body not JSON", `{"query":`, "", "application/json", ""},
				{"body not JSON, graphql-response", `nope`, "", "application/json", gr},
				{"empty body", ``, "", "application/json", ""},
				{"syntax error", `{"query":"{ me { id "}`, alice.Header, "application/json", ""},
				{"syntax error, graphql-response", `{"query":"{ me { id "}`, alice.Header, "application/json", gr},
				{"unknown field", `{"query":"{ me { nope } }"}`, alice.Header, "application/json", ""},
				{"variables", `{"query":"query($f: Int) { users(first: $f) { totalCount } }","variables":{"f":5}}`, alice.Header, "application/json", ""},
				{"wrong password", `{"query":"mutation { login(username: \"alice\", password: \"wrong password!\") { accessToken } }"}`, "", "application/json", ""},
				{"persisted query unknown", `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + strings.Repeat("ab", 32) + `"}}}`, "", "application/json", ""},
				{"charset parameter", `{"query":"{ me { id } }"}`, alice.Header, "application/json; charset=utf-8", ""},
				{"accept anything", `{"query":"{ me { id } }"}`, alice.Header, "application/json", "*/*"},
				{"accept html only", `{"query":"{ me { id } }"}`, "", "application/json", "text/html"},
				{"accept list", `{"query":"{ me { id } }"}`, "", "application/json", "text/html, application/graphql-response+json;q=0.9"},
				{"operation name", `{"query":"query A { me { id } } query B { me { username } }","operationName":"B"}`, alice.Header, "application/json", ""},
				{"operation missing", `{"query":"query A { me { id } } query B { me { username } }"}`, alice.Header, "application/json", ""},
			}
			for _, c := range cases {
				send := func(e *apptest.Env) *httptest.ResponseRecorder {
					r := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(c.body))
					r.Header.Set("Content-Type", c.contentType)
					if c.authz != "" {
						r.Header.Set("Authorization", c.authz)
					}
					if c.accept != "" {
						r.Header.Set("Accept", c.accept)
					}
					w := httptest.NewRecorder()
					e.Handler.ServeHTTP(w, r)
					return w
				}
				want, got := send(theirs), send(ours)
				if got.Code != want.Code {
					t.Errorf("%s: status %d, gqlgen's transport %d", c.name, got.Code, want.Code)
				}
				for _, h := range []string{"Content-Type", "WWW-Authenticate", "Retry-After", "Cache-Control"} {
					if g, w := got.Header().Values(h), want.Header().Values(h); strings.Join(g, "|") != strings.Join(w, "|") {
						t.Errorf("%s: %s %q, gqlgen's transport %q", c.name, h, g, w)
					}
				}
				if got.Body.String() != want.Body.String() {
					t.Errorf("%s: body\n%s\ngqlgen's transport\n%s", c.name, got.Body, want.Body)
				}
			}
		})
	}
}
