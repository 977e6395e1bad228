package auth_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// fixturePasswords reads the passwords make_fixture.py hashed, by username.
func fixturePasswords(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "passwords.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pw map[string]string
	if err := json.Unmarshal(b, &pw); err != nil {
		t.Fatal(err)
	}
	return pw
}

// importFile imports one file through the service, as the command does.
func importFile(t *testing.T, e *apptest.Env, path string, opts auth.ImportOptions) *auth.ImportReport {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts.Name = path
	rep, err := e.App.Auth.Accounts.Import(context.Background(), f, opts)
	if err != nil {
		t.Fatalf("Import(%s) = %v", path, err)
	}
	return rep
}

// storedHash is the password hash the database holds for username.
func storedHash(t *testing.T, e *apptest.Env, username string) string {
	t.Helper()
	u, err := e.App.Store.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("UserByUsername(%q) = %v", username, err)
	}
	return u.PasswordHash
}

// checkImportedLogins logs in every imported user of dir through the real
// handler: the first login verifies the imported hash and replaces it with
// argon2id; the second verifies the argon2id one; a wrong password, the
// unusable and the inactive account are refused like any wrong password.
func checkImportedLogins(t *testing.T, e *apptest.Env, dir string) {
	t.Helper()
	passwords := fixturePasswords(t, dir)
	for user, pw := range passwords {
		before := storedHash(t, e, user)
		if strings.HasPrefix(before, "$argon2id$") {
			t.Fatalf("%s was imported with %q, want its Django hash", user, before)
		}
		wrong := e.Do("", apptest.LoginMutation, map[string]any{"u": user, "p": pw + "!"})
		apptest.WantError(t, wrong, "UNAUTHENTICATED", "invalid_credentials")
		if user == "inactive_user" {
			apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": user, "p": pw}), "UNAUTHENTICATED", "invalid_credentials")
			if storedHash(t, e, user) != before {
				t.Errorf("a refused login rehashed %s", user)
			}
			continue
		}
		p := e.Login(user, pw)
		after := storedHash(t, e, user)
		if !strings.HasPrefix(after, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("after the first login %s (%s) holds %q, want argon2id at the current parameters", user, auth.KindOf(before), after)
		}
		if p.User.Username != user {
			t.Errorf("login as %s gave user %q", user, p.User.Username)
		}
		e.Login(user, pw) // the argon2id hash verifies too
		if storedHash(t, e, user) != after {
			t.Errorf("the second login of %s rehashed again", user)
		}
	}
	// The unusable password matches nothing, not even the empty string's
	// closest allowed input.
	for _, pw := range []string{"!", "password", storedHash(t, e, "unusable_user")} {
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "unusable_user", "p": pw}), "UNAUTHENTICATED", "invalid_credentials")
	}
}

