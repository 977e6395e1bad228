package graph_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/models"
)

// What a client may pass as arguments, through the real handler: text that
// no database column can hold, and values of the wrong kind.

// badTextMessage ends the message of every refused string.
const badTextMessage = " must be valid UTF-8 text without NUL characters"

// logMark returns how many records the server has logged so far.
func logMark(t *testing.T, e *apptest.Env) int {
	t.Helper()
	return len(e.Logs.Records(t))
}

// wantNoErrorLogs fails the test if the server logged a warning or an
// error since mark: every case here is the caller's mistake, which an
// anonymous caller could repeat at will to fill the logs.
func wantNoErrorLogs(t *testing.T, e *apptest.Env, mark int) {
	t.Helper()
	for _, rec := range e.Logs.Records(t)[mark:] {
		if rec["level"] == slog.LevelError.String() || rec["level"] == slog.LevelWarn.String() {
			t.Fatalf("logged %v", rec)
		}
	}
}

// TestTextArguments sends a NUL character in every string argument of the
// schema. JSON cannot carry invalid UTF-8 (the decoder replaces it), so
// that half is sent raw in GET query literals, the one way it arrives.
func TestTextArguments(t *testing.T) {
	const nul = "a\x00b"
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		user := e.Session("tess", models.RoleUser)
		admin := e.Session("root", models.RoleAdmin)
		n := apptest.CountStatements(t, e.App.Store)

		cases := []struct {
			name  string
			as    apptest.Actor
			query string
			vars  map[string]any
			field string // extensions.field of the BAD_USER_INPUT error
		}{
			{"login username", apptest.Actor{}, apptest.LoginMutation, map[string]any{"u": nul, "p": apptest.Password}, "username"},
			{"login password", apptest.Actor{}, apptest.LoginMutation, map[string]any{"u": "tess", "p": nul}, "password"},
			{"login username literal", apptest.Actor{}, `mutation { login(username: "a\u0000b", password: "x") { accessToken } }`, nil, "username"},
			{"users search", admin, `query($s: String) { users(search: $s) { totalCount } }`, map[string]any{"s": nul}, "search"},
			{"users after", admin, `query($a: String) { users(after: $a) { totalCount } }`, map[string]any{"a": nul}, "after"},
			{"createPersonalAccessToken name", user, `mutation($n: String!) { createPersonalAccessToken(name: $n, scopes: [PROFILE_READ]) { token } }`, map[string]any{"n": nul}, "name"},
			{"updateProfile input.email", user, `mutation($id: ID!, $in: ProfileInput!) { updateProfile(id: $id, input: $in) { id } }`, map[string]any{"id": user.User.ID, "in": map[string]any{"email": "a\x00@example.com"}}, "email"},
			{"updateProfile input.displayName", user, `mutation($id: ID!, $in: ProfileInput!) { updateProfile(id: $id, input: $in) { id } }`, map[string]any{"id": user.User.ID, "in": map[string]any{"displayName": nul}}, "displayName"},
			{"updateProfile variable in a literal", user, `mutation($id: ID!, $d: String) { updateProfile(id: $id, input: {displayName: $d}) { id } }`, map[string]any{"id": user.User.ID, "d": nul}, "displayName"},
			{"register username", apptest.Actor{}, `mutation($in: RegisterInput!) { register(input: $in) { accessToken } }`, map[string]any{"in": map[string]any{"username": nul, "email": "n@example.com", "password": apptest.Password}}, "username"},
			{"register email", apptest.Actor{}, `mutation($in: RegisterInput!) { register(input: $in) { accessToken } }`, map[string]any{"in": map[string]any{"username": "nina", "email": "n\x00@example.com", "password": apptest.Password}}, "email"},
			{"register password", apptest.Actor{}, `mutation($in: RegisterInput!) { register(input: $in) { accessToken } }`, map[string]any{"in": map[string]any{"username": "nina", "email": "n@example.com", "password": apptest.Password + "\x00"}}, "password"},
			{"refreshToken", apptest.Actor{}, apptest.RefreshMutation, map[string]any{"t": nul}, "refreshToken"},
			{"logout", apptest.Actor{}, `mutation($t: String) { logout(refreshToken: $t) }`, map[string]any{"t": nul}, "refreshToken"},
			{"verifyToken", apptest.Actor{}, `mutation($t: String!) { verifyToken(token: $t) { valid } }`, map[string]any{"t": nul}, "token"},
			{"changePassword currentPassword", user, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }`, map[string]any{"c": nul, "n": "another fine password"}, "currentPassword"},
			{"changePassword newPassword", user, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }`, map[string]any{"c": apptest.Password, "n": "another\x00fine password"}, "newPassword"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				mark := logMark(t, e)
				baseline := n.Load()
				apptest.MustOK(t, e.Do(tc.as.Header, `{ __typename }`, nil)) // what authenticating costs
				perRequest := n.Load() - baseline
				before := n.Load()
				r := e.Do(tc.as.Header, tc.query, tc.vars)
				apptest.WantError(t, r, string(models.CodeBadUserInput), "")
				apptest.WantField(t, r, tc.field)
				if want := tc.field + badTextMessage; r.Errors[0].Message != want {
					t.Fatalf("message = %q, want %q", r.Errors[0].Message, want)
				}
				if ran := n.Load() - before; ran != perRequest {
					t.Fatalf("the refused request ran %d SQL statements, authenticating alone %d", ran, perRequest)
				}
				wantNoErrorLogs(t, e, mark)
			})
		}

		// Invalid UTF-8 arrives only raw, in a GET query's literal.
		get := []struct {
			name, query, field string
		}{
			{"users search", `{ users(search: "a` + "\xff" + `b") { totalCount } }`, "search"},
			{"users after", `{ users(after: "` + "\xc3\x28" + `") { totalCount } }`, "after"},
		}
		for _, tc := range get {
			t.Run("invalid UTF-8 "+tc.name, func(t *testing.T) {
				mark := logMark(t, e)
				req := httptest.NewRequest(http.MethodGet, app.GraphQLPath+"?query="+url.QueryEscape(tc.query), nil)
				req.Header.Set("Authorization", admin.Header)
				r := e.Serve(req)
				apptest.WantError(t, r, string(models.CodeBadUserInput), "")
				apptest.WantField(t, r, tc.field)
				wantNoErrorLogs(t, e, mark)
			})
		}

		// A password with a NUL changed nothing.
		e.Login("tess", apptest.Password)
	})
}

