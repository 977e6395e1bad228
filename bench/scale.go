package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// The scale run (issue 16): `go run ./bench -scale 1000000` seeds a
// database of that many users (seed.go) and one of smallScale users, starts
// Ironclad on each in turn, and measures the same scenarios on both, in
// the same run, as ratios large/small. On Postgres it also measures the
// write floor (floor.go), the search indexes (EXPLAIN), the size per user
// and session, and a purge of the expired half of the tokens while refresh
// chains run (purge.go).

// smallScale is the size the large database is compared with.
const smallScale = 1000

// coldSessions is how many distinct sessions the cold me scenario reads
// once each.
const coldSessions = 10000

// scaleDB is one seeded database.
type scaleDB struct {
	kind  string // sqlite or postgres
	dsn   string
	n     int
	drop  func()
	st    *store.Store // the harness's own connection, for helper rows
	extra atomic.Int64 // numbering of rows added during the run
}

// scaleResult is one scenario's figures on one database.
type scaleResult struct {
	name   string
	rps    float64
	p50    time.Duration
	p99    time.Duration
	max    time.Duration
	n      int
	errs   int
	busy   int // of errs, TOO_MANY_REQUESTS
	note   string
	lowerB bool // throughput is not the figure (one-shot scenarios)
}

func resultOf(name string, s *stats) scaleResult {
	r := scaleResult{name: name, rps: s.rps(), p50: s.pct(0.5), p99: s.pct(0.99), n: s.n(), errs: s.errors(), busy: s.counts[busy]}
	if len(s.lats) > 0 {
		r.max = s.lats[len(s.lats)-1]
	}
	return r
}

