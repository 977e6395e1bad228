package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/store"
)

// The scale seed (issue 16). For n users it writes, on the schema the
// store's migrations create:
//
//   - n users user0000001..: one shared argon2id hash of benchPassword (so
//     any of them can log in), user 1 an ADMIN, 1 % inactive;
//   - 3n sessions, session s belonging to user (s-1) mod n + 1, by s mod 10:
//     0–4 expired 30 days ago (purgeable: older than the 7-day keep), 5–6
//     revoked a day ago (kept for reuse detection), 7–9 live;
//   - 10n refresh tokens, token k in session (k-1) mod 3n + 1, so a session
//     holds 3 or 4 tokens, a chain: every token but the session's last was
//     used (rotated; hours ago, or 40 days ago in an expired session); the
//     last is live in a live session, revoked in a revoked one, expired in
//     an expired one;
//   - user 2 with 100 more live sessions (the sessions scenario), user 1 one
//     live session (the admin scenarios).
//
// About half the tokens (those of expired sessions) are purgeable. IDs are
// UUID-shaped and increase with the row number, so the seed appends to the
// primary keys; token hashes are SHA-256 hex like real ones.
const (
	sessionsPerUser = 3
	tokensPerUser   = 10
	manySessions    = 100 // user 2's extra live sessions
)

// ID prefixes of the seeded rows: the row number is the last 12 hex digits.
const (
	userPrefix     = "00000001-0000-4000-8000-"
	sessionPrefix  = "00000002-0000-4000-8000-"
	tokenPrefix    = "00000003-0000-4000-8000-"
	extraSesPrefix = "00000004-0000-4000-8000-"
	extraTokPrefix = "00000005-0000-4000-8000-"
)

func seededID(prefix string, i int) string { return fmt.Sprintf("%s%012x", prefix, i) }

func scaleUsername(i int) string { return fmt.Sprintf("user%07d", i) }

// liveSession reports whether seeded session s is live.
func liveSession(s int) bool { return s%10 >= 7 }

// sessionUser is the user of seeded session s.
func sessionUser(s, n int) int { return (s-1)%n + 1 }

