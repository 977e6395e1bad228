package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// The database-side measurements of the scale run: query plans, sizes and
// the purge (Postgres).

// usersListSQL and usersCountSQL are what store.ListUsers and
// store.CountUsers send for users(first: 50, search: s); usersCountedSQL is
// what store.SearchUsersCounted sends instead for the first page with its
// totalCount.
const (
	usersCountedSQL = `WITH m AS (SELECT id, created_at FROM "users" WHERE (username_key LIKE $1 ESCAPE '\' OR lower(email) LIKE $2 ESCAPE '\') LIMIT 10001) ` +
		`SELECT users.*, (SELECT count(*) FROM m) AS matches FROM m JOIN users ON users.id = m.id ORDER BY m.created_at, m.id LIMIT 51`
	usersListSQL  = `SELECT * FROM "users" WHERE (username_key LIKE $1 ESCAPE '\' OR lower(email) LIKE $2 ESCAPE '\') ORDER BY created_at, id LIMIT 51`
	usersCountSQL = `SELECT count(*) FROM "users" WHERE (username_key LIKE $1 ESCAPE '\' OR lower(email) LIKE $2 ESCAPE '\')`
)

// trigramIndexes are the indexes of the search migration
// (store/migrations_scale.go).
var trigramIndexes = []string{"idx_users_username_key_trgm", "idx_users_email_trgm"}

// searchPlans prints EXPLAIN (ANALYZE, BUFFERS) of the search queries on
// the large database with the trigram indexes, and without them (dropped
// inside a transaction that is rolled back), and of the other queries the
// scale scenarios lean on.
func searchPlans(ctx context.Context, cfg config, bin string, db *scaleDB) error {
	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The server applies the migrations when it starts; make sure they are
	// in before reading plans.
	if err := db.st.Migrate(ctx); err != nil {
		return err
	}
	explain := func(tx pgx.Tx, title, q string, args ...any) error {
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", title, err)
		}
		fmt.Printf("\n%s\n\n```\n", title)
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			fmt.Println(line)
		}
		fmt.Println("```")
		return rows.Err()
	}
	var have int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1)`, trigramIndexes).Scan(&have); err != nil {
		return err
	}
	for _, without := range []bool{false, true} {
		if without && have == 0 {
			break
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		label := "with the trigram indexes"
		if have == 0 {
			label = "WITHOUT trigram indexes (pg_trgm unavailable)"
		}
		if without {
			label = "without the trigram indexes (dropped in a rolled-back transaction)"
			for _, ix := range trigramIndexes {
				if _, err := tx.Exec(ctx, "DROP INDEX "+ix); err != nil {
					tx.Rollback(ctx)
					return err
				}
			}
		}
		for _, s := range []string{searchSubstring, searchPrefix} {
			pat := contains(s)
			if err := explain(tx, fmt.Sprintf("users(first: 50, search: %q) at %d users, %s: list", s, db.n, label), usersListSQL, pat, pat); err != nil {
				tx.Rollback(ctx)
				return err
			}
			if err := explain(tx, fmt.Sprintf("users(search: %q) at %d users, %s: totalCount", s, db.n, label), usersCountSQL, pat, pat); err != nil {
				tx.Rollback(ctx)
				return err
			}
			if err := explain(tx, fmt.Sprintf("users(first: 50, search: %q) { totalCount edges } at %d users, %s: the first page and its count in one statement", s, db.n, label), usersCountedSQL, pat, pat); err != nil {
				tx.Rollback(ctx)
				return err
			}
		}
		if err := tx.Rollback(ctx); err != nil {
			return err
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	now := time.Now().UTC()
	if err := explain(tx, fmt.Sprintf("sessions of a user with %d sessions, at %d users", manySessions, db.n),
		strings.ReplaceAll(liveSessionsPG, "?", "$1"), now, seededID(userPrefix, 2), now, 101); err != nil {
		return err
	}
	cutoff := now.Add(-7 * 24 * time.Hour)
	return explain(tx, fmt.Sprintf("one purge batch of expired refresh tokens (store.Purge), at %d users", db.n), purgeBatchPG, cutoff, 1000)
}

// liveSessionsPG is store's liveSessionsSQL with one placeholder reused:
// the query of the sessions field.
const liveSessionsPG = "SELECT sessions.id, sessions.user_id, sessions.created_at, sessions.last_used_at, " +
	"sessions.expires_at, sessions.revoked_at, sessions.user_agent, sessions.ip, " +
	"refresh_tokens.expires_at AS refresh_expires_at " +
	"FROM sessions JOIN refresh_tokens ON refresh_tokens.session_id = sessions.id " +
	"AND refresh_tokens.used_at IS NULL AND refresh_tokens.revoked_at IS NULL AND refresh_tokens.expires_at > $1 " +
	"WHERE sessions.user_id = $2 AND sessions.revoked_at IS NULL AND sessions.expires_at > $3 " +
	"ORDER BY sessions.last_used_at DESC, sessions.id LIMIT $4"

// purgeBatchPG is the first batch statement of store.Purge.
const purgeBatchPG = "DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)"

// contains is store's LIKE pattern for a substring.
func contains(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(s)) + "%"
}

// sizes prints the size of each table with its indexes, per row and per
// user.
func sizes(ctx context.Context, db *scaleDB) error {
	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	fmt.Printf("\ndatabase size at %d users (pg_total_relation_size: heap, TOAST and indexes)\n\n", db.n)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| table\t rows\t total\t of which indexes\t bytes a row\t bytes a user\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t")
	var all int64
	for _, t := range []string{"users", "sessions", "refresh_tokens"} {
		var rows, total, idx int64
		if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %s), pg_total_relation_size('%s'), pg_indexes_size('%s')`, t, t, t)).Scan(&rows, &total, &idx); err != nil {
			return err
		}
		all += total
		fmt.Fprintf(tw, "| %s\t %d\t %.0f MiB\t %.0f MiB\t %d\t %d\t\n", t, rows, float64(total)/(1<<20), float64(idx)/(1<<20), total/max(1, rows), total/int64(db.n))
	}
	fmt.Fprintf(tw, "| all three\t \t %.0f MiB\t \t \t %d\t\n", float64(all)/(1<<20), all/int64(db.n))
	tw.Flush()
	return nil
}

