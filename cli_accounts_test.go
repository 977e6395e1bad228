package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// openData opens the SQLite database of a data folder, as a second process
// would.
func openData(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, "ironclad.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// `ironclad import users` imports the Django fixture and the CSV, reports
// by hash type, skips everything on a second run, and reports a bad row
// with its line and a non-zero exit.
func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	env := mapEnv(map[string]string{"DATA_DIR": dir, "JWT_SECRET": apptest.Secret})
	out, err := runCLI(t, env, "", "import", "users", "testdata/django/users.json", "--admin-from=both")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{"imported 10, skipped 0 (already exist), unusable passwords 1, bad rows 0, of 10 records", "pbkdf2_sha256    3", "scrypt           1", "argon2$argon2i   1"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	// Flags before the arguments, stdin as the file.
	csv, err := os.ReadFile("testdata/django/users.csv")
	if err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, env, string(csv), "import", "--format", "csv", "--emails-verified", "users", "-")
	if err != nil || !strings.Contains(out, "imported 3,") || !strings.Contains(out, "bare bcrypt      3") {
		t.Fatalf("import csv from stdin: %v\n%s", err, out)
	}
	out, err = runCLI(t, env, "", "import", "users", "testdata/django/users.json")
	if err != nil || !strings.Contains(out, "imported 0, skipped 10") || !strings.Contains(out, "skipped, already exist: pbkdf2_sha256_user, pbkdf2_sha1_user") {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	st := openData(t, dir)
	staff, err := st.UserByUsername(context.Background(), "pbkdf2_sha1_user")
	if err != nil || staff.Role != models.RoleAdmin {
		t.Errorf("--admin-from=both: staff user = %+v, %v", staff, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("username,password_hash\nnewuser,!\nsha1user,sha1$salt$abcdef\n"), 0o600)
	out, err = runCLI(t, env, "", "import", "users", bad)
	if err == nil || !strings.Contains(err.Error(), "1 rows not imported") || !strings.Contains(out, `line 3, record 2 ("sha1user"): not imported: password: malformed password hash: unknown format`) || !strings.Contains(out, "imported 1,") {
		t.Fatalf("import of a bad row: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "want: users FILE"},
		{[]string{"import", "groups", "x.json"}, "want: users FILE"},
		{[]string{"import", "users", "x.json", "--admin-from=root"}, "--admin-from must be"},
		{[]string{"import", "users", "x.json", "--format=xml"}, "--format must be"},
		{[]string{"import", "users", "x.json", "--batch-size=0"}, "--batch-size"},
		{[]string{"import", "users", "a.json", "b.json"}, "unexpected argument"},
		{[]string{"deleteuser"}, "want one USERNAME"},
		{[]string{"changepassword", "a", "b"}, "unexpected argument"},
	} {
		_, err := runCLI(t, env, "", tc.args...)
		var ue usageError
		if !errorsAs(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
	if _, err := runCLI(t, env, "", "import", "users", filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("import of a missing file = %v", err)
	}
}

// `ironclad changepassword USERNAME --password-stdin` applies the rules of
// register and ends the user's sessions; `ironclad deleteuser USERNAME`
// deletes the account, but not the last admin.
func TestChangePasswordAndDeleteUserCommands(t *testing.T) {
	dir := t.TempDir()
	env := mapEnv(map[string]string{"DATA_DIR": dir, "JWT_SECRET": apptest.Secret})
	for _, u := range []struct{ name, role string }{{"admin", "admin"}, {"carol", "user"}} {
		if out, err := runCLI(t, env, apptest.Password+"\n", "createuser", "--username", u.name, "--role", u.role, "--password-stdin"); err != nil {
			t.Fatalf("createuser: %v %s", err, out)
		}
	}
	st := openData(t, dir)
	ctx := context.Background()
	carol, _ := st.UserByUsername(ctx, "carol")
	now := time.Now()
	sess := &models.Session{UserID: carol.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	tok := &models.RefreshToken{TokenHash: strings.Repeat("ab", 32), UserID: carol.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.CreateSession(ctx, sess, tok); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ stdin, want string }{
		{"short\n", "at least 8"},
		{"password123\n", "too common"},
		{"\n", "password is empty"},
	} {
		if _, err := runCLI(t, env, tc.stdin, "changepassword", "carol", "--password-stdin"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("changepassword with %q = %v, want %q", tc.stdin, err, tc.want)
		}
	}
	if _, err := runCLI(t, env, "new password 123\n", "changepassword", "nobody", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("changepassword nobody = %v", err)
	}
	if _, err := runCLI(t, env, "new password 123\n", "changepassword", "carol"); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("changepassword without a terminal or --password-stdin = %v", err)
	}
	before, _ := st.UserByUsername(ctx, "carol")
	out, err := runCLI(t, env, "new password 123\n", "changepassword", "CAROL", "--password-stdin")
	if err != nil || !strings.Contains(out, `password of "carol" changed; 1 sessions ended`) {
		t.Fatalf("changepassword = %v\n%s", err, out)
	}
	after, _ := st.UserByUsername(ctx, "carol")
	if after.PasswordHash == before.PasswordHash || !strings.HasPrefix(after.PasswordHash, "$argon2id$") {
		t.Errorf("hash not replaced: %q", after.PasswordHash)
	}
	var live int64
	st.DB().Raw("SELECT COUNT(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL", carol.ID).Scan(&live)
	if live != 0 {
		t.Errorf("%d sessions still live after changepassword", live)
	}

	if _, err := runCLI(t, env, "", "deleteuser", "admin"); err == nil || !strings.Contains(err.Error(), "last active admin") {
		t.Errorf("deleteuser of the last admin = %v", err)
	}
	out, err = runCLI(t, env, "", "deleteuser", "carol")
	if err != nil || !strings.Contains(out, `deleted user "carol"`) {
		t.Fatalf("deleteuser = %v\n%s", err, out)
	}
	if _, err := st.UserByUsername(ctx, "carol"); err == nil {
		t.Error("carol still exists")
	}
	var rows int64
	st.DB().Raw("SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ?", carol.ID).Scan(&rows)
	if rows != 0 {
		t.Errorf("%d refresh tokens of carol remain", rows)
	}
	if _, err := runCLI(t, env, "", "deleteuser", "carol"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("deleteuser of a deleted user = %v", err)
	}
}

func errorsAs(err error, target *usageError) bool { return errors.As(err, target) }
