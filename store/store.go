// Package store is Ironclad's persistence layer: it opens Postgres or SQLite
// through gorm, applies the versioned migrations, runs every query the other
// packages need, and is the only place that translates gorm and driver errors
// (see errors.go).
package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names returned by Store.Dialect.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// sqlitePragmas are applied by the driver to every new SQLite connection:
// WAL lets readers run beside the single writer, busy_timeout makes a writer
// wait for the lock instead of failing, and foreign_keys enables the cascades
// declared in the migrations (SQLite leaves them off by default).
var sqlitePragmas = []string{
	"journal_mode(WAL)",
	"busy_timeout(5000)", // replaced by Options.StatementTimeout
	"foreign_keys(ON)",
	"synchronous(NORMAL)",
}

// DefaultStatementTimeout bounds one statement when Options.StatementTimeout
// is zero (DB_STATEMENT_TIMEOUT).
const DefaultStatementTimeout = 5 * time.Second

// Store is the database handle shared by every service. It is safe for
// concurrent use.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect string

	cache   *identityCache // nil when disabled (Options.IdentityTTL < 0)
	peerKey string         // SQLite: the database shared with other Stores of this process
	notify  *notifier      // nil on SQLite without Redis, or without a cache
	log     *slog.Logger   // Options.Log, or a discarding logger
}

// Options tune a Store beyond its DSN.
type Options struct {
	// IdentityTTL is the longest a cached identity (see Identity) is served
	// without being re-read; 0 means DefaultIdentityTTL, negative disables
	// the cache.
	IdentityTTL time.Duration
	// RedisURL, when set, also carries identity changes between replicas
	// over Redis pub/sub (redis://host:port/db).
	RedisURL string
	// Log receives the notification channels' warnings; nil discards them.
	Log *slog.Logger
	// Observer, when set, is called on every event of the identity cache
	// from the start (see SetIdentityObserver).
	Observer func(IdentityEvent)
	// StatementTimeout bounds every statement: Postgres' statement_timeout
	// on each connection, SQLite's busy timeout (how long a writer waits
	// for the lock). 0 means DefaultStatementTimeout; negative leaves the
	// databases' own defaults.
	StatementTimeout time.Duration
	// HeartbeatInterval is how often a Postgres replica checks that its
	// LISTEN connection still delivers (notify.go); 0 means
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// MaxConns is the most connections the store opens; 0 means
	// DefaultMaxConns.
	MaxConns int
}

// DefaultMaxConns is the pool size a Store opens by default: 4 a core, and
// on Postgres at least 16. A Postgres transaction holds its connection
// across its round trips, and on a busy machine for the scheduling between
// them too: with 8 connections on 2 cores, 32 refreshing clients queued
// for the pool while Postgres still had room; 16 served a third more, and
// 32 no more than 16 (BENCHMARKS.md, "The write floor"). Each connection is
// a Postgres backend: keep replicas × pool under max_connections.
func DefaultMaxConns(dialect string) int {
	if dialect == DialectPostgres {
		return max(16, 4*runtime.GOMAXPROCS(0))
	}
	return 4 * runtime.GOMAXPROCS(0)
}

