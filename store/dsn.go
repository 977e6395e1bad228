package store

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// libpqKeyValue matches the start of a libpq key/value connection string,
// such as "host=db dbname=ironclad".
var libpqKeyValue = regexp.MustCompile(`^\s*[a-z_]+\s*=`)

// IsPostgresDSN reports whether dsn names a PostgreSQL database: a
// postgres:// or postgresql:// URL, or a libpq key/value string.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || libpqKeyValue.MatchString(dsn)
}

// ValidDSN reports whether dsn names a database Ironclad can open:
// PostgreSQL (IsPostgresDSN), or SQLite as sqlite://PATH, file:PATH, or a
// path ending in .db, .sqlite or .sqlite3. Anything else (a mysql:// URL, a
// typo) is refused rather than becoming an SQLite file of that name.
func ValidDSN(dsn string) bool {
	if IsPostgresDSN(dsn) {
		return true
	}
	if strings.HasPrefix(dsn, "sqlite://") {
		return len(dsn) > len("sqlite://")
	}
	if strings.HasPrefix(dsn, "file:") {
		return len(dsn) > len("file:")
	}
	if strings.Contains(dsn, "://") {
		return false
	}
	path, _, _ := strings.Cut(dsn, "?")
	for _, ext := range []string{".db", ".sqlite", ".sqlite3"} {
		if strings.HasSuffix(path, ext) && len(path) > len(ext) {
			return true
		}
	}
	return false
}

// sqlitePath is dsn without the sqlite:// scheme, as the driver takes it.
func sqlitePath(dsn string) string { return strings.TrimPrefix(dsn, "sqlite://") }

// withStatementTimeout sets Postgres' statement_timeout on every connection
// of dsn (a run-time parameter of the startup message), unless the DSN sets
// one itself.
func withStatementTimeout(dsn string, d time.Duration) string {
	if d <= 0 || strings.Contains(dsn, "statement_timeout") {
		return dsn
	}
	ms := fmt.Sprint(d.Milliseconds())
	if !strings.Contains(dsn, "://") {
		return dsn + " statement_timeout=" + ms
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // pgx reports the bad DSN
	}
	q := u.Query()
	q.Set("statement_timeout", ms)
	u.RawQuery = q.Encode()
	return u.String()
}
