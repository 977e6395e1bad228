package main

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// testPassword is accepted by every password rule.
const testPassword = "correct horse battery"

// actor is one caller of the API: a header and, for a user, who it is.
type actor struct {
	name   string
	header string
	user   *models.User
}

// session creates a user with role and logs them in.
func (e *testEnv) session(username string, role models.Role) actor {
	e.t.Helper()
	u := e.createUser(username, testPassword, role)
	return actor{name: username, header: bearer(e.login(username, testPassword).AccessToken), user: u}
}

// pat creates a personal access token for a with scopes, through the API.
func (e *testEnv) pat(a actor, scopes ...models.Scope) actor {
	e.t.Helper()
	r := e.do(a.header, `mutation($s: [Scope!]!) { createPersonalAccessToken(name: "ci", scopes: $s) { token personalAccessToken { id } } }`,
		map[string]any{"s": scopes})
	mustOK(e.t, r)
	var out struct{ Token string }
	decode(e.t, r, "createPersonalAccessToken", &out)
	return actor{name: fmt.Sprintf("%s token %v", a.name, scopes), header: bearer(out.Token), user: a.user}
}

// decode unmarshals r.Data[field] into dst.
func decode(t *testing.T, r gqlResponse, field string, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.Data[field], dst); err != nil {
		t.Fatalf("decode %s: %v; body %s", field, err, r.Body)
	}
}

// wantField fails unless r is a BAD_USER_INPUT error whose extensions.field
// names field (among all the response's errors).
func wantField(t *testing.T, r gqlResponse, field string) {
	t.Helper()
	for _, e := range r.Errors {
		if e.Extensions["code"] == "BAD_USER_INPUT" && e.Extensions["field"] == field {
			return
		}
	}
	t.Fatalf("want BAD_USER_INPUT on field %q; body %s", field, r.Body)
}

// fields returns the extensions.field of every error of r, in order.
func (r gqlResponse) fields() []string {
	var out []string
	for _, e := range r.Errors {
		f, _ := e.Extensions["field"].(string)
		out = append(out, f)
	}
	return out
}

// countStatements counts every SQL statement st runs from now on, through
// gorm callbacks after each kind of statement.
func countStatements(t *testing.T, st *store.Store) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	cb := st.DB().Callback()
	name := "test:count_statements"
	for _, err := range []error{
		cb.Query().After("gorm:query").Register(name, count),
		cb.Row().After("gorm:row").Register(name, count),
		cb.Raw().After("gorm:raw").Register(name, count),
		cb.Create().After("gorm:create").Register(name, count),
		cb.Update().After("gorm:update").Register(name, count),
		cb.Delete().After("gorm:delete").Register(name, count),
	} {
		if err != nil {
			t.Fatalf("register statement counter: %v", err)
		}
	}
	return &n
}