// purgeAtScale runs `ironclad purge` on the large database while 32
// refresh chains and 4 me readers run, after the same load without it.
func purgeAtScale(ctx context.Context, cfg config, bin string, db *scaleDB) error {
	if cfg.keep {
		// The kept database stays as seeded: purge a copy of it.
		copyDB, err := copyPostgres(ctx, cfg.pgURL, db)
		if err != nil {
			return err
		}
		defer copyDB.close()
		db = copyDB
	}
	srv, err := startScale(ctx, cfg, bin, db)
	if err != nil {
		return err
	}
	defer srv.stop()
	c := &client{url: srv.url, http: newClient(64), sessions: make([]session, 32)}
	for i := range c.sessions {
		var p pairResponse
		if o := post(ctx, c.http, c.url, scaleLoginBody(500+i), "", &p); o != ok {
			return fmt.Errorf("purge: setup login failed (%d)", o)
		}
		c.sessions[i] = p.session("login")
	}
	readers := make([]string, 4)
	for i := range readers {
		readers[i] = "Bearer " + c.sessions[i].access
	}
	// phase runs the chains and readers until stop is closed (or d passed).
	phase := func(d time.Duration, stop <-chan struct{}) (*stats, *stats) {
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-stop:
				cancel()
			case <-pctx.Done():
			}
		}()
		var rs, mst *stats
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			rs = load(pctx, 32, d, 0, func(ctx context.Context, w int) outcome { return c.refresh(context.WithoutCancel(ctx), w) })
		}()
		go func() {
			defer wg.Done()
			mst = load(pctx, 4, d, 0, func(ctx context.Context, w int) outcome { return post(ctx, c.http, c.url, meBody, readers[w], nil) })
		}()
		wg.Wait()
		return rs, mst
	}
	progress("purge: refresh chains c=32 and me c=4 without a purge, %s", cfg.duration)
	before, meBefore := phase(cfg.duration, nil)

	progress("purge: ironclad purge while refresh chains run")
	stop := make(chan struct{})
	var out []byte
	var purgeErr error
	var took time.Duration
	go func() {
		defer close(stop)
		cmd := exec.CommandContext(ctx, bin, "purge")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+db.dsn, "JWT_SECRET="+benchSecret, "JWT_ALG=HS256",
			"DATA_DIR="+filepath.Join(cfg.work, "purge"), "LOG_LEVEL=warn")
		t := time.Now()
		out, purgeErr = cmd.CombinedOutput()
		took = time.Since(t)
	}()
	during, meDuring := phase(time.Hour, stop)
	if purgeErr != nil {
		return fmt.Errorf("ironclad purge: %w: %s", purgeErr, out)
	}
	fmt.Printf("\npurge at %d users: `ironclad purge` took %s: %s\n\n", db.n, took.Round(100*time.Millisecond), strings.TrimSpace(string(out)))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| load\t refresh req/s\t refresh p50\t refresh p99\t refresh max\t me p99\t me max\t errors\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t")
	for _, p := range []struct {
		name string
		r, m *stats
	}{{"without the purge", before, meBefore}, {"during the purge", during, meDuring}} {
		fmt.Fprintf(tw, "| %s\t %.0f\t %s\t %s\t %s\t %s\t %s\t %d + %d\t\n", p.name, p.r.rps(), ms(p.r.pct(0.5)), ms(p.r.pct(0.99)), ms(p.r.lats[len(p.r.lats)-1]),
			ms(p.m.pct(0.99)), ms(p.m.lats[len(p.m.lats)-1]), p.r.errors(), p.m.errors())
	}
	tw.Flush()
	fmt.Printf("\nrefresh p99 during / without the purge: %.2f ×\n", float64(during.pct(0.99))/float64(before.pct(0.99)))
	return nil
}

// copyPostgres copies db (CREATE DATABASE ... TEMPLATE: a file copy, no
// connection to the original may be open) into a database dropped by the
// copy's close.
func copyPostgres(ctx context.Context, base string, db *scaleDB) (*scaleDB, error) {
	db.st.Close()
	db.st = nil
	name := fmt.Sprintf("ironclad_bench_scale_%d_copy", db.n)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, err
	}
	progress("postgres: copying the %d-user database for the purge", db.n)
	t := time.Now()
	src := fmt.Sprintf("ironclad_bench_scale_%d", db.n)
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name + " TEMPLATE " + src} {
		if _, err := admin.Exec(ctx, q); err != nil {
			admin.Close(ctx)
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	progress("postgres: copied in %s", time.Since(t).Round(time.Second))
	c := &scaleDB{kind: db.kind, n: db.n, dsn: replaceDBName(base, name), drop: func() {
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			progress("drop database %s: %v", name, err)
		}
	}}
	return c, nil
}