// runScale is the whole scale run.
func runScale(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "ironclad-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg.work = work
	if err := checkDisk(cfg.scale); err != nil {
		return err
	}
	bin, err := build(ctx, cfg.src, work)
	if err != nil {
		return err
	}
	hash, err := benchHash(ctx)
	if err != nil {
		return err
	}
	out := os.Stdout
	fmt.Fprintf(out, "\nIronclad scale run: %s, %d users against %d, %s per scenario, rounds %d, machine shared with other jobs\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cfg.scale, smallScale, cfg.duration, cfg.rounds)
	for _, kind := range cfg.dbs {
		if err := scaleOn(ctx, cfg, bin, hash, kind); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	return nil
}

// checkDisk refuses a run the disk holding the temporary folder cannot
// take: about 8 KiB a user on Postgres (tables, indexes and WAL).
func checkDisk(n int) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(os.TempDir(), &fs); err != nil {
		return nil // not knowable here: go on
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	need := int64(n) * 8 << 10
	progress("disk: %.1f GiB free, the run needs about %.1f GiB", float64(free)/(1<<30), float64(need)/(1<<30))
	if free < need {
		return fmt.Errorf("not enough disk: %.1f GiB free, about %.1f GiB needed for -scale %d", float64(free)/(1<<30), float64(need)/(1<<30), n)
	}
	return nil
}

func scaleOn(ctx context.Context, cfg config, bin, hash, kind string) error {
	large, err := openScaleDB(ctx, cfg, kind, cfg.scale, hash)
	if err != nil {
		return err
	}
	defer large.close()
	small, err := openScaleDB(ctx, cfg, kind, smallScale, hash)
	if err != nil {
		return err
	}
	defer small.close()

	var rounds [][2][]scaleResult
	for round := range cfg.rounds {
		var pair [2][]scaleResult
		for i, db := range []*scaleDB{small, large} {
			progress("%s: round %d, scenarios on %d users", kind, round+1, db.n)
			rs, err := scaleScenarios(ctx, cfg, bin, db)
			if err != nil {
				return err
			}
			pair[i] = rs
		}
		rounds = append(rounds, pair)
	}
	for i, pair := range rounds {
		printScaleTable(os.Stdout, fmt.Sprintf("%s, round %d", kind, i+1), large.n, pair[0], pair[1])
	}
	if kind != "postgres" {
		return sqliteSearchCost(ctx, cfg, large)
	}
	if err := writeFloors(ctx, cfg, []*scaleDB{small, large}, rounds); err != nil {
		return err
	}
	if cfg.pinDB {
		if err := pinnedFloors(ctx, cfg, bin, []*scaleDB{small, large}); err != nil {
			return err
		}
	}
	if err := searchPlans(ctx, cfg, bin, large); err != nil {
		return err
	}
	if err := sizes(ctx, large); err != nil {
		return err
	}
	return purgeAtScale(ctx, cfg, bin, large)
}

// openScaleDB creates and seeds a database of n users (or, with -keep,
// reuses one a previous run kept).
func openScaleDB(ctx context.Context, cfg config, kind string, n int, hash string) (*scaleDB, error) {
	db := &scaleDB{kind: kind, n: n, drop: func() {}}
	name := fmt.Sprintf("ironclad_bench_scale_%d", n)
	switch kind {
	case "postgres":
		dsn, drop, existed, err := postgresDatabase(ctx, cfg.pgURL, name, cfg.keep)
		if err != nil {
			return nil, err
		}
		db.dsn = dsn
		if !cfg.keep {
			db.drop = drop
		}
		if !existed {
			progress("postgres: seeding %d users, %d sessions, %d refresh tokens into %s", n, sessionsPerUser*n, tokensPerUser*n, name)
			t := time.Now()
			phases, err := seedPostgresScale(ctx, dsn, n, hash)
			if err != nil {
				drop()
				return nil, fmt.Errorf("seed: %w", err)
			}
			fmt.Printf("\nseeded %d users on postgres in %s (%s)\n", n, time.Since(t).Round(100*time.Millisecond), phaseList(phases))
		}
	case "sqlite":
		dir := filepath.Join(os.TempDir(), name)
		db.dsn = filepath.Join(dir, "ironclad.db")
		_, statErr := os.Stat(db.dsn)
		if !cfg.keep {
			db.drop = func() { os.RemoveAll(dir) }
		}
		if !cfg.keep || statErr != nil {
			os.RemoveAll(dir)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			progress("sqlite: seeding %d users into %s", n, db.dsn)
			t := time.Now()
			phases, err := seedSQLiteScale(ctx, db.dsn, n, hash)
			if err != nil {
				db.drop()
				return nil, fmt.Errorf("seed: %w", err)
			}
			fmt.Printf("\nseeded %d users on sqlite in %s (%s)\n", n, time.Since(t).Round(100*time.Millisecond), phaseList(phases))
		}
	default:
		return nil, fmt.Errorf("unknown database %q", kind)
	}
	st, err := store.Open(ctx, db.dsn)
	if err != nil {
		db.drop()
		return nil, err
	}
	db.st = st
	// Rows added during the run are numbered from an offset of this run's
	// own, so a kept database never sees an id twice.
	db.extra.Store((time.Now().Unix() % (1 << 20)) << 20)
	return db, nil
}

func (db *scaleDB) close() {
	if db.st != nil {
		db.st.Close()
	}
	db.drop()
}

func phaseList(p map[string]time.Duration) string {
	var parts []string
	for _, k := range []string{"migrate", "users", "sessions", "refresh tokens", "indexes", "foreign keys", "vacuum analyze"} {
		if d, ok := p[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", k, d.Round(100*time.Millisecond)))
		}
	}
	return strings.Join(parts, ", ")
}

// postgresDatabase returns the DSN of database name beside base, creating
// it unless keep is set and it exists (existed reports that), and a
// function dropping it.
func postgresDatabase(ctx context.Context, base, name string, keep bool) (dsn string, drop func(), existed bool, err error) {
	// pgx, not the store: creating and dropping a database of millions of
	// rows takes longer than the store's statement timeout.
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, false, fmt.Errorf("BENCH_DATABASE_URL: %w", err)
	}
	var count int64
	// datconnlimit -2 marks a database whose DROP was interrupted.
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1 AND datconnlimit <> -2", name).Scan(&count); err != nil {
		admin.Close(ctx)
		return "", nil, false, err
	}
	existed = keep && count > 0
	if !existed {
		for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
			if _, err := admin.Exec(ctx, q); err != nil {
				admin.Close(ctx)
				return "", nil, false, fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	drop = func() {
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			progress("drop database %s: %v", name, err)
		}
	}
	return replaceDBName(base, name), drop, existed, nil
}

// replaceDBName replaces the path of a postgres URL (the database name),
// keeping the rest.
func replaceDBName(base, name string) string {
	i := strings.Index(base, "://")
	rest := base[i+3:]
	slash := strings.IndexByte(rest, '/')
	query := ""
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		query = rest[q:]
		if slash < 0 || slash > q {
			slash = q
		}
	}
	if slash < 0 {
		slash = len(rest)
	}
	return base[:i+3] + rest[:slash] + "/" + name + query
}

