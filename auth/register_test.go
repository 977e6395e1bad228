package auth_test

import (
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
)

// registerOp is the register mutation, asking for the whole payload.
const registerOp = `mutation($in: RegisterInput!) { register(input: $in) { ` + apptest.PayloadFields + ` } }`

// registerOpVars are the variables of registerOp.
func registerOpVars(username, email, password string) map[string]any {
	return map[string]any{"in": map[string]any{"username": username, "email": email, "password": password}}
}

func TestRegister(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		r := e.Do("", registerOp, registerOpVars("newbie", "newbie@example.com", apptest.Password))
		apptest.MustOK(t, r)
		p := r.Payload(t, "register")
		if p.User == nil || p.User.Username != "newbie" || p.User.Role != "USER" || p.User.Email == nil || *p.User.Email != "newbie@example.com" {
			t.Fatalf("register user = %+v, want newbie USER with its email", p.User)
		}
		// A logged-in pair: the access token reads me, the refresh token rotates.
		apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil))
		apptest.MustOK(t, e.Refresh(p.RefreshToken))
		// And the password works for login.
		e.Login("NEWBIE", apptest.Password)

		long := strings.Repeat("a", 151)
		tests := []struct {
			name                      string
			username, email, password string
			fields                    []string
		}{
			{"username too short", "ab", "x@example.com", apptest.Password, []string{"username"}},
			{"username too long", long, "x@example.com", apptest.Password, []string{"username"}},
			{"username with a space", "two words", "x@example.com", apptest.Password, []string{"username"}},
			{"username with a slash", "a/b", "x@example.com", apptest.Password, []string{"username"}},
			{"username taken in another case", "NewBie", "x@example.com", apptest.Password, []string{"username"}},
			{"email without domain", "okname", "alice@", apptest.Password, []string{"email"}},
			{"email with a display name", "okname", "Alice <alice@example.com>", apptest.Password, []string{"email"}},
			{"email empty", "okname", "", apptest.Password, []string{"email"}},
			{"password too short", "okname", "x@example.com", "short12", []string{"password"}},
			{"password is the username", "Gandalf.The.Grey", "x@example.com", "gandalf.the.grey", []string{"password"}},
			{"password is common", "okname", "x@example.com", "Password1234", []string{"password"}},
			{"password is common, other case", "okname", "x@example.com", "SUNSHINE1", []string{"password"}},
			{"every field at once", "a", "nope", "123", []string{"username", "email", "password"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do("", registerOp, registerOpVars(tt.username, tt.email, tt.password))
				if r.Status != 200 || len(r.Errors) == 0 {
					t.Fatalf("register(%q) succeeded or failed badly: %s", tt.username, r.Body)
				}
				got := r.Fields()
				if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
					t.Fatalf("register(%q, %q, %q) error fields = %v, want %v; body %s", tt.username, tt.email, tt.password, got, tt.fields, r.Body)
				}
				for _, f := range tt.fields {
					apptest.WantField(t, r, f)
				}
			})
		}

		// Sign-up closed: FORBIDDEN, and nothing is created.
		closed := apptest.New(t, e.App.Store, nil, func(c *app.Config) { c.SignupEnabled = false })
		apptest.WantError(t, closed.Do("", registerOp, registerOpVars("latecomer", "late@example.com", apptest.Password)), "FORBIDDEN", "")
		if _, err := e.App.Store.UserByUsername(t.Context(), "latecomer"); err == nil {
			t.Fatal("register with sign-up closed created the user")
		}
		// A stale or garbage header does not stop register either.
		apptest.MustOK(t, e.Do("Bearer garbage", registerOp, registerOpVars("stale", "stale@example.com", apptest.Password)))
	})
}

func TestRegisterIsOneCredentialField(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		q := `mutation { a: register(input: {username: "aaa", email: "a@example.com", password: "correct horse battery"}) { accessToken }
			b: register(input: {username: "bbb", email: "b@example.com", password: "correct horse battery"}) { accessToken } }`
		apptest.WantError(t, e.Do("", q, nil), "BAD_USER_INPUT", "")
	})
}
