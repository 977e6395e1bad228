package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// purgeBatch bounds each DELETE so a large backlog never holds locks long.
const purgeBatch = 1000

// Purge deletes what can no longer be used, as of now: sessions that
// expired or were revoked more than keep ago, with their tokens, then
// refresh tokens that expired, were used or were revoked more than keep
// ago. Keeping used tokens for keep lets a replayed token be recognised as
// reuse; keep at least the refresh-token lifetime to detect reuse for as
// long as a token could otherwise have been valid. Successors kept by
// RotateKeeping whose window closed are cleared first. It returns the
// number of rows deleted.
//
// It runs plain conditional DELETEs of at most purgeBatch rows each, so it is
// idempotent and safe to run concurrently from several replicas (one run
// may stop early when another deleted part of its batch; the next sweep
// finishes the work).
func (s *Store) Purge(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := utc(now.Add(-keep))
	// Successors kept for the reuse grace window go first: they must not
	// outlive the window (not counted: nothing is deleted).
	if _, err := s.forgetExpiredSuccessors(ctx, now); err != nil {
		return 0, err
	}
	var total, tokensOfSessions int64
	// Ended sessions go first, each batch with its tokens, found by
	// session. Deleting the tokens first and the sessions after made each
	// session's cascade walk the index entries of its tokens just deleted
	// (dead until vacuumed) and check each in the table: at 1,500,000 ended
	// sessions, about 600 sessions a second (BENCHMARKS.md, "Purge at
	// scale"). In one batch the cascade finds the entries its own
	// transaction deleted, on pages it has just read.
	for _, column := range []string{"expires_at", "revoked_at"} {
		sessions, tokens, err := s.purgeEndedSessions(ctx, column, cutoff)
		total += sessions + tokens
		tokensOfSessions += tokens
		if err != nil {
			return total, err
		}
	}
	// The token steps walk the tokens' indexes, in which every token just
	// deleted with its session is still an entry until vacuumed: after a
	// large backlog, vacuum first so the first batch of each step does not
	// check millions of them in the table.
	if tokensOfSessions >= vacuumAfter {
		s.vacuum(ctx, "refresh_tokens")
	}
	// Each condition is its own step, ordered by its indexed column, so that
	// every batch is an index range scan that stops after purgeBatch rows.
	// One OR of the three conditions made Postgres build a bitmap of every
	// purgeable row for each batch: at ten million tokens, seconds a batch
	// (BENCHMARKS.md, "Scale"). Each statement deletes by primary key from
	// a bounded subquery: both databases support this form (SQLite lacks
	// DELETE ... LIMIT by default).
	for _, column := range []string{"expires_at", "used_at", "revoked_at"} {
		n, err := s.deleteInBatches(ctx, "purge refresh tokens ("+column+")",
			"DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens "+
				"WHERE "+column+" < ? ORDER BY "+column+" LIMIT ?)",
			cutoff, purgeBatch)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// vacuumAfter is how many deleted tokens make Purge vacuum the table
// before its token steps (Postgres only).
var vacuumAfter int64 = 100_000

// purgeEndedSessions deletes, in batches of purgeBatch, the sessions whose
// column is before cutoff and their refresh tokens, each batch in one
// transaction, and returns how many sessions and tokens it deleted.
func (s *Store) purgeEndedSessions(ctx context.Context, column string, cutoff time.Time) (sessions, tokens int64, err error) {
	op := "purge sessions (" + column + ")"
	for {
		var n, t int64
		var full bool // a whole batch was selected: there may be more
		err := s.purgeTx(ctx, func(tx *gorm.DB) error {
			// The sessions are locked first, as every write to a session's
			// family takes its session row first (rotate, RevokeSession,
			// logoutAll): deleting the tokens first could deadlock with a
			// logoutAll revoking the same expired session. On Postgres a
			// session another transaction holds is left to the next sweep
			// (SKIP LOCKED); SQLite has one writer at a time.
			lock := ""
			if s.dialect == DialectPostgres {
				lock = " FOR UPDATE SKIP LOCKED"
			}
			var ids []string
			if err := tx.Raw("SELECT id FROM sessions WHERE "+column+" < ? ORDER BY "+column+" LIMIT ?"+lock, cutoff, purgeBatch).
				Scan(&ids).Error; err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			res := tx.Exec("DELETE FROM refresh_tokens WHERE session_id IN ?", ids)
			if res.Error != nil {
				return res.Error
			}
			t = res.RowsAffected
			res = tx.Exec("DELETE FROM sessions WHERE id IN ?", ids)
			n, full = res.RowsAffected, len(ids) == purgeBatch
			return res.Error
		})
		if err != nil {
			return sessions, tokens, wrap(op, err)
		}
		sessions += n
		tokens += t
		if !full {
			return sessions, tokens, nil
		}
		if err := ctx.Err(); err != nil {
			return sessions, tokens, fmt.Errorf("store: %s: %w", op, err)
		}
	}
}

// vacuum runs VACUUM (ANALYZE) on table on Postgres, so that an index scan
// after a mass deletion does not check each dead entry in the table. It is
// an optimisation: a failure is ignored (autovacuum gets there later), and
// SKIP_LOCKED leaves the table to a vacuum already running (another
// replica's purge, or autovacuum).
func (s *Store) vacuum(ctx context.Context, table string) {
	if s.dialect != DialectPostgres {
		return
	}
	// VACUUM cannot run in a transaction: one connection, its own timeout.
	_ = s.db.WithContext(ctx).Connection(func(c *gorm.DB) error {
		if err := c.Exec(fmt.Sprintf("SET statement_timeout = %d", purgeStatementTimeout.Milliseconds())).Error; err != nil {
			return err
		}
		// Back to the connection's own bound, even when ctx ended the
		// vacuum: the connection returns to the pool.
		defer c.WithContext(context.WithoutCancel(ctx)).Exec("RESET statement_timeout")
		return c.Exec("VACUUM (SKIP_LOCKED, ANALYZE) " + table).Error
	})
}

// deleteInBatches runs sql, a DELETE of at most purgeBatch rows, until a
// batch deletes fewer, and returns how many rows it deleted. Each batch is
// its own statement and transaction (purgeBatch); a cancelled ctx stops it
// between batches.
func (s *Store) deleteInBatches(ctx context.Context, op, sql string, args ...any) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.purgeTx(ctx, func(tx *gorm.DB) error {
			res := tx.Exec(sql, args...)
			n = res.RowsAffected
			return res.Error
		})
		if err != nil {
			return total, wrap(op, err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("store: %s: %w", op, err)
		}
	}
}

// purgeStatementTimeout bounds one purge batch on Postgres instead of the
// store's statement timeout. The first batch of a step after a large
// deletion walks its index over the entries of the rows just deleted (dead
// until vacuumed), checking each in the table: at ten million tokens, after
// the expired half went, the used_at step's first batch read millions of
// dead entries and outlasted the 5 s default (BENCHMARKS.md, "Scale"). It
// marks them dead as it goes, so later batches are quick again. A batch
// locks only the rows it deletes, which no request uses.
const purgeStatementTimeout = 5 * time.Minute

// purgeTx runs fn in a transaction bounded on Postgres by
// purgeStatementTimeout rather than the store's statement timeout.
func (s *Store) purgeTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			if err := tx.Exec(fmt.Sprintf("SET LOCAL statement_timeout = %d", purgeStatementTimeout.Milliseconds())).Error; err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// CountPurgeable counts the rows Purge(ctx, now, keep) would delete, and
// deletes nothing: `ironclad purge --dry-run`.
func (s *Store) CountPurgeable(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := utc(now.Add(-keep))
	var tokens, sessions int64
	// Each count reads the whole table: bounded like a purge batch, not by
	// the request path's statement timeout (ten million tokens take
	// seconds).
	err := s.purgeTx(ctx, func(tx *gorm.DB) error {
		err := tx.Raw("SELECT COUNT(*) FROM refresh_tokens LEFT JOIN sessions ON sessions.id = refresh_tokens.session_id "+
			"WHERE refresh_tokens.expires_at < ? OR refresh_tokens.used_at < ? OR refresh_tokens.revoked_at < ? "+
			"OR sessions.expires_at < ? OR sessions.revoked_at < ?", cutoff, cutoff, cutoff, cutoff, cutoff).Scan(&tokens).Error
		if err != nil {
			return wrap("count purgeable refresh tokens", err)
		}
		err = tx.Raw("SELECT COUNT(*) FROM sessions WHERE expires_at < ? OR revoked_at < ?", cutoff, cutoff).Scan(&sessions).Error
		return wrap("count purgeable sessions", err)
	})
	if err != nil {
		return 0, err
	}
	return tokens + sessions, nil
}
