package app

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestREADMEConfigurationTable: the README's configuration table is the
// Settings table, row for row, so a variable cannot be added, renamed or
// re-defaulted without its documentation.
func TestREADMEConfigurationTable(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	var want strings.Builder
	for _, s := range Settings {
		row := "| `" + s.Name + "` | " + s.Default + " | " + s.Doc + " |"
		want.WriteString(row + "\n")
		if !strings.Contains(readme, row+"\n") {
			t.Errorf("README.md lacks the row of %s:\n%s", s.Name, row)
		}
	}
	// And nothing else: every row of the table names a Setting.
	start := strings.Index(readme, "| Variable |")
	if start < 0 {
		t.Fatal("README.md has no configuration table (| Variable | ...)")
	}
	lines := strings.Split(readme[start:], "\n")
	n := 0
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "| `") {
			break
		}
		n++
	}
	if n != len(Settings) {
		t.Errorf("README.md's configuration table has %d rows, Settings %d; the table should read:\n%s", n, len(Settings), want.String())
	}
}

// TestLoadConfigHardening covers the variables and checks of the hardening
// round: timeouts, the drain, strict APP_ENV, LOG_LEVEL and DATABASE_URL.
func TestLoadConfigHardening(t *testing.T) {
	c, err := LoadConfig(mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.RequestTimeout != 10*time.Second || c.StatementTimeout != 5*time.Second || c.ShutdownDrain != 5*time.Second ||
		c.ReuseGrace != 10*time.Second || c.Env != "development" {
		t.Fatalf("defaults = request %v, statement %v, drain %v, grace %v, env %q", c.RequestTimeout, c.StatementTimeout, c.ShutdownDrain, c.ReuseGrace, c.Env)
	}
	ok := []map[string]string{
		{"REQUEST_TIMEOUT": "2s", "DB_STATEMENT_TIMEOUT": "100ms", "SHUTDOWN_DRAIN": "0s", "REFRESH_REUSE_GRACE": "0s"},
		{"APP_ENV": "test"}, {"APP_ENV": "development"}, {"LOG_LEVEL": "DEBUG"}, {"LOG_LEVEL": "warn"},
		{"DATABASE_URL": "postgres://u@db/x"}, {"DATABASE_URL": "postgresql://u@db/x"},
		{"DATABASE_URL": "host=db dbname=ironclad user=ironclad"}, {"DATABASE_URL": "sqlite:///var/lib/ironclad/db"},
		{"DATABASE_URL": "file:ironclad.db?_pragma=busy_timeout(1000)"}, {"DATABASE_URL": "data/x.db"},
		{"DATABASE_URL": "x.sqlite"}, {"DATABASE_URL": "/srv/x.sqlite3"},
	}
	for _, env := range ok {
		if _, err := LoadConfig(mapEnv(env)); err != nil {
			t.Errorf("LoadConfig(%v) error = %v, want none", env, err)
		}
	}
	bad := []struct {
		env    map[string]string
		naming string
	}{
		{map[string]string{"REQUEST_TIMEOUT": "0s"}, "REQUEST_TIMEOUT"},
		{map[string]string{"REQUEST_TIMEOUT": "soon"}, "REQUEST_TIMEOUT"},
		{map[string]string{"DB_STATEMENT_TIMEOUT": "2m"}, "DB_STATEMENT_TIMEOUT"},
		{map[string]string{"SHUTDOWN_DRAIN": "-1s"}, "SHUTDOWN_DRAIN"},
		{map[string]string{"APP_ENV": "prod"}, "APP_ENV"},
		{map[string]string{"APP_ENV": "Production"}, "APP_ENV"},
		{map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{map[string]string{"DATABASE_URL": "mysql://u:secretpw@db/x"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "ironclad"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "typo.dbx"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "sqlite://"}, "DATABASE_URL"},
	}
	for _, tc := range bad {
		_, err := LoadConfig(mapEnv(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.naming+":") {
			t.Errorf("LoadConfig(%v) error = %v, want one naming %s", tc.env, err, tc.naming)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("LoadConfig(%v) error repeats the password: %v", tc.env, err)
		}
	}
}

// TestDBMaxConns: DB_MAX_CONNS reaches the store's options, and a value
// outside 1..1000 is refused.
func TestDBMaxConns(t *testing.T) {
	c, err := LoadConfig(mapEnv(map[string]string{"DB_MAX_CONNS": "24"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := StoreOptions(c, nil).MaxConns; got != 24 {
		t.Errorf("StoreOptions().MaxConns = %d, want 24", got)
	}
	for _, bad := range []string{"0", "1001", "x", "-3"} {
		if _, err := LoadConfig(mapEnv(map[string]string{"DB_MAX_CONNS": bad})); err == nil || !strings.Contains(err.Error(), "DB_MAX_CONNS") {
			t.Errorf("DB_MAX_CONNS=%s: err = %v, want an error naming DB_MAX_CONNS", bad, err)
		}
	}
}