// TestMalformedIDs sends ids that are not text to every field taking an id:
// each answers as it does for an unknown id (null, false, or the field's
// not-found error), after its authorization, on both databases.
func TestMalformedIDs(t *testing.T) {
	bad := map[string]string{"NUL": "a\x00b", "only NUL": "\x00"}
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		user := e.Session("tess", models.RoleUser)
		admin := e.Session("root", models.RoleAdmin)

		cases := []struct {
			name  string
			as    apptest.Actor
			query string
			want  string // the answer's data for an unknown id, as a check of what is compared
		}{
			{"user", admin, `query($id: ID!) { user(id: $id) { id } }`, `{"user":null}`},
			{"user without a token", apptest.Actor{}, `query($id: ID!) { user(id: $id) { id } }`, `{"user":null}`},
			{"revokeSession", user, `mutation($id: ID!) { revokeSession(id: $id) }`, `{"revokeSession":false}`},
			{"revokePersonalAccessToken", user, `mutation($id: ID!) { revokePersonalAccessToken(id: $id) }`, `{"revokePersonalAccessToken":false}`},
			{"updateProfile as admin", admin, `mutation($id: ID!) { updateProfile(id: $id, input: {displayName: "x"}) { id } }`, `null`},
			{"updateProfile as another user", user, `mutation($id: ID!) { updateProfile(id: $id, input: {displayName: "x"}) { id } }`, `null`},
			{"setRole", admin, `mutation($id: ID!) { setRole(id: $id, role: ADMIN) { id } }`, `null`},
			{"setActive", admin, `mutation($id: ID!) { setActive(id: $id, active: false) { id } }`, `null`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				mark := logMark(t, e)
				unknown := e.Do(tc.as.Header, tc.query, map[string]any{"id": "no-such-id"})
				if got := dataOf(unknown); got != tc.want {
					t.Fatalf("unknown id: data = %s, want %s; body %s", got, tc.want, unknown.Body)
				}
				for name, id := range bad {
					r := e.Do(tc.as.Header, tc.query, map[string]any{"id": id})
					if r.Body != unknown.Body || r.Status != unknown.Status {
						t.Fatalf("%s id: %d %s\nwant the unknown id's answer: %d %s", name, r.Status, r.Body, unknown.Status, unknown.Body)
					}
				}
				wantNoErrorLogs(t, e, mark)
			})
		}

		t.Run("invalid UTF-8 over GET", func(t *testing.T) {
			mark := logMark(t, e)
			q := url.QueryEscape(`{ user(id: "` + "\xff\xfe" + `") { id } }`)
			req := httptest.NewRequest(http.MethodGet, app.GraphQLPath+"?query="+q, nil)
			req.Header.Set("Authorization", admin.Header)
			r := e.Serve(req)
			if got := dataOf(r); got != `{"user":null}` || len(r.Errors) != 0 {
				t.Fatalf("user(id: invalid UTF-8) = %d %s, want data null without errors", r.Status, r.Body)
			}
			wantNoErrorLogs(t, e, mark)
		})
	})
}