// seedPostgresScale migrates dsn and seeds n users as above. To load
// millions of rows in minutes it drops the secondary indexes and foreign
// keys of the three tables first, bulk-inserts with generate_series, then
// recreates exactly the definitions it dropped (and checks that it did) and
// vacuums. It returns the time each phase took.
func seedPostgresScale(ctx context.Context, dsn string, n int, hash string) (map[string]time.Duration, error) {
	phases := map[string]time.Duration{}
	t := time.Now()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		return nil, err
	}
	phases["migrate"] = time.Since(t)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	exec := func(q string, args ...any) error {
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
		return nil
	}
	for _, q := range []string{"SET synchronous_commit = off", "SET maintenance_work_mem = '256MB'", "SET max_parallel_maintenance_workers = 2"} {
		if err := exec(q); err != nil {
			return nil, err
		}
	}
	tables := []string{"users", "sessions", "refresh_tokens"}
	schemaBefore, err := pgSchema(ctx, conn, tables)
	if err != nil {
		return nil, err
	}
	// Foreign keys and secondary indexes of the three tables, to drop now
	// and recreate after the load.
	type constraint struct{ table, name, def string }
	// collect reads (table, name, definition) rows.
	collect := func(q string) ([]constraint, error) {
		rows, err := conn.Query(ctx, q, tables)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (c constraint, err error) {
			err = r.Scan(&c.table, &c.name, &c.def)
			return c, err
		})
	}
	fks, err := collect(`SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE contype = 'f' AND conrelid::regclass::text = ANY($1) ORDER BY conrelid::regclass::text, conname`)
	if err != nil {
		return nil, err
	}
	indexes, err := collect(`SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
		ORDER BY i.tablename, i.indexname`)
	if err != nil {
		return nil, err
	}
	for _, c := range fks {
		if err := exec(fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", c.table, c.name)); err != nil {
			return nil, err
		}
	}
	for _, c := range indexes {
		if err := exec("DROP INDEX " + c.name); err != nil {
			return nil, err
		}
	}

	// The rows. now() is the seed's instant; the intervals place each row
	// in its class (see the comment above).
	t = time.Now()
	if err := exec(`INSERT INTO users (id, username, username_key, email, password_hash, role, active, created_at, updated_at, last_login_at)
		SELECT $1 || lpad(to_hex(i), 12, '0'), 'user' || lpad(i::text, 7, '0'), 'user' || lpad(i::text, 7, '0'),
			'person' || i || '@mail' || (i % 1000) || '.example', $2,
			CASE WHEN i = 1 THEN 'ADMIN' ELSE 'USER' END, i % 100 <> 99 OR i <= 3,
			now() - interval '400 days' + i * (interval '400 days' / $3::int), now() - interval '1 day',
			CASE WHEN i % 3 = 0 THEN NULL ELSE now() - (i % 90) * interval '1 day' END
		FROM generate_series(1, $3::int) AS i`, userPrefix, hash, n); err != nil {
		return nil, err
	}
	phases["users"] = time.Since(t)
	t = time.Now()
	if err := exec(`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent, ip)
		SELECT $1 || lpad(to_hex(s), 12, '0'), $2 || lpad(to_hex((s - 1) % $3::int + 1), 12, '0'),
			now() - interval '40 days', now() - (s % 7) * interval '1 hour',
			CASE WHEN s % 10 < 5 THEN now() - interval '30 days' ELSE now() + interval '20 days' END,
			CASE WHEN s % 10 IN (5, 6) THEN now() - interval '1 day' END,
			'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0', '203.0.113.' || (s % 250)
		FROM generate_series(1, $4::int) AS s`, sessionPrefix, userPrefix, n, sessionsPerUser*n); err != nil {
		return nil, err
	}
	phases["sessions"] = time.Since(t)
	t = time.Now()
	// Token k: session s = (k-1) mod 3n + 1, round r = (k-1) div 3n; the
	// session's last round is 3 for s <= n (10n = 3·3n + n), else 2.
	if err := exec(`INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at, used_at, revoked_at)
		SELECT $1 || lpad(to_hex(k), 12, '0'), encode(sha256(int8send(k)), 'hex'),
			$2 || lpad(to_hex((s - 1) % $4::int + 1), 12, '0'), $3 || lpad(to_hex(s), 12, '0'),
			now() - interval '40 days' + r * interval '1 hour',
			CASE WHEN s % 10 < 5 THEN now() - interval '31 days' + r * interval '1 hour' ELSE now() + interval '6 days' END,
			CASE WHEN last THEN NULL WHEN s % 10 < 5 THEN now() - interval '40 days' + (r + 1) * interval '1 hour'
				ELSE now() - (4 - r) * interval '1 hour' END,
			CASE WHEN last AND s % 10 IN (5, 6) THEN now() - interval '1 day' END
		FROM (SELECT k, (k - 1) % (3 * $4::int) + 1 AS s, (k - 1) / (3 * $4::int) AS r,
				(k - 1) / (3 * $4::int) = CASE WHEN (k - 1) % (3 * $4::int) + 1 <= $4::int THEN 3 ELSE 2 END AS last
			FROM generate_series(1, $5::bigint) AS k) AS g`,
		tokenPrefix, userPrefix, sessionPrefix, n, int64(tokensPerUser)*int64(n)); err != nil {
		return nil, err
	}
	phases["refresh tokens"] = time.Since(t)
	if err := seedExtraSessionsPG(ctx, conn, "2", 0, manySessions); err != nil {
		return nil, err
	}
	if err := seedExtraSessionsPG(ctx, conn, "1", manySessions, 1); err != nil {
		return nil, err
	}
	if live := sessionsPerUser * n * 3 / 10; live < coldSessions {
		// Too few live sessions for the cold me scenario: add its own,
		// spread over the users (coldUser).
		if err := exec(`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
			SELECT $1 || lpad(to_hex(i), 12, '0'), $2 || lpad(to_hex((i * 7919) % $3::int + 1), 12, '0'), now() - interval '1 day',
				now() - interval '1 hour', now() + interval '20 days', 'bench', '203.0.113.2'
			FROM generate_series(1, $4::int) AS i`, coldPrefix, userPrefix, n, coldSessions); err != nil {
			return nil, err
		}
	}

	t = time.Now()
	for _, c := range indexes {
		if err := exec(c.def); err != nil {
			return nil, err
		}
	}
	phases["indexes"] = time.Since(t)
	t = time.Now()
	for _, c := range fks {
		if err := exec(fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", c.table, c.name, c.def)); err != nil {
			return nil, err
		}
	}
	phases["foreign keys"] = time.Since(t)
	schemaAfter, err := pgSchema(ctx, conn, tables)
	if err != nil {
		return nil, err
	}
	if schemaAfter != schemaBefore {
		return nil, fmt.Errorf("seed: the schema after the load differs from the migrated one:\nbefore:\n%s\nafter:\n%s", schemaBefore, schemaAfter)
	}
	t = time.Now()
	for _, tb := range tables {
		if err := exec("VACUUM (ANALYZE) " + tb); err != nil {
			return nil, err
		}
	}
	phases["vacuum analyze"] = time.Since(t)
	return phases, nil
}

// seedExtraSessionsPG gives user number user count more live sessions
// (numbered from first), each with one live refresh token.
func seedExtraSessionsPG(ctx context.Context, conn *pgx.Conn, user string, first, count int) error {
	_, err := conn.Exec(ctx, `WITH s AS (
		INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
		SELECT $1 || lpad(to_hex(i), 12, '0'), $2 || lpad(to_hex($3::int), 12, '0'), now() - interval '1 day',
			now() - i * interval '1 second', now() + interval '20 days', 'bench', '203.0.113.1'
		FROM generate_series($4::int + 1, $4::int + $5::int) AS i RETURNING id, user_id)
		INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at)
		SELECT $6 || right(s.id, 12), encode(sha256(convert_to(s.id, 'UTF8')), 'hex'), s.user_id, s.id, now() - interval '1 day', now() + interval '6 days' FROM s`,
		extraSesPrefix, userPrefix, user, first, count, extraTokPrefix)
	return err
}

// pgSchema describes the columns, indexes and constraints of tables, to
// compare the schema before and after the load.
func pgSchema(ctx context.Context, conn *pgx.Conn, tables []string) (string, error) {
	var b strings.Builder
	for _, q := range []string{
		`SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ANY($1) ORDER BY table_name, ordinal_position`,
		`SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY($1) ORDER BY indexname`,
		`SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid::regclass::text = ANY($1) ORDER BY conname`,
	} {
		rows, err := conn.Query(ctx, q, tables)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return "", err
			}
			b.WriteString(s + "\n")
		}
		if err := rows.Err(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// benchHash is benchPassword's argon2id hash with auth.DefaultParams, made
// once per run.
func benchHash(ctx context.Context) (string, error) {
	return auth.NewHasher(auth.DefaultParams, 1, time.Minute).Hash(ctx, benchPassword)
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		q = q[:i]
	}
	return q
}