// startScale starts Ironclad on db, HS256 so the harness can mint access
// tokens for seeded sessions.
func startScale(ctx context.Context, cfg config, bin string, db *scaleDB) (*server, error) {
	env := append([]string{
		"DATABASE_URL=" + db.dsn,
		"DATA_DIR=" + filepath.Join(cfg.work, fmt.Sprintf("%s-%d", db.kind, db.n)),
		"JWT_SECRET=" + benchSecret,
		"JWT_ALG=HS256",
		"PURGE_INTERVAL=0",
		"LOG_LEVEL=info",
		"PLAYGROUND=false",
	}, cfg.serverEnv...)
	return start(ctx, bin, fmt.Sprintf("%s-%d", db.kind, db.n), env)
}

// minter signs access tokens as the scale servers do (HS256, benchSecret).
var minter = func() *auth.Tokens {
	t, err := auth.NewTokens(auth.TokenConfig{Secret: []byte(benchSecret), Algorithm: "HS256", AccessTTL: time.Hour, CacheSize: -1}, nil)
	if err != nil {
		panic(err)
	}
	return t
}()

func mint(userID, sessionID string, role models.Role) string {
	tok, _, err := minter.IssueAccess(userID, sessionID, role)
	if err != nil {
		panic(err)
	}
	return "Bearer " + tok
}

// coldTokens returns access tokens for coldSessions distinct live
// sessions, spread evenly over the seeded ones (or, on a database with too
// few, over the extra sessions the seed added for this scenario).
func coldTokens(n int) []string {
	var out []string
	live := sessionsPerUser * n * 3 / 10
	if live >= coldSessions {
		stride := sessionsPerUser * n / coldSessions
		for s := 7; len(out) < coldSessions && s <= sessionsPerUser*n; s += stride {
			for !liveSession(s) || !activeUser(sessionUser(s, n)) || loggedOutUser(sessionUser(s, n)) {
				s++
			}
			out = append(out, mint(seededID(userPrefix, sessionUser(s, n)), seededID(sessionPrefix, s), models.RoleUser))
		}
		return out
	}
	for i := 1; i <= coldSessions; i++ {
		if u := coldUser(i, n); activeUser(u) && u != 1 && !loggedOutUser(u) { // user 1 is the admin: its tokens carry another role
			out = append(out, mint(seededID(userPrefix, coldUser(i, n)), seededID(coldPrefix, i), models.RoleUser))
		}
	}
	return out
}

// loggedOutUser reports whether the logoutAll scenario ends the sessions of
// user u (600, 601, ...): a kept database's cold sessions must not include
// theirs, or the next run's cold me counts them as errors.
func loggedOutUser(u int) bool { return u >= logoutFirstUser && u < logoutFirstUser+100 }

// logoutFirstUser is the first user the logoutAll scenario logs out.
const logoutFirstUser = 600

// activeUser reports whether seeded user u is active (seed.go: 1 % are not).
func activeUser(u int) bool { return u%100 != 99 || u <= 3 }

// coldUser is the user of the i-th extra cold session.
func coldUser(i, n int) int { return (i*7919)%n + 1 }

// coldPrefix numbers the extra live sessions of a small database's cold
// scenario.
const coldPrefix = "00000006-0000-4000-8000-"