// The committed fixture, dumped from Django with every hasher, imports with
// its flags and times, and every account logs in with the password that made
// its hash, on SQLite and Postgres.
func TestImportDjangoFixture(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		dir := "../testdata/django"
		rep := importFile(t, e, filepath.Join(dir, "users.json"), auth.ImportOptions{})
		if rep.Imported != 10 || rep.Unusable != 1 || len(rep.Skipped) != 0 || len(rep.Bad) != 0 {
			t.Fatalf("report = %+v\n%s", rep, rep.Summary())
		}
		want := map[auth.HashKind]int{"pbkdf2_sha256": 3, "pbkdf2_sha1": 1, "argon2$argon2id": 1, "argon2$argon2i": 1,
			"bcrypt_sha256": 1, "bcrypt": 1, "scrypt": 1, "unusable": 1}
		for k, n := range want {
			if rep.ByKind[k] != n {
				t.Errorf("ByKind[%s] = %d, want %d (%v)", k, rep.ByKind[k], n, rep.ByKind)
			}
		}
		csvRep := importFile(t, e, filepath.Join(dir, "users.csv"), auth.ImportOptions{})
		if csvRep.Imported != 3 || csvRep.ByKind[auth.KindBcrypt] != 3 {
			t.Fatalf("csv report = %+v", csvRep)
		}

		ctx := context.Background()
		admin, _ := e.App.Store.UserByUsername(ctx, "pbkdf2_sha256_user") // is_superuser
		staff, _ := e.App.Store.UserByUsername(ctx, "pbkdf2_sha1_user")   // is_staff only
		inactive, _ := e.App.Store.UserByUsername(ctx, "inactive_user")
		seen, _ := e.App.Store.UserByUsername(ctx, "argon2id_user")
		if admin.Role != models.RoleAdmin || staff.Role != models.RoleUser || inactive.Active || !admin.Active {
			t.Errorf("roles and flags: admin %s/%v, staff %s, inactive active=%v", admin.Role, admin.Active, staff.Role, inactive.Active)
		}
		if got := admin.CreatedAt; !got.Equal(time.Date(2021, 3, 1, 5, 6, 7, 0, time.UTC)) {
			t.Errorf("created_at = %v, want date_joined 2021-03-01T05:06:07Z", got)
		}
		if seen.LastLoginAt == nil || !seen.LastLoginAt.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("last_login_at = %v, want 2024-01-02T03:04:05Z", seen.LastLoginAt)
		}
		if admin.Email == nil || *admin.Email != "pbkdf2_sha256_user@example.com" {
			t.Errorf("email = %v", admin.Email)
		}
		// The CSV says its addresses are verified; the dump does not.
		var verified []string
		if err := e.App.Store.DB().Raw("SELECT username FROM users WHERE email_verified_at IS NOT NULL ORDER BY username").Scan(&verified).Error; err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(verified, []string{"laravel_user", "rails_user", "supabase_user"}) {
			t.Errorf("verified = %v, want the three CSV users", verified)
		}
		checkImportedLogins(t, e, dir)

		// A second run adds nothing and changes nothing, and says so.
		again := importFile(t, e, filepath.Join(dir, "users.json"), auth.ImportOptions{})
		if again.Imported != 0 || len(again.Skipped) != 10 || !slices.Contains(again.Skipped, "Ünïcode_User") {
			t.Errorf("second run = %+v", again)
		}
		if h := storedHash(t, e, "scrypt_user"); !strings.HasPrefix(h, "$argon2id$") {
			t.Errorf("the second run overwrote the rehashed password: %q", h)
		}
	})
}

// --admin-from chooses which Django flag makes an ADMIN; --emails-verified
// marks every address verified.
func TestImportAdminFrom(t *testing.T) {
	for _, tc := range []struct {
		from        string
		super, staf models.Role
	}{
		{auth.AdminFromStaff, models.RoleUser, models.RoleAdmin},
		{auth.AdminFromBoth, models.RoleAdmin, models.RoleAdmin},
		{auth.AdminFromNone, models.RoleUser, models.RoleUser},
	} {
		t.Run(tc.from, func(t *testing.T) {
			e := apptest.Open(t, "sqlite")
			importFile(t, e, "../testdata/django/users.json", auth.ImportOptions{AdminFrom: tc.from, EmailsVerified: true})
			ctx := context.Background()
			s, _ := e.App.Store.UserByUsername(ctx, "pbkdf2_sha256_user")
			st, _ := e.App.Store.UserByUsername(ctx, "pbkdf2_sha1_user")
			if s.Role != tc.super || st.Role != tc.staf {
				t.Errorf("superuser %s, staff %s; want %s, %s", s.Role, st.Role, tc.super, tc.staf)
			}
			var n int64
			e.App.Store.DB().Raw("SELECT COUNT(*) FROM users WHERE email_verified_at IS NULL").Scan(&n)
			if n != 0 {
				t.Errorf("%d users unverified with --emails-verified", n)
			}
		})
	}
	e := apptest.Open(t, "sqlite")
	if _, err := e.App.Auth.Accounts.Import(context.Background(), strings.NewReader("[]"), auth.ImportOptions{AdminFrom: "root"}); err == nil {
		t.Error("AdminFrom root accepted")
	}
}

