package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// purgeBatch bounds each DELETE so a large backlog never holds locks long.
const purgeBatch = 1000

// Purge deletes what can no longer be used, as of now: refresh tokens that
// expired, were used or were revoked more than keep ago, and sessions that
// expired or were revoked more than keep ago, with their tokens. Keeping
// used tokens for keep lets a replayed token be recognised as reuse; keep at
// least the refresh-token lifetime to detect reuse for as long as a token
// could otherwise have been valid. Successors kept by RotateKeeping whose
// window closed are cleared first. It returns the number of rows deleted.
//
// It runs plain conditional DELETEs of at most purgeBatch rows each, so it is
// idempotent and safe to run concurrently from several replicas (one run
// may stop early when another deleted part of its batch; the next sweep
// finishes the work).
func (s *Store) Purge(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := utc(now.Add(-keep))
	// Each statement deletes by primary key from a bounded subquery: both
	// databases support this form (SQLite lacks DELETE ... LIMIT by default).
	// Each condition is its own step, ordered by its indexed column, so that
	// every batch is an index range scan that stops after purgeBatch rows.
	// One OR of the three conditions made Postgres build a bitmap of every
	// purgeable row for each batch: at ten million tokens, seconds a batch
	// (BENCHMARKS.md, "Scale").
	type step struct {
		op, sql string
		args    []any
	}
	tokenStep := func(column string) step {
		return step{
			"purge refresh tokens (" + column + ")",
			"DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens " +
				"WHERE " + column + " < ? ORDER BY " + column + " LIMIT ?)",
			[]any{cutoff, purgeBatch},
		}
	}
	endedStep := func(column string) step {
		return step{
			"purge tokens of ended sessions (" + column + ")",
			"DELETE FROM refresh_tokens WHERE id IN (SELECT refresh_tokens.id FROM sessions " +
				"JOIN refresh_tokens ON refresh_tokens.session_id = sessions.id " +
				"WHERE sessions." + column + " < ? LIMIT ?)",
			[]any{cutoff, purgeBatch},
		}
	}
	sessionStep := func(column string) step {
		return step{
			"purge sessions (" + column + ")",
			"DELETE FROM sessions WHERE id IN (SELECT id FROM sessions " +
				"WHERE " + column + " < ? ORDER BY " + column + " LIMIT ?)",
			[]any{cutoff, purgeBatch},
		}
	}
	steps := []step{
		tokenStep("expires_at"), tokenStep("used_at"), tokenStep("revoked_at"),
		endedStep("expires_at"), endedStep("revoked_at"),
		sessionStep("expires_at"), sessionStep("revoked_at"),
	}

	// Successors kept for the reuse grace window go first: they must not
	// outlive the window (not counted: nothing is deleted).
	if _, err := s.forgetExpiredSuccessors(ctx, now); err != nil {
		return 0, err
	}
	var total int64
	for _, st := range steps {
		n, err := s.deleteInBatches(ctx, st.op, st.sql, st.args...)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deleteInBatches runs sql, a DELETE of at most purgeBatch rows, until a
// batch deletes fewer, and returns how many rows it deleted. Each batch is
// its own statement and transaction (purgeBatch); a cancelled ctx stops it
// between batches.
func (s *Store) deleteInBatches(ctx context.Context, op, sql string, args ...any) (int64, error) {
	var total int64
	for {
		n, err := s.purgeBatch(ctx, sql, args)
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

// purgeBatch runs one batch statement and returns the rows it deleted.
func (s *Store) purgeBatch(ctx context.Context, sql string, args []any) (int64, error) {
	if s.dialect != DialectPostgres {
		res := s.db.WithContext(ctx).Exec(sql, args...)
		return res.RowsAffected, res.Error
	}
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(fmt.Sprintf("SET LOCAL statement_timeout = %d", purgeStatementTimeout.Milliseconds())).Error; err != nil {
			return err
		}
		res := tx.Exec(sql, args...)
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

// CountPurgeable counts the rows Purge(ctx, now, keep) would delete, and
// deletes nothing: `ironclad purge --dry-run`.
func (s *Store) CountPurgeable(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := utc(now.Add(-keep))
	var tokens, sessions int64
	err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM refresh_tokens LEFT JOIN sessions ON sessions.id = refresh_tokens.session_id "+
		"WHERE refresh_tokens.expires_at < ? OR refresh_tokens.used_at < ? OR refresh_tokens.revoked_at < ? "+
		"OR sessions.expires_at < ? OR sessions.revoked_at < ?", cutoff, cutoff, cutoff, cutoff, cutoff).Scan(&tokens).Error
	if err != nil {
		return 0, wrap("count purgeable refresh tokens", err)
	}
	err = s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM sessions WHERE expires_at < ? OR revoked_at < ?", cutoff, cutoff).Scan(&sessions).Error
	if err != nil {
		return 0, wrap("count purgeable sessions", err)
	}
	return tokens + sessions, nil
}
