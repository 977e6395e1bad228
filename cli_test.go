package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

func TestCreateUserCommand(t *testing.T) {
	dir := t.TempDir()
	env := mapEnv(map[string]string{"DATA_DIR": dir, "JWT_SECRET": testSecret})
	createuser := func(stdin string, args ...string) (string, error) {
		var out syncBuffer
		err := run(context.Background(), append([]string{"createuser"}, args...), env, strings.NewReader(stdin), &out)
		return out.String(), err
	}

	out, err := createuser("correct horse battery\n", "--username", "Alice", "--email", "alice@example.com", "--role", "admin", "--password-stdin")
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
		{"missing username", "correct horse battery\n", "--username is required", []string{"--password-stdin"}},
		{"bad role", "correct horse battery\n", "--role", []string{"--username", "bob", "--role", "root", "--password-stdin"}},
		{"no terminal, no --password-stdin", "correct horse battery\n", "--password-stdin", []string{"--username", "bob"}},
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

	var out2 syncBuffer
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
