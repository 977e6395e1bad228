package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// Rotate atomically replaces refresh token oldID by next, in one transaction:
// the session (next.SessionID) must be live at now, and oldID must belong to
// it and to next.UserID and be unused, unrevoked and unexpired. Then oldID is
// marked used at now, next is inserted (its ID and CreatedAt set when empty),
// and the session records now, userAgent and ip as its last use. Every check
// is a conditional UPDATE, not a read then a write, so of many concurrent
// rotations of one token — on one replica or several — exactly one succeeds;
// the others, and any rotation of a token or session no longer valid, get
// ErrConflict and write nothing.
func (s *Store) Rotate(ctx context.Context, oldID string, next *models.RefreshToken, now time.Time, userAgent, ip string) error {
	return s.rotate(ctx, oldID, next, now, userAgent, ip, nil)
}

// rotate is Rotate, also keeping keep (when not nil) in the old token's row.
func (s *Store) rotate(ctx context.Context, oldID string, next *models.RefreshToken, now time.Time, userAgent, ip string, keep *Successor) error {
	if next.SessionID == "" || next.UserID == "" || next.TokenHash == "" || next.ExpiresAt.IsZero() {
		return errors.New("store: rotate: next token needs session id, user id, hash and expiry")
	}
	now = utc(now)
	if next.ID == "" {
		next.ID = uuid.NewString()
	}
	if next.CreatedAt.IsZero() {
		next.CreatedAt = now
	}
	normalizeToken(next)

	// Raw statements, not gorm's UpdateColumns and Create: a refresh is the
	// hottest write, and building these from maps and the model by
	// reflection cost more than the statements' own execution
	// (BENCHMARKS.md, "The write floor").
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The session row is updated first: it is the lock every write to
		// the family takes first (RevokeSession too), so a rotation and a
		// revocation of one session serialize instead of deadlocking.
		res := tx.Exec(rotateSessionSQL, now, clip(userAgent, maxUserAgent), clip(ip, maxIP), next.SessionID, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict // session revoked, expired or gone
		}
		if keep != nil {
			res = tx.Exec(rotateUsedKeepingSQL, now, keep.Sealed, utc(keep.Until), oldID, next.SessionID, next.UserID, now)
		} else {
			res = tx.Exec(rotateUsedSQL, now, oldID, next.SessionID, next.UserID, now)
		}
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict // rotated by someone else first, or no longer valid
		}
		if keep != nil {
			// Only the immediately previous token may be answered with its
			// successor: forget the successors kept by older tokens.
			if err := tx.Exec(rotateForgetSQL, next.SessionID, oldID).Error; err != nil {
				return err
			}
		}
		return tx.Exec(insertRefreshSQL, next.ID, next.TokenHash, next.UserID, next.SessionID, next.CreatedAt, next.ExpiresAt,
			next.UsedAt, next.RevokedAt).Error
	})
	return wrap("rotate", err)
}

// The statements of a rotation (rotate).
const (
	rotateSessionSQL = "UPDATE sessions SET last_used_at = ?, user_agent = ?, ip = ? " +
		"WHERE id = ? AND revoked_at IS NULL AND expires_at > ?"
	rotateUsedSQL = "UPDATE refresh_tokens SET used_at = ? " +
		"WHERE id = ? AND session_id = ? AND user_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?"
	rotateUsedKeepingSQL = "UPDATE refresh_tokens SET used_at = ?, successor_sealed = ?, successor_until = ? " +
		"WHERE id = ? AND session_id = ? AND user_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?"
	rotateForgetSQL = "UPDATE refresh_tokens SET successor_sealed = NULL, successor_until = NULL " +
		"WHERE session_id = ? AND id <> ? AND successor_until IS NOT NULL"
	insertRefreshSQL = "INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at, used_at, revoked_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
