package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ironclad-auth/ironclad/store"
)

// sqliteBatch is the rows per transaction of the SQLite seed.
const sqliteBatch = 20000

// seedSQLiteScale is seedPostgresScale on SQLite: the same rows (seed.go),
// inserted by prepared statements in transactions of sqliteBatch rows with
// the secondary indexes dropped, then recreated from their own definitions
// and ANALYZEd. Times are bound as time.Time so the driver writes them as
// the store does.
func seedSQLiteScale(ctx context.Context, path string, n int, hash string) (map[string]time.Duration, error) {
	phases := map[string]time.Duration{}
	t := time.Now()
	st, err := store.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	phases["migrate"] = time.Since(t)
	db, err := st.DB().DB()
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var indexes []string
	rows, err := conn.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('users', 'sessions', 'refresh_tokens')`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		names, indexes = append(names, name), append(indexes, def)
	}
	rows.Close()
	for _, name := range names {
		if _, err := conn.ExecContext(ctx, "DROP INDEX "+name); err != nil {
			return nil, err
		}
	}
	for _, q := range []string{"PRAGMA synchronous = OFF", "PRAGMA foreign_keys = OFF"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC()
	day := 24 * time.Hour
	batch := func(phase string, total int, q string, args func(i int) []any) error {
		t := time.Now()
		for from := 1; from <= total; from += sqliteBatch {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			stmt, err := tx.PrepareContext(ctx, q)
			if err != nil {
				tx.Rollback()
				return err
			}
			for i := from; i < from+sqliteBatch && i <= total; i++ {
				if _, err := stmt.ExecContext(ctx, args(i)...); err != nil {
					tx.Rollback()
					return fmt.Errorf("%s %d: %w", phase, i, err)
				}
			}
			stmt.Close()
			if err := tx.Commit(); err != nil {
				return err
			}
		}
		phases[phase] += time.Since(t)
		return nil
	}
	err = batch("users", n, `INSERT INTO users (id, username, username_key, email, password_hash, role, active, created_at, updated_at, last_login_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		func(i int) []any {
			role := "USER"
			if i == 1 {
				role = "ADMIN"
			}
			var last any
			if i%3 != 0 {
				last = now.Add(-time.Duration(i%90) * day)
			}
			name := scaleUsername(i)
			return []any{seededID(userPrefix, i), name, name, fmt.Sprintf("person%d@mail%d.example", i, i%1000), hash, role, i%100 != 99 || i <= 3,
				now.Add(-400*day + time.Duration(i)*(400*day/time.Duration(n))), now.Add(-day), last}
		})
	if err != nil {
		return nil, err
	}
	sessQ := `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	err = batch("sessions", sessionsPerUser*n, sessQ, func(s int) []any {
		exp := now.Add(20 * day)
		if s%10 < 5 {
			exp = now.Add(-30 * day)
		}
		var revoked any
		if s%10 == 5 || s%10 == 6 {
			revoked = now.Add(-day)
		}
		return []any{seededID(sessionPrefix, s), seededID(userPrefix, sessionUser(s, n)), now.Add(-40 * day), now.Add(-time.Duration(s%7) * time.Hour), exp, revoked,
			"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0", fmt.Sprintf("203.0.113.%d", s%250)}
	})
	if err != nil {
		return nil, err
	}
	err = batch("refresh tokens", tokensPerUser*n, `INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at, used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		func(k int) []any {
			s := (k-1)%(3*n) + 1
			r := (k - 1) / (3 * n)
			lastRound := 2
			if s <= n {
				lastRound = 3
			}
			last := r == lastRound
			created := now.Add(-40*day + time.Duration(r)*time.Hour)
			exp := now.Add(6 * day)
			if s%10 < 5 {
				exp = now.Add(-31*day + time.Duration(r)*time.Hour)
			}
			var used, revoked any
			switch {
			case last:
			case s%10 < 5:
				used = now.Add(-40*day + time.Duration(r+1)*time.Hour)
			default:
				used = now.Add(-time.Duration(4-r) * time.Hour)
			}
			if last && (s%10 == 5 || s%10 == 6) {
				revoked = now.Add(-day)
			}
			return []any{seededID(tokenPrefix, k), fmt.Sprintf("%064x", k), seededID(userPrefix, sessionUser(s, n)), seededID(sessionPrefix, s), created, exp, used, revoked}
		})
	if err != nil {
		return nil, err
	}
	extra := func(prefix string, count, first int, user func(i int) int) error {
		if err := batch("sessions", count, sessQ, func(i int) []any {
			return []any{seededID(prefix, first+i), seededID(userPrefix, user(i)), now.Add(-day), now.Add(-time.Duration(i) * time.Second), now.Add(20 * day), nil, "bench", "203.0.113.1"}
		}); err != nil {
			return err
		}
		return batch("refresh tokens", count, `INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`, func(i int) []any {
			id := seededID(prefix, first+i)
			return []any{"f" + id[1:], fmt.Sprintf("%s%028x", prefix[:8], first+i), seededID(userPrefix, user(i)), id, now.Add(-day), now.Add(6 * day)}
		})
	}
	if err := extra(extraSesPrefix, manySessions, 0, func(int) int { return 2 }); err != nil {
		return nil, err
	}
	if err := extra(extraSesPrefix, 1, manySessions, func(int) int { return 1 }); err != nil {
		return nil, err
	}
	if sessionsPerUser*n*3/10 < coldSessions {
		if err := extra(coldPrefix, coldSessions, 0, func(i int) int { return coldUser(i, n) }); err != nil {
			return nil, err
		}
	}
	t = time.Now()
	for _, def := range indexes {
		if _, err := conn.ExecContext(ctx, def); err != nil {
			return nil, err
		}
	}
	phases["indexes"] = time.Since(t)
	t = time.Now()
	if _, err := conn.ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	phases["vacuum analyze"] = time.Since(t)
	_, err = conn.ExecContext(ctx, "PRAGMA foreign_keys = ON")
	return phases, err
}

// sqliteSearchCost prints what substring search costs on SQLite at the
// large size: EXPLAIN QUERY PLAN and the time of the list and the count.
func sqliteSearchCost(ctx context.Context, cfg config, db *scaleDB) error {
	sdb, err := db.st.DB().DB()
	if err != nil {
		return err
	}
	list := `SELECT * FROM users WHERE (username_key LIKE ? ESCAPE '\' OR lower(email) LIKE ? ESCAPE '\') ORDER BY created_at, id LIMIT 51`
	count := `SELECT count(*) FROM users WHERE (username_key LIKE ? ESCAPE '\' OR lower(email) LIKE ? ESCAPE '\')`
	for _, s := range []string{searchSubstring, searchPrefix} {
		pat := contains(s)
		for _, q := range []string{list, count} {
			plan, err := sqlitePlan(ctx, sdb, q, pat)
			if err != nil {
				return err
			}
			t := time.Now()
			rows, err := sdb.QueryContext(ctx, q, pat, pat)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			fmt.Printf("\nsqlite at %d users, search %q: %s in %s (plan: %s)\n", db.n, s, firstLine(q)[:40]+"…", time.Since(t).Round(10*time.Microsecond), plan)
		}
	}
	return nil
}

func sqlitePlan(ctx context.Context, db *sql.DB, q, pat string) (string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, pat, pat)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", err
		}
		out += detail + "; "
	}
	return out, rows.Err()
}