// A bad row is reported with its line and left out whole; the good rows
// around it are imported.
func TestImportBadRows(t *testing.T) {
	const pbkdf2 = "pbkdf2_sha256$260000$zOXGW5gAYzz04doLZzsIrE$hkn6CX9gY0zB24DMF+Thc2mNd0fmu0XYRbH3cAzIQ9c="
	csvFile := "username,email,password_hash,is_active,is_admin,date_joined,last_login,email_verified\n" +
		"good1,good1@example.com," + pbkdf2 + ",true,false,2022-01-01T00:00:00Z,,false\n" + // line 2
		"bad name,x@example.com," + pbkdf2 + ",true,false,,,\n" + // line 3
		"md5user,m@example.com,md5$salt$0123456789abcdef0123456789abcdef,true,false,,,\n" + // line 4
		"timeuser,t@example.com," + pbkdf2 + ",true,false,yesterday,,\n" + // line 5
		"GOOD1,dup@example.com," + pbkdf2 + ",true,false,,,\n" + // line 6: good1 again
		"\"multi\nline\",m@example.com," + pbkdf2 + ",true,false,,,\n" + // line 7-8: a newline is no username character
		"short,s@example.com\n" + // line 9
		"mailuser,not-an-address," + pbkdf2 + ",true,false,,,\n" + // line 10
		"good2,good2@example.com,!unusable,false,true,,,true\n" // line 11
	jsonFile := `[
  {"username": "json1", "password_hash": "` + pbkdf2 + `"},
  {"username": "json2", "password_hash": 42},
  {"username": "json3"},
  "not an object",
  {"username": "json4", "password_hash": "$2b$10$BBJ5i5ZgXoaKqkb.Qsf7KeR73/8LVGfydKtYKgBeilXSOEK3k046S", "is_admin": true}
]`
	djangoFile := `[{"model": "auth.user", "pk": 1, "fields": {"username": "dj1", "password": "` + pbkdf2 + `"}},
{"model": "auth.user", "pk": 2, "fields": {"username": "dj2", "password": "` + pbkdf2 + `", "date_joined": "31/12/2020"}},
{"model": "accounts.user", "pk": 3, "fields": {"username": "dj3", "password": "` + pbkdf2 + `", "email_verified": true, "email": "d3@example.com", "first_name": "Dee", "last_name": "Three"}}]`
	cases := []struct {
		name, file, body string
		imported         []string
		badLines         []int
		reasons          []string
	}{
		{"csv", "users.csv", csvFile, []string{"good1", "good2"}, []int{3, 4, 5, 6, 7, 9, 10},
			[]string{"letters, digits", "unknown format", "date_joined", "also on line 2", "letters, digits", "fields", "email"}},
		{"json", "users.json", jsonFile, []string{"json1", "json4"}, []int{3, 4, 5}, []string{"want a string", "password_hash", "not a JSON object"}},
		{"django", "dump.json", djangoFile, []string{"dj1", "dj3"}, []int{2}, []string{"date_joined"}},
	}
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), tc.file)
				if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
					t.Fatal(err)
				}
				rep := importFile(t, e, path, auth.ImportOptions{BatchSize: 2})
				var lines []int
				for i, b := range rep.Bad {
					lines = append(lines, b.Line)
					if i < len(tc.reasons) && !strings.Contains(b.Reason, tc.reasons[i]) {
						t.Errorf("bad row on line %d: %q, want it to mention %q", b.Line, b.Reason, tc.reasons[i])
					}
				}
				if !slices.Equal(lines, tc.badLines) || rep.Imported != len(tc.imported) {
					t.Fatalf("bad lines %v, imported %d; want %v and %d\n%+v", lines, rep.Imported, tc.badLines, len(tc.imported), rep.Bad)
				}
				for _, u := range tc.imported {
					if _, err := e.App.Store.UserByUsername(context.Background(), u); err != nil {
						t.Errorf("%s not imported: %v", u, err)
					}
				}
			})
		}
		// Nothing of a bad row was written.
		var n int64
		e.App.Store.DB().Raw("SELECT COUNT(*) FROM users WHERE username IN ('md5user', 'timeuser', 'mailuser', 'json2', 'json3', 'dj2')").Scan(&n)
		if n != 0 {
			t.Errorf("%d bad rows were written", n)
		}
		good2, _ := e.App.Store.UserByUsername(context.Background(), "good2")
		j4, _ := e.App.Store.UserByUsername(context.Background(), "json4")
		d3, _ := e.App.Store.UserByUsername(context.Background(), "dj3")
		if good2.Active || good2.Role != models.RoleAdmin || j4.Role != models.RoleAdmin || !good2.CreatedAt.After(time.Now().Add(-time.Hour)) {
			t.Errorf("good2 = %+v, j4 = %+v", good2, j4)
		}
		if d3.DisplayName == nil || *d3.DisplayName != "Dee Three" {
			t.Errorf("d3 display name = %v, want first and last name", d3.DisplayName)
		}
	})
}

