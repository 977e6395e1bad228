package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// mapEnv is a getenv reading m.
func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestCreateUserCommand(t *testing.T) {
	dir := t.TempDir()
	env := mapEnv(map[string]string{"DATA_DIR": dir, "JWT_SECRET": apptest.Secret})
	createuser := func(stdin string, args ...string) (string, error) {
		var out apptest.Logs
		err := run(context.Background(), append([]string{"createuser"}, args...), env, strings.NewReader(stdin), &out)
		return out.String(), err
	}

	out, err := createuser(apptest.Password+"\n", "--username", "Alice", "--email", "alice@example.com", "--role", "admin", "--password-stdin")
	if err != nil || !strings.Contains(out, `created user "Alice" with role ADMIN`) {
		t.Fatalf("createuser = %q, %v", out, err)
	}

	cases := []struct {
		name, stdin, want string
		args              []string
	}{
		{"duplicate username, other case", "another password\n", "already taken", []string{"--username", "alice", "--password-stdin"}},
		{"empty password", "\n", "password is empty", []string{"--username", "bob", "--password-stdin"}},
		{"short password", "short\n", "at least 8", []string{"--username", "bob", "--password-stdin"}},
		{"missing username", apptest.Password + "\n", "--username is required", []string{"--password-stdin"}},
		{"bad role", apptest.Password + "\n", "--role", []string{"--username", "bob", "--role", "root", "--password-stdin"}},
		{"no terminal, no --password-stdin", apptest.Password + "\n", "--password-stdin", []string{"--username", "bob"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := createuser(tc.stdin, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("createuser(%v) error = %v, want one containing %q", tc.args, err, tc.want)
			}
		})
	}

	// The account works: it is stored with an argon2id hash and the admin role.
	st, err := store.Open(context.Background(), filepath.Join(dir, "ironclad.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUsername(context.Background(), "ALICE")
	if err != nil || u.Role != models.RoleAdmin || !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("stored user = %+v, %v", u, err)
	}

	var out2 apptest.Logs
	if err := run(context.Background(), []string{"migrate"}, env, nil, &out2); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := run(context.Background(), []string{"purge"}, env, nil, &out2); err != nil || !strings.Contains(out2.String(), "purged") {
		t.Fatalf("purge: %v %s", err, out2.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, env, nil, &out2); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// createuser applies the same rules as register.
func TestCreateUserCommandRules(t *testing.T) {
	env := mapEnv(map[string]string{"DATA_DIR": t.TempDir(), "JWT_SECRET": apptest.Secret, "SIGNUP_ENABLED": "false"})
	cases := []struct {
		name, username, password, want string
	}{
		{"common password", "carol", "password123", "too common"},
		{"password is the username", "Frodo.Baggins", "frodo.baggins", "not be the username"},
		{"bad username", "carol smith", apptest.Password, "letters, digits"},
		{"short username", "cj", apptest.Password, "at least 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out apptest.Logs
			err := run(context.Background(), []string{"createuser", "--username", tc.username, "--password-stdin"}, env, strings.NewReader(tc.password+"\n"), &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("createuser %q error = %v, want one containing %q", tc.username, err, tc.want)
			}
		})
	}
	// Sign-up being closed does not stop an administrator.
	var out apptest.Logs
	err := run(context.Background(), []string{"createuser", "--username", "carol", "--role", "admin", "--password-stdin"}, env, strings.NewReader(apptest.Password+"\n"), &out)
	if err != nil || !strings.Contains(out.String(), `created user "carol" with role ADMIN`) {
		t.Fatalf("createuser = %q, %v", out.String(), err)
	}
}