// Open connects to dsn and returns a ready Store; it does not migrate.
//
// A dsn beginning with "postgres://" or "postgresql://" selects Postgres.
// Anything else is an SQLite file path (its parent directory is created) or a
// "file:" URI; the WAL, busy_timeout(5000), foreign_keys(ON) and
// synchronous(NORMAL) pragmas and _txlock=immediate are added unless the DSN
// already sets them. A named in-memory database, "file:/NAME?vfs=memdb",
// is shared by every Store opened on it in the process; the shared-cache
// form "file:NAME?mode=memory&cache=shared" is opened as that equivalent.
// Open verifies the connection before returning. It is OpenWith with the
// default Options.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options. On Postgres, and on Redis when
// opts.RedisURL is set, it starts listening for identity changes of other
// replicas; Close stops it.
func OpenWith(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg := &gorm.Config{
		// SQL text and its values must never reach logs or clients.
		Logger:         logger.Discard,
		TranslateError: true,
		// Single statements need no transaction; multi-statement
		// operations open their own.
		SkipDefaultTransaction: true,
		PrepareStmtMaxSize:     256, // SQLite only: see below
		NowFunc:                func() time.Time { return utc(time.Now()) },
		// Ping below instead, bounded by ctx.
		DisableAutomaticPing: true,
	}

	var (
		dialector gorm.Dialector
		dialect   string
		memory    bool
		peerKey   string
	)
	timeout := opts.StatementTimeout
	if timeout == 0 {
		timeout = DefaultStatementTimeout
	}
	if IsPostgresDSN(dsn) {
		dialect = DialectPostgres
		dialector = postgres.New(postgres.Config{DSN: withStatementTimeout(dsn, timeout)})
	} else {
		dialect = DialectSQLite
		full, mem, err := sqliteDSN(sqlitePath(dsn), timeout)
		if err != nil {
			return nil, err
		}
		memory = mem
		dialector = sqlite.Open(full)
		if !mem {
			peerKey = sqlitePeerKey(full)
		}
	}

	// Prepared statements: on Postgres, pgx's own per-connection statement
	// cache (its default query mode) prepares each statement once on each
	// connection. gorm's PrepareStmt would instead prepare a statement first
	// met inside a transaction on that transaction alone, so every later
	// transaction prepared it again and deallocated it at its end: two more
	// round trips for each statement of each refresh, a third of its time
	// (BENCHMARKS.md, "The write floor"). On SQLite preparing is
	// in-process, and gorm's cache saves parsing each statement again.
	cfg.PrepareStmt = dialect == DialectSQLite
	db, err := gorm.Open(dialector, cfg)
	if err != nil {
		if db != nil {
			if sqlDB, _ := db.DB(); sqlDB != nil {
				_ = sqlDB.Close()
			}
		}
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	configurePool(sqlDB, dialect, memory, opts.MaxConns)

	s := &Store{db: db, sqlDB: sqlDB, dialect: dialect, log: opts.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if err := s.startCache(dsn, peerKey, opts); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// startCache sets up the identity cache and the channels invalidating it.
func (s *Store) startCache(dsn, peerKey string, opts Options) error {
	if opts.IdentityTTL < 0 {
		return nil
	}
	ttl := opts.IdentityTTL
	if ttl == 0 {
		ttl = DefaultIdentityTTL
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var rdb *redis.Client
	if opts.RedisURL != "" {
		ro, err := redis.ParseURL(opts.RedisURL)
		if err != nil {
			return fmt.Errorf("store: REDIS_URL: %w", err)
		}
		rdb = redis.NewClient(ro)
	}
	s.cache = newIdentityCache(ttl)
	if opts.Observer != nil {
		s.cache.observer.Store(&opts.Observer)
	}
	if s.peerKey = peerKey; peerKey != "" {
		addSQLitePeer(peerKey, s.cache)
	}
	pgDSN := ""
	if s.dialect == DialectPostgres {
		pgDSN = dsn
	}
	if pgDSN != "" || rdb != nil {
		var beat func(context.Context, string) error
		if pgDSN != "" {
			// Straight through database/sql, not gorm: a heartbeat is no
			// statement of the application (statement counts and gorm
			// callbacks, which tests register while it runs, never see it).
			beat = func(ctx context.Context, payload string) error {
				_, err := s.sqlDB.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, payload)
				return err
			}
		}
		s.notify = startNotifier(s.cache, log.With("component", "store"), pgDSN, rdb, beat, opts.HeartbeatInterval)
	}
	return nil
}

// sqlitePeerKey names the database of an SQLite DSN for sqlitePeers: the
// absolute file path, or the memdb name.
func sqlitePeerKey(full string) string {
	base, _, _ := strings.Cut(full, "?")
	if strings.HasPrefix(base, "file:") {
		return base
	}
	if abs, err := filepath.Abs(base); err == nil {
		return abs
	}
	return base
}

// configurePool sizes the connection pool for the machine.
func configurePool(sqlDB *sql.DB, dialect string, privateMemory bool, n int) {
	if n <= 0 {
		n = DefaultMaxConns(dialect)
	}
	switch {
	case dialect == DialectPostgres:
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		// Recycle connections so a failover or a pgbouncer restart is
		// picked up, and idle ones are returned to the server.
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	case privateMemory:
		// ":memory:" without a shared cache is a separate database per
		// connection: keep exactly one, forever.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
	default:
		// WAL allows many readers beside one writer; writers queue on
		// the database lock (busy_timeout). Connections are never
		// expired: a named in-memory database lives only as long as one
		// of its connections does.
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
	}
}

// sqliteDSN adds the standard pragmas and immediate transactions to an
// SQLite DSN and creates the parent directory of a plain file path. It
// reports whether the DSN names a private (per-connection) in-memory database.
func sqliteDSN(dsn string, busy time.Duration) (full string, privateMemory bool, err error) {
	if dsn == "" {
		return "", false, fmt.Errorf("store: open sqlite: empty database path")
	}
	base, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false, fmt.Errorf("store: open sqlite: invalid query in database DSN: %w", err)
	}

	if q.Get("mode") == "memory" && q.Get("cache") == "shared" && strings.HasPrefix(base, "file:") {
		// Shared-cache mode locks per table and fails a transaction at
		// once when another connection writes (the driver does not retry
		// BEGIN, and busy_timeout does not apply), so concurrent requests
		// would see "database table is locked". The memdb VFS gives the
		// same thing, a named in-memory database shared by every
		// connection of the process, with ordinary file locking.
		base = "file:/" + strings.TrimLeft(strings.TrimPrefix(base, "file:"), "/")
		q.Del("mode")
		q.Del("cache")
		q.Set("vfs", "memdb")
	}
	memdb := q.Get("vfs") == "memdb"
	memory := memdb || base == ":memory:" || base == "file::memory:" || q.Get("mode") == "memory"
	privateMemory = memory && !memdb && q.Get("cache") != "shared"
	if !memory && !strings.HasPrefix(base, "file:") {
		if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
			return "", false, fmt.Errorf("store: open sqlite: create directory: %w", err)
		}
	}

	set := map[string]bool{}
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		name, _, _ = strings.Cut(name, "=")
		set[strings.ToLower(strings.TrimSpace(name))] = true
	}
	for _, p := range sqlitePragmas {
		name, _, _ := strings.Cut(p, "(")
		if name == "busy_timeout" && busy > 0 {
			p = fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds())
		}
		if !set[name] {
			q.Add("_pragma", p)
		}
	}
	// Every write transaction takes the write lock at BEGIN, so two
	// transactions never both read and then both try to upgrade (which
	// SQLite resolves by failing one at once instead of waiting).
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	return base + "?" + q.Encode(), privateMemory, nil
}

// Close stops the notification listeners and closes the connection pool.
func (s *Store) Close() error {
	if s.notify != nil {
		s.notify.close()
	}
	if s.peerKey != "" {
		removeSQLitePeer(s.peerKey, s.cache)
	}
	if p, ok := s.db.ConnPool.(*gorm.PreparedStmtDB); ok {
		p.Close()
	}
	if err := s.sqlDB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return unavailable(fmt.Errorf("store: ping: %w", err))
	}
	return nil
}

// Dialect returns "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// DB returns the underlying gorm handle, for tests and instrumentation such
// as a query counter. Application code uses the Store's methods.
func (s *Store) DB() *gorm.DB { return s.db }

// SQLDB returns the connection pool under the store, for its statistics
// (metrics); statements go through DB.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// utc normalizes a time for storage: UTC (so SQLite's text timestamps compare
// correctly as strings) at microsecond precision (what Postgres keeps), so
// both databases hold and return the same value.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// utcPtr is utc for optional times.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}