// dataOf returns the data of r as compact JSON: "null" when absent.
func dataOf(r apptest.Response) string {
	b, _ := json.Marshal(r.Data)
	return string(b)
}

// TestWrongKindOfValue sends object literals and variables of the wrong JSON
// type where a scalar or an enum is expected: each is refused as a
// validation error before anything runs, never answered as an internal one.
func TestWrongKindOfValue(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		user := e.Session("tess", models.RoleUser)
		admin := e.Session("root", models.RoleAdmin)
		cases := []struct {
			name  string
			as    apptest.Actor
			query string
			vars  map[string]any
		}{
			{"{} for a String", apptest.Actor{}, `mutation { logout(refreshToken: {}) }`, nil},
			{"{} for an Int", admin, `{ users(first: {}) { totalCount } }`, nil},
			{"{} for an enum", admin, `mutation { setRole(id: "x", role: {}) { id } }`, nil},
			{"{} for a list of enums", user, `mutation { createPersonalAccessToken(name: "x", scopes: {}) { token } }`, nil},
			{"{} in a list of enums", user, `mutation { createPersonalAccessToken(name: "x", scopes: [{}]) { token } }`, nil},
			{"{} for an ID", admin, `{ user(id: {}) { id } }`, nil},
			{"{} in an input object's String", user, `mutation { updateProfile(id: "x", input: {email: {}}) { id } }`, nil},
			{"{} for an introspection argument", apptest.Actor{}, `{ __type(name: {}) { name } }`, nil},
			{"{} as a variable's default", apptest.Actor{}, `mutation($t: String = {}) { logout(refreshToken: $t) }`, nil},
			{"{} for a directive's Boolean", apptest.Actor{}, `{ __typename @include(if: {}) }`, nil},
			{"object variable for a String", apptest.Actor{}, `mutation($t: String!) { logout(refreshToken: $t) }`, map[string]any{"t": map[string]any{}}},
			{"list variable for a String", apptest.Actor{}, `mutation($t: String!) { logout(refreshToken: $t) }`, map[string]any{"t": []any{"a"}}},
			{"object variable for an Int", admin, `query($f: Int) { users(first: $f) { totalCount } }`, map[string]any{"f": map[string]any{}}},
			{"string variable for an Int", admin, `query($f: Int) { users(first: $f) { totalCount } }`, map[string]any{"f": "twenty"}},
			{"object variable for an enum", admin, `mutation($r: Role!) { setRole(id: "x", role: $r) { id } }`, map[string]any{"r": map[string]any{}}},
			{"object in a list variable of enums", user, `mutation($s: [Scope!]!) { createPersonalAccessToken(name: "x", scopes: $s) { token } }`, map[string]any{"s": []any{map[string]any{}}}},
			{"string variable for an input object", apptest.Actor{}, `mutation($in: RegisterInput!) { register(input: $in) { accessToken } }`, map[string]any{"in": "x"}},
			{"object variable for an input object's String", apptest.Actor{}, `mutation($in: RegisterInput!) { register(input: $in) { accessToken } }`, map[string]any{"in": map[string]any{"username": map[string]any{}, "email": "a@example.com", "password": apptest.Password}}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				mark := logMark(t, e)
				r := e.Do(tc.as.Header, tc.query, tc.vars)
				if code, _ := r.Code(); code != "GRAPHQL_VALIDATION_FAILED" || r.Status != http.StatusUnprocessableEntity || r.Data != nil {
					t.Fatalf("got %d %s, want 422 GRAPHQL_VALIDATION_FAILED without data", r.Status, r.Body)
				}
				wantNoErrorLogs(t, e, mark)
			})
		}
		// An empty object is still fine where an input object is expected.
		r := e.Do(user.Header, `mutation($id: ID!) { updateProfile(id: $id, input: {}) { id } }`, map[string]any{"id": user.User.ID})
		apptest.MustOK(t, r)
	})
}

// errReader fails every read as a connection cut by its deadline would.
type errReader struct{}

func (errReader) Read([]byte) (int, error) {
	return 0, errors.New("read tcp 127.0.0.1:8080->127.0.0.1:5555: i/o timeout")
}

// The GraphQL handler on its own (app reads the body before it) answers a
// body it could not read without the read error's socket addresses.
func TestBodyReadErrorHidesAddresses(t *testing.T) {
	h := graph.NewHandler(&graph.Resolver{Log: slog.New(slog.DiscardHandler)}, graph.Options{})
	req := httptest.NewRequest(http.MethodPost, "/query", errReader{})
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "tcp") {
		t.Fatalf("response shows the connection: %s", body)
	}
	if !strings.Contains(body, `"message":"could not read request body"`) || !strings.Contains(body, `"code":"BAD_REQUEST"`) {
		t.Fatalf("body = %s, want BAD_REQUEST could not read request body", body)
	}
}
