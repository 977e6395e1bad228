package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store"
)

// TestUsersDuplicatesEmailCommand: the command lists the shared addresses
// that stop the mail migration, without migrating.
func TestUsersDuplicatesEmailCommand(t *testing.T) {
	dir := t.TempDir()
	env := mapEnv(map[string]string{"DATA_DIR": dir, "JWT_SECRET": apptest.Secret})
	var out apptest.Logs
	st, err := store.Open(context.Background(), filepath.Join(dir, "ironclad.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Two accounts of an older deployment sharing an address, and the mail
	// migration not yet applied.
	for _, q := range []string{
		`CREATE TABLE users (id text PRIMARY KEY, username text, username_key text, email text, created_at datetime)`,
		`INSERT INTO users VALUES ('1', 'ann', 'ann', 'ann@example.com', CURRENT_TIMESTAMP), ('2', 'ann2', 'ann2', 'Ann@Example.com', CURRENT_TIMESTAMP)`,
	} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	out = apptest.Logs{}
	if err := run(context.Background(), []string{"users", "duplicates-email"}, env, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ann@example.com (2 accounts)", "ann\tann@example.com\t1", "ann2\tAnn@Example.com\t2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := st.DB().Exec("UPDATE users SET email = 'ann2@example.com' WHERE id = '2'").Error; err != nil {
		t.Fatal(err)
	}
	out = apptest.Logs{}
	if err := run(context.Background(), []string{"users", "duplicates-email"}, env, nil, &out); err != nil || !strings.Contains(out.String(), "no email address is shared") {
		t.Fatalf("after the fix: %v %s", err, out.String())
	}
	if err := run(context.Background(), []string{"users", "frob"}, env, nil, &out); err == nil {
		t.Fatal("users frob accepted")
	}
}
