package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ironclad-auth/ironclad/store"
)

// The write floor (issue 16): the rate at which the same Postgres commits
// transactions of the same shape as one refresh, and as login's write, with
// raw pgx — no ORM, no GraphQL, no HTTP. The shape is the statements
// store.RefreshTokenByHash and store.RotateKeeping run (REFRESH_REUSE_GRACE
// is on by default): one SELECT joining the token, its session and user by
// hash, then BEGIN; UPDATE the session; UPDATE the old token (used, with its
// sealed successor); UPDATE the session's other tokens (forget their
// successors); INSERT the new token; COMMIT — six round trips after the
// read. TestRefreshStatements (app) pins that count. Login's write is
// store.startLoginSessionSQL: one statement.

const floorRefreshSelect = `SELECT refresh_tokens.id, refresh_tokens.token_hash, refresh_tokens.user_id, refresh_tokens.session_id,
	refresh_tokens.created_at, refresh_tokens.expires_at, refresh_tokens.used_at, refresh_tokens.revoked_at,
	sessions.id, sessions.user_id, sessions.created_at, sessions.last_used_at, sessions.expires_at, sessions.revoked_at,
	sessions.user_agent, sessions.ip,
	users.id, users.username, users.email, users.password_hash, users.role, users.active, users.created_at, users.updated_at, users.last_login_at
	FROM refresh_tokens JOIN sessions ON sessions.id = refresh_tokens.session_id JOIN users ON users.id = refresh_tokens.user_id
	WHERE refresh_tokens.token_hash = $1 LIMIT 1`

// floorLogin is store.startLoginSessionSQL with positional parameters.
const floorLogin = `WITH u AS (
	UPDATE users SET last_login_at = $1, updated_at = $2,
		password_hash = CASE WHEN $3 = '' THEN password_hash ELSE $3 END
	WHERE id = $4 RETURNING id
), s AS (
	INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
	SELECT $5, u.id, $6, $6, $7, $8, $9 FROM u RETURNING id
), t AS (
	INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at)
	SELECT $10, $11, $4, s.id, $6, $12 FROM s RETURNING id
)
SELECT pg_notify('ironclad_floor', $13) FROM t`

func randomHash() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// floorChain is one worker's session and current token.
type floorChain struct {
	user, session, token, hash string
}

// refreshFloor runs workers chains of refresh-shaped transactions on dsn
// for d.
func refreshFloor(ctx context.Context, dsn string, userIDs []string, conns int, d time.Duration) (*stats, error) {
	pool, err := floorPool(ctx, dsn, conns)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	workers := len(userIDs)
	chains := make([]floorChain, workers)
	now := time.Now().UTC()
	for w, u := range userIDs {
		c := floorChain{user: u, session: uuid.NewString(), token: uuid.NewString(), hash: randomHash()}
		if _, err := pool.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip) VALUES ($1, $2, $3, $3, $4, 'bench', '127.0.0.1')`,
			c.session, u, now, now.Add(20*24*time.Hour)); err != nil {
			return nil, err
		}
		if _, err := pool.Exec(ctx, `INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.token, c.hash, u, c.session, now, now.Add(6*24*time.Hour)); err != nil {
			return nil, err
		}
		chains[w] = c
	}
	sealed := make([]byte, 28+43+16) // nonce + a refresh token + GCM tag, as auth/seal.go
	_, _ = rand.Read(sealed)
	one := func(ctx context.Context, w int) outcome {
		c := &chains[w]
		var sink [25]any
		ptrs := make([]any, len(sink))
		for i := range sink {
			ptrs[i] = &sink[i]
		}
		if err := pool.QueryRow(ctx, floorRefreshSelect, c.hash).Scan(ptrs...); err != nil {
			return failed
		}
		now := time.Now().UTC()
		next, nextHash := uuid.NewString(), randomHash()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE sessions SET last_used_at = $1, user_agent = $2, ip = $3 WHERE id = $4 AND revoked_at IS NULL AND expires_at > $1`,
				now, "Go-http-client/1.1", "127.0.0.1", c.session)
			if err != nil || tag.RowsAffected() != 1 {
				return fmt.Errorf("session: %v", err)
			}
			tag, err = tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $1, successor_sealed = $2, successor_until = $3
				WHERE id = $4 AND session_id = $5 AND user_id = $6 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1`,
				now, sealed, now.Add(10*time.Second), c.token, c.session, c.user)
			if err != nil || tag.RowsAffected() != 1 {
				return fmt.Errorf("token: %v", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET successor_sealed = NULL, successor_until = NULL
				WHERE session_id = $1 AND id <> $2 AND successor_until IS NOT NULL`, c.session, c.token); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at, used_at, revoked_at, successor_sealed, successor_until)
				VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, NULL)`, next, nextHash, c.user, c.session, now, now.Add(6*24*time.Hour))
			return err
		})
		if err != nil {
			return failed
		}
		c.token, c.hash = next, nextHash
		return ok
	}
	load(ctx, workers, time.Second, 0, one) // warm up: connections, prepared statements
	return load(ctx, workers, d, 0, one), nil
}

