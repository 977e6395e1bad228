package graph_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

// Introspection while it is off (PLAYGROUND=false, the production default):
// a typed FORBIDDEN, never an internal error.

func noPlayground(c *app.Config) { c.Playground = false }

func TestIntrospectionDisabled(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		user := e.Session("tess", models.RoleUser)
		cases := []struct {
			name, query string
			alias       string // the refused field's response key
			data        string // the rest of the answer
		}{
			{"__schema", `{ __schema { queryType { name } } }`, "__schema", `null`},
			{"__type", `{ __type(name: "User") { name fields { name } } }`, "__type", `{"__type":null}`},
			{"aliased", `{ s: __schema { types { name } } }`, "s", `null`},
			{"in a fragment", `query { ...F } fragment F on Query { __type(name: "Query") { name } }`, "__type", `{"__type":null}`},
			{"beside other fields", `{ me { username } __type(name: "User") { name } }`, "__type", `{"__type":null,"me":{"username":"tess"}}`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				mark := logMark(t, e)
				r := e.Do(user.Header, tc.query, nil)
				apptest.WantError(t, r, string(models.CodeForbidden), models.ReasonIntrospectionDisabled)
				if len(r.Errors) != 1 || len(r.Errors[0].Path) != 1 || r.Errors[0].Path[0] != tc.alias {
					t.Fatalf("errors = %+v, want one at path [%s]", r.Errors, tc.alias)
				}
				if got := dataOf(r); got != tc.data {
					t.Fatalf("data = %s, want %s", got, tc.data)
				}
				wantNoErrorLogs(t, e, mark)
			})
		}
		t.Run("over GET, without a token", func(t *testing.T) {
			mark := logMark(t, e)
			q := url.QueryEscape(`{ __schema { types { name } } }`)
			r := e.Serve(httptest.NewRequest(http.MethodGet, app.GraphQLPath+"?query="+q, nil))
			apptest.WantError(t, r, string(models.CodeForbidden), models.ReasonIntrospectionDisabled)
			wantNoErrorLogs(t, e, mark)
		})
		t.Run("__typename stays", func(t *testing.T) {
			apptest.MustOK(t, e.Do("", `{ __typename }`, nil))
		})
	}, noPlayground)
}

// With the playground on, introspection answers.
func TestIntrospectionEnabled(t *testing.T) {
	e := apptest.Open(t, "sqlite", func(c *app.Config) { c.Playground = true })
	r := e.Do("", `{ __schema { queryType { name } } __type(name: "User") { name } }`, nil)
	apptest.MustOK(t, r)
	if got := dataOf(r); got != `{"__schema":{"queryType":{"name":"Query"}},"__type":{"name":"User"}}` {
		t.Fatalf("data = %s", got)
	}
}