// scaleScenarios starts Ironclad on db and runs every scenario.
func scaleScenarios(ctx context.Context, cfg config, bin string, db *scaleDB) ([]scaleResult, error) {
	srv, err := startScale(ctx, cfg, bin, db)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c := &client{url: srv.url, http: newClient(64)}
	d := cfg.duration
	var rs []scaleResult

	// 64 logged-in users (100..163) for me and the refresh chains.
	if c.sessions, err = scaleSessions(ctx, c, 64); err != nil {
		return nil, err
	}

	progress("%s: login c=1", srv.db)
	s := load(ctx, 1, d, int64(max(10, cfg.loginCount/4)), func(ctx context.Context, w int) outcome {
		return post(ctx, c.http, c.url, scaleLoginBody(200+rand.IntN(100)), "", nil)
	})
	rs = append(rs, resultOf("login c=1", s))
	progress("%s: login c=32", srv.db)
	s = load(ctx, 32, d, 0, func(ctx context.Context, w int) outcome {
		return post(ctx, c.http, c.url, scaleLoginBody(300+w), "", nil)
	})
	rs = append(rs, resultOf("login c=32", s))
	progress("%s: refresh chains c=32", srv.db)
	s = load(ctx, 32, d, 0, func(ctx context.Context, w int) outcome { return c.refresh(ctx, w) })
	rs = append(rs, resultOf("refresh chains c=32", s))

	progress("%s: me, warm", srv.db)
	load(ctx, 32, time.Second, 0, func(ctx context.Context, w int) outcome { return c.me(ctx, w) })
	s = load(ctx, 32, d, 0, func(ctx context.Context, w int) outcome { return c.me(ctx, w) })
	rs = append(rs, resultOf("me c=32, warm cache", s))

	progress("%s: me, cold: first me of %d sessions", srv.db, coldSessions)
	cold := coldTokens(db.n)
	var next atomic.Int64
	s = load(ctx, 32, 10*time.Minute, int64(len(cold)), func(ctx context.Context, w int) outcome {
		i := next.Add(1) - 1
		return post(ctx, c.http, c.url, meBody, cold[i%int64(len(cold))], nil)
	})
	rs = append(rs, resultOf(fmt.Sprintf("me c=32, cold: first of %d sessions", len(cold)), s))

	many := mint(seededID(userPrefix, 2), seededID(extraSesPrefix, 1), models.RoleUser)
	progress("%s: sessions of a user with %d", srv.db, manySessions)
	sessBody := mustJSON(map[string]any{"query": `{ sessions { id createdAt lastUsedAt current } }`})
	s = load(ctx, 8, d, 0, func(ctx context.Context, w int) outcome { return post(ctx, c.http, c.url, sessBody, many, nil) })
	rs = append(rs, resultOf(fmt.Sprintf("sessions (%d) c=8", manySessions), s))

	admin := mint(seededID(userPrefix, 1), seededID(extraSesPrefix, manySessions+1), models.RoleAdmin)
	for _, q := range []struct{ name, search string }{{"substring", searchSubstring}, {"prefix", searchPrefix}} {
		progress("%s: users(search: %q)", srv.db, q.search)
		body := usersBody(q.search)
		s = load(ctx, 4, d, 0, func(ctx context.Context, w int) outcome { return post(ctx, c.http, c.url, body, admin, nil) })
		rs = append(rs, resultOf(fmt.Sprintf("users(first: 50, search: %q) %s c=4", q.search, q.name), s))
	}
	progress("%s: user(id)", srv.db)
	s = load(ctx, 32, d, 0, func(ctx context.Context, w int) outcome {
		body := mustJSON(map[string]any{"query": `query($id: ID!) { user(id: $id) { id username } }`, "variables": map[string]any{"id": seededID(userPrefix, 1+rand.IntN(db.n))}})
		return post(ctx, c.http, c.url, body, admin, nil)
	})
	rs = append(rs, resultOf("user(id) c=32", s))

	progress("%s: logoutAll of a user with %d sessions", srv.db, manySessions)
	s, err = logoutAllLoad(ctx, c, db, max(10, cfg.loginCount/4))
	if err != nil {
		return nil, err
	}
	rs = append(rs, resultOf(fmt.Sprintf("logoutAll (%d sessions) c=1", manySessions), s))
	return rs, nil
}

// scaleSessions logs the seeded users 100 on in, n of them, through c.
func scaleSessions(ctx context.Context, c *client, n int) ([]session, error) {
	sessions := make([]session, n)
	for i := range sessions {
		var p pairResponse
		if o := post(ctx, c.http, c.url, scaleLoginBody(100+i), "", &p); o != ok {
			return nil, fmt.Errorf("setup login of %s failed (%d)", scaleUsername(100+i), o)
		}
		sessions[i] = p.session("login")
	}
	return sessions, nil
}

