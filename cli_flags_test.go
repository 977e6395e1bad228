package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// noEnv is a getenv of an empty environment.
func noEnv(string) string { return "" }

// runCLI runs the command line in process and returns what it printed.
func runCLI(t *testing.T, getenv func(string) string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out apptest.Logs
	err := run(t.Context(), args, getenv, strings.NewReader(stdin), &out)
	return out.String(), err
}

// runBinary runs the built binary with exactly env to its end.
func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startProc(t, env, "", args...)
	code = p.wait(t, time.Minute)
	return code, p.stdout.String(), p.stderr.String()
}

// A command line that cannot run is a usageError, with the usage of the
// command it names, before any configuration is read; the binary prints
// both to stderr and exits 2.
func TestCommandLineUsageErrors(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		msg       string
		usage     string // the start of the usage that follows
		usageHas  string // and something it lists
		notEchoed string // a value that must not be printed back
	}{
		{"unknown flag of serve", []string{"serve", "--port", "1"}, "serve: flag provided but not defined: -port", "Usage: ironclad serve ", "the default command", ""},
		{"unknown flag, serve by default", []string{"--port", "1"}, "serve: flag provided but not defined: -port", "Usage: ironclad serve ", "", ""},
		{"unknown flag of purge", []string{"purge", "--frobnicate"}, "purge: flag provided but not defined: -frobnicate", "Usage: ironclad purge ", "-dry-run", ""},
		{"argument to migrate", []string{"migrate", "extra"}, `migrate: unexpected argument "extra"`, "Usage: ironclad migrate ", "", ""},
		{"argument to version", []string{"version", "1.0"}, `version: unexpected argument "1.0"`, "Usage: ironclad version ", "", ""},
		{"bad value of a flag", []string{"purge", "--dry-run=maybe"}, "purge: invalid boolean value", "Usage: ironclad purge ", "-dry-run", ""},
		{"password on the command line", []string{"createuser", "--username", "ann", "--password", "hunter2hunter2"}, "createuser: flag provided but not defined: -password", "Usage: ironclad createuser ", "-password-stdin", "hunter2hunter2"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`, "Usage: ironclad [COMMAND]", "createuser", ""},
		{"help of an unknown command", []string{"help", "frobnicate"}, `unknown command "frobnicate"`, "Usage: ironclad [COMMAND]", "", ""},
		{"help with two commands", []string{"help", "purge", "serve"}, `help: unexpected argument "serve"`, "Usage: ironclad help [FLAGS] [COMMAND]", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// APP_ENV=bogus would fail the configuration: the usage comes first.
			for _, getenv := range []func(string) string{noEnv, mapEnv(map[string]string{"APP_ENV": "bogus"})} {
				out, err := runCLI(t, getenv, "", tc.args...)
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("run(%q) error = %v (%T), want a usageError", tc.args, err, err)
				}
				if !strings.HasPrefix(ue.msg, tc.msg) || !strings.HasPrefix(ue.usage, tc.usage) || !strings.Contains(ue.usage, tc.usageHas) {
					t.Errorf("run(%q) = usageError{msg: %q, usage: %q}, want msg %q and usage %q listing %q", tc.args, ue.msg, ue.usage, tc.msg, tc.usage, tc.usageHas)
				}
				if out != "" {
					t.Errorf("run(%q) printed %q to stdout, want nothing", tc.args, out)
				}
			}

			code, stdout, stderr := runBinary(t, []string{}, tc.args...)
			if code != 2 {
				t.Errorf("ironclad %q exit = %d, want 2\nstderr:\n%s", tc.args, code, stderr)
			}
			if !strings.HasPrefix(stderr, "ironclad: "+tc.msg) || !strings.Contains(stderr, "\n"+tc.usage) || !strings.Contains(stderr, tc.usageHas) {
				t.Errorf("ironclad %q stderr = %q, want %q then the usage %q", tc.args, stderr, "ironclad: "+tc.msg, tc.usage)
			}
			if stdout != "" {
				t.Errorf("ironclad %q stdout = %q, want nothing", tc.args, stdout)
			}
			if tc.notEchoed != "" && strings.Contains(stdout+stderr, tc.notEchoed) {
				t.Errorf("ironclad %q printed %q back", tc.args, tc.notEchoed)
			}
		})
	}
}

// help and version read no configuration: they work in an empty
// environment, and in one whose configuration is invalid.
func TestHelpAndVersionNeedNoConfig(t *testing.T) {
	mainUsageHas := []string{"Usage: ironclad [COMMAND] [FLAGS]", "Run 'ironclad COMMAND -h'"}
	for _, c := range commands() {
		mainUsageHas = append(mainUsageHas, "\n  "+c.name+" ")
	}
	purgeUsageHas := []string{"Usage: ironclad purge [FLAGS]", "-dry-run", "count what would be deleted, and delete nothing"}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, mainUsageHas},
		{[]string{"-h"}, mainUsageHas},
		{[]string{"-help"}, mainUsageHas},
		{[]string{"--help"}, mainUsageHas},
		{[]string{"purge", "-h"}, purgeUsageHas},
		{[]string{"purge", "--help"}, purgeUsageHas},
		{[]string{"help", "purge"}, purgeUsageHas},
		{[]string{"createuser", "-h"}, []string{"Usage: ironclad createuser [FLAGS]", "-username", "-email", "-role", "-password-stdin"}},
		{[]string{"help", "serve"}, []string{"Usage: ironclad serve [FLAGS]", "the default command"}},
		{[]string{"version"}, []string{"ironclad ", runtime.Version()}},
	}
	envs := []struct {
		name string
		vars map[string]string
	}{
		{"empty environment", map[string]string{}},
		{"APP_ENV=bogus", map[string]string{"APP_ENV": "bogus"}},
		{"invalid everything", map[string]string{"APP_ENV": "bogus", "DATABASE_URL": "mysql://u:secretpw@h/db", "LOG_LEVEL": "verbose"}},
	}
	for _, e := range envs {
		t.Run(e.name, func(t *testing.T) {
			for _, tc := range cases {
				out, err := runCLI(t, mapEnv(e.vars), "", tc.args...)
				if err != nil {
					t.Errorf("run(%q) error = %v, want nil", tc.args, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("run(%q) printed %q, want it to contain %q", tc.args, out, w)
					}
				}
			}
			// The same environment does reach a command that needs it.
			if len(e.vars) > 0 {
				if _, err := runCLI(t, mapEnv(e.vars), "", "migrate"); err == nil || !strings.Contains(err.Error(), "APP_ENV") {
					t.Errorf("run(migrate) with %v = %v, want an error naming APP_ENV", e.vars, err)
				}
			}
		})
	}

	// The binary exits 0 for them, printing to stdout only.
	for _, env := range [][]string{{}, {"APP_ENV=bogus"}} {
		for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"purge", "-h"}, {"help", "purge"}, {"version"}} {
			code, stdout, stderr := runBinary(t, env, args...)
			if code != 0 || stdout == "" || stderr != "" {
				t.Errorf("ironclad %q with env %q: exit %d, stdout %q, stderr %q; want 0 and stdout only", args, env, code, stdout, stderr)
			}
		}
	}
}

// version prints one line: the module version, the VCS revision when the
// build recorded one, and the Go version.
func TestVersion(t *testing.T) {
	line := regexp.MustCompile(`^ironclad \S+( [0-9a-f]{40}( \(modified\))?( \S+)?)? go\d+\.\d+\S*\n$`)
	out, err := runCLI(t, noEnv, "", "version")
	if err != nil || !line.MatchString(out) {
		t.Fatalf("run(version) = %q, %v; want one line matching %s", out, err, line)
	}

	bin := ironcladBinary(t)
	code, stdout, stderr := runBinary(t, []string{}, "version")
	if code != 0 || !line.MatchString(stdout+"\n") {
		t.Fatalf("ironclad version: exit %d, stdout %q, stderr %q; want one line matching %s", code, stdout, stderr, line)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ironclad " + bi.Main.Version + " ", bi.GoVersion}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			want = append(want, s.Value)
		}
	}
	for _, w := range want {
		if !strings.Contains(stdout, w) {
			t.Errorf("ironclad version = %q, want it to contain %q (recorded in the binary)", stdout, w)
		}
	}
}

// purge --dry-run counts what purge deletes, and deletes nothing.
func TestPurgeDryRun(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ironclad.db")
	env := mapEnv(map[string]string{"DATABASE_URL": db, "DATA_DIR": dir, "JWT_SECRET": apptest.Secret})
	must := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, env, apptest.Password+"\n", args...)
		if err != nil {
			t.Fatalf("run(%q) error = %v\n%s", args, err, out)
		}
		return out
	}
	must("createuser", "--username", "erin", "--password-stdin")

	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUsername(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	// A session that ended a month ago, past the 7-day keep of REFRESH_TOKEN_TTL,
	// and a live one.
	now := time.Now().UTC()
	ended := now.Add(-30 * 24 * time.Hour)
	expired := &models.Session{UserID: u.ID, CreatedAt: ended.Add(-time.Hour), ExpiresAt: ended}
	if err := st.CreateSession(ctx, expired, &models.RefreshToken{TokenHash: strings.Repeat("a", 64), ExpiresAt: ended}); err != nil {
		t.Fatal(err)
	}
	live := &models.Session{UserID: u.ID, ExpiresAt: now.Add(24 * time.Hour)}
	if err := st.CreateSession(ctx, live, &models.RefreshToken{TokenHash: strings.Repeat("b", 64), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// An audit event past the 90 days of AUDIT_RETENTION, and a recent one.
	if err := st.RecordAudit(ctx, []*models.AuditEvent{
		{At: now.Add(-100 * 24 * time.Hour), Type: models.AuditLoginFailed},
		{At: now.Add(-time.Hour), Type: models.AuditLoginFailed},
	}); err != nil {
		t.Fatal(err)
	}
	audit := func() (n int64) {
		t.Helper()
		if err := st.DB().Table("audit_events").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	rows := func() (sessions, tokens int64) {
		t.Helper()
		if err := st.DB().Table("sessions").Count(&sessions).Error; err != nil {
			t.Fatal(err)
		}
		if err := st.DB().Table("refresh_tokens").Count(&tokens).Error; err != nil {
			t.Fatal(err)
		}
		return sessions, tokens
	}
	if s, tk := rows(); s != 2 || tk != 2 {
		t.Fatalf("before: %d sessions, %d tokens; want 2, 2", s, tk)
	}

	// The expired session, its token and the old audit event.
	if out := must("purge", "--dry-run"); !strings.Contains(out, "would purge 3 rows (dry run: nothing deleted)") {
		t.Errorf("purge --dry-run printed %q, want 3 rows", out)
	}
	if s, tk := rows(); s != 2 || tk != 2 || audit() != 2 {
		t.Fatalf("after purge --dry-run: %d sessions, %d tokens, %d audit events; want 2, 2, 2 (nothing deleted)", s, tk, audit())
	}

	if out := must("purge"); !strings.Contains(out, "purged 3 rows") {
		t.Errorf("purge printed %q, want 3 rows", out)
	}
	if s, tk := rows(); s != 1 || tk != 1 || audit() != 1 {
		t.Fatalf("after purge: %d sessions, %d tokens, %d audit events; want 1, 1, 1 (the live session, the recent event)", s, tk, audit())
	}
	var left []string
	if err := st.DB().Table("sessions").Pluck("id", &left).Error; err != nil || len(left) != 1 || left[0] != live.ID {
		t.Errorf("sessions left = %v, %v; want the live one %s", left, err, live.ID)
	}
	if out := must("purge", "--dry-run"); !strings.Contains(out, "would purge 0 rows") {
		t.Errorf("purge --dry-run after purge printed %q, want 0 rows", out)
	}
}

// DATABASE_URL takes Postgres URLs and key/value strings, and SQLite paths
// in a form that says so; anything else is refused, naming the variable but
// never its value.
func TestDatabaseURLForms(t *testing.T) {
	accepted := []struct {
		dsn      string
		postgres bool
	}{
		{"postgres://u:pw@db:5432/ironclad?sslmode=require", true},
		{"postgresql://u@db/ironclad", true},
		{"host=localhost dbname=x", true},
		{"sqlite:///var/lib/ironclad/data.db", false},
		{"sqlite://data", false},
		{"file:data/ironclad.db?_pragma=foreign_keys(1)", false},
		{"x.db", false},
		{"data/x.sqlite", false},
		{"/srv/x.sqlite3", false},
	}
	for _, tc := range accepted {
		cfg, err := app.LoadConfig(mapEnv(map[string]string{"DATABASE_URL": tc.dsn}))
		if err != nil || cfg.DatabaseURL != tc.dsn {
			t.Errorf("LoadConfig(DATABASE_URL=%q) = %q, %v; want it accepted as is", tc.dsn, cfg.DatabaseURL, err)
		}
		// Production takes the Postgres forms only.
		_, err = app.LoadConfig(mapEnv(map[string]string{"APP_ENV": "production", "JWT_SECRET": apptest.Secret, "DATABASE_URL": tc.dsn}))
		if tc.postgres && err != nil {
			t.Errorf("LoadConfig(production, DATABASE_URL=%q) error = %v, want nil", tc.dsn, err)
		}
		if !tc.postgres && (err == nil || !strings.Contains(err.Error(), "DATABASE_URL")) {
			t.Errorf("LoadConfig(production, DATABASE_URL=%q) error = %v, want one naming DATABASE_URL", tc.dsn, err)
		}
	}

	for _, dsn := range []string{"mysql://u@h/db", "mysql://u:secretpw@h/db", "ironclad", "typo.dbx", "redis://:secretpw@h:6379/0", "data.db.bak"} {
		_, err := app.LoadConfig(mapEnv(map[string]string{"DATABASE_URL": dsn}))
		if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") {
			t.Errorf("LoadConfig(DATABASE_URL=%q) error = %v, want one naming DATABASE_URL", dsn, err)
			continue
		}
		if strings.Contains(err.Error(), dsn) || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("LoadConfig(DATABASE_URL=%q) error = %q repeats the value", dsn, err)
		}
	}
}

// A configuration error names its variable; the command exits 1 with it
// and no secret.
func TestConfigRefusals(t *testing.T) {
	cases := []struct {
		name, key, value string
	}{
		{"APP_ENV=prod", "APP_ENV", "prod"},
		{"APP_ENV=Production", "APP_ENV", "Production"},
		{"LOG_LEVEL=verbose", "LOG_LEVEL", "verbose"},
		{"mysql URL", "DATABASE_URL", "mysql://u@h/db"},
		{"mysql URL with a password", "DATABASE_URL", "mysql://u:secretpw@h/db"},
		{"no extension", "DATABASE_URL", "ironclad"},
		{"wrong extension", "DATABASE_URL", "typo.dbx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DATA_DIR": t.TempDir(), tc.key: tc.value}
			if _, err := app.LoadConfig(mapEnv(env)); err == nil || !strings.HasPrefix(err.Error(), tc.key+": ") {
				t.Errorf("LoadConfig(%s=%q) error = %v, want one naming %s", tc.key, tc.value, err, tc.key)
			}
			for _, cmd := range []string{"serve", "migrate", "purge"} {
				out, err := runCLI(t, mapEnv(env), "", cmd)
				var ue usageError
				if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), tc.key) {
					t.Errorf("run(%s) with %s=%q error = %v, want a configuration error naming %s", cmd, tc.key, tc.value, err, tc.key)
				}
				if strings.Contains(out, "secretpw") || (err != nil && strings.Contains(err.Error(), "secretpw")) {
					t.Errorf("run(%s) with %s=%q printed the password", cmd, tc.key, tc.value)
				}
			}

			code, stdout, stderr := runBinary(t, []string{"DATA_DIR=" + t.TempDir(), tc.key + "=" + tc.value}, "migrate")
			if code != 1 || !strings.HasPrefix(stderr, "ironclad: "+tc.key+": ") {
				t.Errorf("ironclad migrate with %s=%q: exit %d, stderr %q; want 1 and an error naming %s", tc.key, tc.value, code, stderr, tc.key)
			}
			if strings.Contains(stdout+stderr, "secretpw") {
				t.Errorf("ironclad migrate with %s=%q printed the password: %q", tc.key, tc.value, stdout+stderr)
			}
			if strings.Contains(stderr, "Usage:") {
				t.Errorf("ironclad migrate with %s=%q printed the usage for a configuration error", tc.key, tc.value)
			}
		})
	}
}

// serveOnce runs start (run or serve) until it listens and has answered
// GET /healthz, then stops it and returns all it printed. An answer means
// the server is past its startup messages: they precede Serve.
func serveOnce(t *testing.T, start func(ctx context.Context, stdout io.Writer) error) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newLineLog(0)
	done := make(chan error, 1)
	go func() { done <- start(ctx, out) }()
	var line string
	select {
	case line = <-out.waitFor("ironclad listening"):
	case err := <-done:
		t.Fatalf("serve ended before listening: %v\n%s", err, out)
	}
	resp, err := http.Get("http://" + listenAddr(t, line) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after cancel = %v\n%s", err, out)
	}
	return out.String()
}

// The "No users yet" hint is printed by serve on an empty database in
// development only: a production server never suggests how to get in.
func TestStartupHint(t *testing.T) {
	const hint = "No users yet. Create one with:"
	sqliteEnv := func(t *testing.T) map[string]string {
		dir := t.TempDir()
		return map[string]string{"JWT_SECRET": apptest.Secret, "DATA_DIR": dir, "DATABASE_URL": filepath.Join(dir, "ironclad.db"),
			"ADDR": "127.0.0.1:0", "SHUTDOWN_DRAIN": "0s"}
	}
	runServe := func(env map[string]string) func(context.Context, io.Writer) error {
		return func(ctx context.Context, w io.Writer) error { return run(ctx, []string{"serve"}, mapEnv(env), nil, w) }
	}

	t.Run("no users", func(t *testing.T) {
		if out := serveOnce(t, runServe(sqliteEnv(t))); !strings.Contains(out, hint) {
			t.Errorf("serve on an empty database printed\n%s\nwant the hint %q", out, hint)
		}
	})
	t.Run("one user", func(t *testing.T) {
		env := sqliteEnv(t)
		if out, err := runCLI(t, mapEnv(env), apptest.Password+"\n", "createuser", "--username", "frank", "--password-stdin"); err != nil {
			t.Fatalf("createuser: %v\n%s", err, out)
		}
		if out := serveOnce(t, runServe(env)); strings.Contains(out, hint) {
			t.Errorf("serve with a user printed the hint:\n%s", out)
		}
	})
	// LoadConfig takes APP_ENV=production with Postgres only; on SQLite the
	// rule is checked on serve itself, with the configuration production
	// sets (Production, and its JSON log), on the same empty database that
	// gets the hint in development.
	t.Run("production, serve on an empty database", func(t *testing.T) {
		cfg, err := app.LoadConfig(mapEnv(sqliteEnv(t)))
		if err != nil {
			t.Fatal(err)
		}
		serveWith := func(production bool) string {
			c := cfg
			c.Production = production
			return serveOnce(t, func(ctx context.Context, w io.Writer) error { return serve(ctx, c, newLogger(c, w), w) })
		}
		if out := serveWith(true); strings.Contains(out, hint) || !strings.Contains(out, `"msg":"ironclad listening"`) {
			t.Errorf("serve in production printed\n%s\nwant JSON logs and no hint", out)
		}
		if out := serveWith(false); !strings.Contains(out, hint) {
			t.Errorf("serve in development on the same empty database printed\n%s\nwant the hint", out)
		}
	})
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Logf("%s is not set: APP_ENV=production through run() needs Postgres, so it was checked on serve only", storetest.EnvDatabaseURL)
		return
	}
	t.Run("production on postgres", func(t *testing.T) {
		dsn, _ := storetest.OpenDSN(t, store.DialectPostgres)
		env := map[string]string{"APP_ENV": "production", "JWT_SECRET": apptest.Secret, "DATABASE_URL": dsn, "ADDR": "127.0.0.1:0", "SHUTDOWN_DRAIN": "0s"}
		if out := serveOnce(t, runServe(env)); strings.Contains(out, hint) || !strings.Contains(out, `"production":true`) {
			t.Errorf("run(serve) in production on an empty database printed\n%s\nwant a production server and no hint", out)
		}
		env["APP_ENV"] = "development"
		env["DATA_DIR"] = t.TempDir()
		if out := serveOnce(t, runServe(env)); !strings.Contains(out, hint) {
			t.Errorf("run(serve) in development on the same database printed\n%s\nwant the hint", out)
		}
	})
}
