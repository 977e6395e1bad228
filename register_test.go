package main

import (
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

const registerMutation = `mutation($in: RegisterInput!) { register(input: $in) { ` + payloadFields + ` } }`

func registerVars(username, email, password string) map[string]any {
	return map[string]any{"in": map[string]any{"username": username, "email": email, "password": password}}
}

func TestRegister(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)

		r := e.do("", registerMutation, registerVars("newbie", "newbie@example.com", testPassword))
		mustOK(t, r)
		p := r.payload(t, "register")
		if p.User.Username != "newbie" || p.User.Role != "USER" || p.User.Email == nil || *p.User.Email != "newbie@example.com" {
			t.Fatalf("register user = %+v, want newbie USER with its email", p.User)
		}
		// A logged-in pair: the access token reads me, the refresh token rotates.
		mustOK(t, e.do(bearer(p.AccessToken), meQuery, nil))
		mustOK(t, e.refresh(p.RefreshToken))
		// And the password works for login.
		e.login("NEWBIE", testPassword)

		long := strings.Repeat("a", 151)
		tests := []struct {
			name                      string
			username, email, password string
			fields                    []string
		}{
			{"username too short", "ab", "x@example.com", testPassword, []string{"username"}},
			{"username too long", long, "x@example.com", testPassword, []string{"username"}},
			{"username with a space", "two words", "x@example.com", testPassword, []string{"username"}},
			{"username with a slash", "a/b", "x@example.com", testPassword, []string{"username"}},
			{"username taken in another case", "NewBie", "x@example.com", testPassword, []string{"username"}},
			{"email without domain", "okname", "alice@", testPassword, []string{"email"}},
			{"email with a display name", "okname", "Alice <alice@example.com>", testPassword, []string{"email"}},
			{"email empty", "okname", "", testPassword, []string{"email"}},
			{"password too short", "okname", "x@example.com", "short12", []string{"password"}},
			{"password is the username", "Gandalf.The.Grey", "x@example.com", "gandalf.the.grey", []string{"password"}},
			{"password is common", "okname", "x@example.com", "Password1234", []string{"password"}},
			{"password is common, other case", "okname", "x@example.com", "SUNSHINE1", []string{"password"}},
			{"every field at once", "a", "nope", "123", []string{"username", "email", "password"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do("", registerMutation, registerVars(tt.username, tt.email, tt.password))
				if r.Status != 200 || len(r.Errors) == 0 {
					t.Fatalf("register(%q) succeeded or failed badly: %s", tt.username, r.Body)
				}
				got := r.fields()
				if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
					t.Fatalf("register(%q, %q, %q) error fields = %v, want %v; body %s", tt.username, tt.email, tt.password, got, tt.fields, r.Body)
				}
				for _, f := range tt.fields {
					wantField(t, r, f)
				}
			})
		}

		// Sign-up closed: FORBIDDEN, and nothing is created.
		closed := newTestEnv(t, st, nil, func(c *config) { c.SignupEnabled = false })
		wantError(t, closed.do("", registerMutation, registerVars("latecomer", "late@example.com", testPassword)), "FORBIDDEN", "")
		if _, err := st.UserByUsername(t.Context(), "latecomer"); err == nil {
			t.Fatal("register with sign-up closed created the user")
		}
		// A stale or garbage header does not stop register either.
		mustOK(t, e.do("Bearer garbage", registerMutation, registerVars("stale", "stale@example.com", testPassword)))
	})
}

func TestRegisterIsOneCredentialField(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		q := `mutation { a: register(input: {username: "aaa", email: "a@example.com", password: "correct horse battery"}) { accessToken }
			b: register(input: {username: "bbb", email: "b@example.com", password: "correct horse battery"}) { accessToken } }`
		wantError(t, e.do("", q, nil), "BAD_USER_INPUT", "")
	})
}