const (
	searchSubstring = "00042"     // inside usernames: user0000042, user000420x, ...
	searchPrefix    = "user00004" // the start of user0000400..user0000499
)

func usersBody(search string) []byte {
	return mustJSON(map[string]any{
		"query":     `query($s: String) { users(first: 50, search: $s) { totalCount edges { node { id username email } } } }`,
		"variables": map[string]any{"s": search},
	})
}

func scaleLoginBody(i int) []byte {
	return mustJSON(map[string]any{"query": loginQuery, "variables": map[string]any{"u": scaleUsername(i), "p": benchPassword}})
}

// logoutAllLoad times logoutAll count times, each on another seeded user
// (600, 601, ...: sessions revoked before do not pile up on one) given
// manySessions fresh live sessions first (outside the timing).
func logoutAllLoad(ctx context.Context, c *client, db *scaleDB, count int) (*stats, error) {
	st := &stats{}
	for i := range count {
		user := logoutFirstUser + i%100
		first := int(db.extra.Add(manySessions)) - manySessions
		if err := db.addSessions(ctx, user, logoutPrefix, first, manySessions); err != nil {
			return nil, err
		}
		tok := mint(seededID(userPrefix, user), seededID(logoutPrefix, first+1), models.RoleUser)
		t := time.Now()
		o := post(ctx, c.http, c.url, mustJSON(map[string]any{"query": `mutation { logoutAll }`}), tok, nil)
		d := time.Since(t)
		st.lats = append(st.lats, d)
		st.elapsed += d
		st.counts[o]++
	}
	slices.Sort(st.lats)
	return st, nil
}

const logoutPrefix = "00000007-0000-4000-8000-"

// addSessions gives seeded user number user count live sessions numbered
// first+1.. with prefix, each with one live refresh token.
func (db *scaleDB) addSessions(ctx context.Context, user int, prefix string, first, count int) error {
	now := time.Now().UTC()
	sess := make([]models.Session, count)
	toks := make([]models.RefreshToken, count)
	for i := range count {
		id := seededID(prefix, first+i+1)
		sess[i] = models.Session{ID: id, UserID: seededID(userPrefix, user), CreatedAt: now, LastUsedAt: now.Add(-time.Duration(i) * time.Second),
			ExpiresAt: now.Add(20 * 24 * time.Hour), UserAgent: "bench", IP: "203.0.113.1"}
		toks[i] = models.RefreshToken{ID: "f" + id[1:], TokenHash: fmt.Sprintf("%048x%016x", rand.Uint64(), first+i+1), UserID: sess[i].UserID,
			SessionID: id, CreatedAt: now, ExpiresAt: now.Add(6 * 24 * time.Hour)}
	}
	tx := db.st.DB().WithContext(ctx)
	if err := tx.CreateInBatches(sess, 100).Error; err != nil {
		return err
	}
	return tx.CreateInBatches(toks, 100).Error
}

// printScaleTable prints one round: each scenario on the small and the
// large database, with the large/small ratios of throughput and p99.
func printScaleTable(w *os.File, title string, n int, small, large []scaleResult) {
	fmt.Fprintf(w, "\n%s: %d users against %d\n\n", title, n, smallScale)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintf(tw, "| scenario\t req/s %d\t req/s %d\t ratio\t p50 %d\t p50 %d\t p99 %d\t p99 %d\t p99 ratio\t errors (TOO_MANY_REQUESTS)\t\n", smallScale, n, smallScale, n, smallScale, n)
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	for i := range small {
		a, b := small[i], large[i]
		fmt.Fprintf(tw, "| %s\t %.0f\t %.0f\t %.2f\t %s\t %s\t %s\t %s\t %.2f\t %d (%d) / %d (%d)\t\n", a.name, a.rps, b.rps, b.rps/a.rps,
			ms(a.p50), ms(b.p50), ms(a.p99), ms(b.p99), float64(b.p99)/float64(a.p99), a.errs, a.busy, b.errs, b.busy)
	}
	tw.Flush()
}

// concurrently runs fn on workers goroutines and waits.
func concurrently(workers int, fn func(w int)) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); fn(w) }()
	}
	wg.Wait()
}