// loginFloor runs login's write (one statement) from workers goroutines
// for d, for the users given.
func loginFloor(ctx context.Context, dsn string, userIDs []string, workers int, d time.Duration) (*stats, error) {
	pool, err := floorPool(ctx, dsn, workers)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	one := func(ctx context.Context, w int) outcome {
		now := time.Now().UTC()
		u := userIDs[w%len(userIDs)]
		tag, err := pool.Exec(ctx, floorLogin, now, now, "", u, uuid.NewString(), now, now.Add(30*24*time.Hour),
			"Go-http-client/1.1", "127.0.0.1", uuid.NewString(), randomHash(), now.Add(6*24*time.Hour), `{"u":"`+u+`"}`)
		if err != nil || tag.RowsAffected() != 1 {
			return failed
		}
		return ok
	}
	load(ctx, workers, time.Second, 0, one)
	return load(ctx, workers, d, 0, one), nil
}

// writeFloors measures both floors on each database and prints them beside
// the refresh chains and logins of the rounds just run.
func writeFloors(ctx context.Context, cfg config, dbs []*scaleDB, rounds [][2][]scaleResult) error {
	w := os.Stdout
	fmt.Fprintf(w, "\nwrite floor (raw pgx, same database, same run): refresh-shaped transactions c=32 and login's write\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintf(tw, "| users\t floor refresh tx/s c=32\t floor p99\t floor on %d connections\t refresh chains req/s (rounds)\t chains / floor (the higher)\t login write c=1 mean\t login c=1 mean (rounds)\t write / login\t login write c=32 /s\t\n", poolConns())
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t---\t---\t")
	users := floorUsers()
	for i, db := range dbs {
		progress("postgres-%d: refresh write floor, 32 chains, %s", db.n, cfg.duration)
		rf, rf8, err := refreshFloors(ctx, db.dsn, users, cfg.duration)
		if err != nil {
			return err
		}
		floor := max(rf.rps(), rf8.rps())
		progress("postgres-%d: login write floor", db.n)
		l1, err := loginFloor(ctx, db.dsn, users, 1, cfg.duration/2)
		if err != nil {
			return fmt.Errorf("login floor: %w", err)
		}
		l32, err := loginFloor(ctx, db.dsn, users, 32, cfg.duration/2)
		if err != nil {
			return fmt.Errorf("login floor: %w", err)
		}
		var chains, ratios, logins, wl string
		for _, r := range rounds {
			for _, res := range r[i] {
				switch res.name {
				case "refresh chains c=32":
					chains += fmt.Sprintf("%.0f ", res.rps)
					ratios += fmt.Sprintf("%.0f%% ", 100*res.rps/floor)
				case "login c=1":
					lm := time.Duration(float64(time.Second) / res.rps)
					logins += ms(lm) + " "
					wl += fmt.Sprintf("%.1f%% ", 100*float64(mean(l1.lats))/float64(lm))
				}
			}
		}
		fmt.Fprintf(tw, "| %d\t %.0f\t %s\t %.0f\t %s\t %s\t %s\t %s\t %s\t %.0f\t\n", db.n, rf.rps(), ms(rf.pct(0.99)), rf8.rps(), chains, ratios, ms(mean(l1.lats)), logins, wl, l32.rps())
		if rf.errors()+l1.errors()+l32.errors() > 0 {
			fmt.Fprintf(w, "floor errors: refresh %d, login %d + %d\n", rf.errors(), l1.errors(), l32.errors())
		}
	}
	tw.Flush()
	return nil
}

// floorUsers are the seeded users whose chains the floors run (400 on: none
// of the scenarios' users).
func floorUsers() []string {
	users := make([]string, 32)
	for k := range users {
		users[k] = seededID(userPrefix, 400+k)
	}
	return users
}

// refreshFloors runs the refresh floor's chains of users on as many
// connections, then on as many as Ironclad's pool holds
// (store.DefaultMaxConns); the floor is the higher of the two.
func refreshFloors(ctx context.Context, dsn string, users []string, d time.Duration) (own, pool *stats, err error) {
	if own, err = refreshFloor(ctx, dsn, users, len(users), d); err != nil {
		return nil, nil, fmt.Errorf("refresh floor: %w", err)
	}
	if pool, err = refreshFloor(ctx, dsn, users, poolConns(), d); err != nil {
		return nil, nil, fmt.Errorf("refresh floor: %w", err)
	}
	return own, pool, nil
}

// poolConns is the size of Ironclad's pool on Postgres on this machine
// (DB_MAX_CONNS unset).
func poolConns() int { return store.DefaultMaxConns(store.DialectPostgres) }

// floorPool is a pgx pool with a connection for each worker (pgxpool's
// default is four), as the store's pool has.
func floorPool(ctx context.Context, dsn string, workers int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(max(4, workers))
	return pgxpool.NewWithConfig(ctx, pc)
}