// A file the reader loses its place in ends the import with an error and
// the report of what was committed; nothing after is guessed at.
func TestImportUnreadable(t *testing.T) {
	e := apptest.Open(t, "sqlite")
	const pbkdf2 = "pbkdf2_sha256$260000$zOXGW5gAYzz04doLZzsIrE$hkn6CX9gY0zB24DMF+Thc2mNd0fmu0XYRbH3cAzIQ9c="
	body := `[{"username": "ok1", "password_hash": "` + pbkdf2 + `"},` + "\n" + `{"username": "broken", ` + "\n]"
	rep, err := e.App.Auth.Accounts.Import(context.Background(), strings.NewReader(body), auth.ImportOptions{Format: auth.FormatJSON})
	if err == nil || !strings.Contains(err.Error(), "line") {
		t.Fatalf("Import(broken JSON) = %v, want an error naming a line", err)
	}
	if rep == nil || rep.Imported != 1 {
		t.Errorf("report = %+v, want ok1 imported", rep)
	}
	for _, body := range []string{"", "username,email\n"} {
		if _, err := e.App.Auth.Accounts.Import(context.Background(), strings.NewReader(body), auth.ImportOptions{Format: auth.FormatCSV}); err == nil {
			t.Errorf("Import(csv %q) accepted", body)
		}
	}
}

// Progress: one line per 1,000 records.
func TestImportProgress(t *testing.T) {
	e := apptest.Open(t, "sqlite")
	var b strings.Builder
	b.WriteString("username,password_hash\n")
	for i := range 2500 {
		b.WriteString("user" + strings.Repeat("x", i%3) + "_" + itoa(i) + ",!\n")
	}
	var progress strings.Builder
	rep, err := e.App.Auth.Accounts.Import(context.Background(), strings.NewReader(b.String()), auth.ImportOptions{Format: auth.FormatCSV, Progress: &progress})
	if err != nil || rep.Imported != 2500 || rep.Unusable != 2500 {
		t.Fatalf("Import = %+v, %v", rep, err)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "1000 records read: 1000 imported") || !strings.HasPrefix(lines[1], "2000 records read: 2000 imported") {
		t.Errorf("progress = %q", progress.String())
	}
}

func itoa(i int) string { return jsonNumber(i) }

func jsonNumber(i int) string { b, _ := json.Marshal(i); return string(b) }

// The check against Django itself: make_fixture.py, run with Debian's
// python3-django, writes a fresh dump with fresh salts, and every account of
// it imports and logs in. CI always has the package (.ci/run installs it).
func TestImportFreshDjangoDump(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import django, argon2, bcrypt").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import django, argon2 and bcrypt (%v): install python3-django python3-argon2 python3-bcrypt", python, err)
		}
		t.Skipf("%s has no django, argon2 or bcrypt (apt install python3-django python3-argon2 python3-bcrypt): %v", python, err)
	}
	dir := t.TempDir()
	out, err := exec.Command(python, "../testdata/django/make_fixture.py", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make_fixture.py: %v\n%s", err, out)
	}
	e := apptest.Open(t, "sqlite")
	rep := importFile(t, e, filepath.Join(dir, "users.json"), auth.ImportOptions{})
	importFile(t, e, filepath.Join(dir, "users.csv"), auth.ImportOptions{})
	if rep.Imported != 10 || len(rep.Bad) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	committed, _ := os.ReadFile("../testdata/django/users.json")
	fresh, _ := os.ReadFile(filepath.Join(dir, "users.json"))
	if string(committed) == string(fresh) {
		t.Fatal("the fresh dump equals the committed one: salts were not fresh")
	}
	checkImportedLogins(t, e, dir)
}
