package store

import (
	"context"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// Revocation: the writes that end sessions before they expire
// (RevokeSession, RevokeUserSession, RevokeUserSessions), and the helpers
// with which ChangePassword (password.go) and SetUserActive (standing.go) end
// sessions inside their own transactions. Each of these writes reports what
// it ended with s.changed (see changes.go). Writes touching several sessions
// of one user lock the user's row first: two of them on the same user then
// queue instead of deadlocking on each other's sessions, and like Rotate
// every write here takes session rows before token rows.

// RevokeSession ends a session at now: it sets the session's revoked_at and
// that of all its refresh tokens not yet revoked. It reports whether the
// session was live (unrevoked and unexpired) before; an unknown or already
// ended session is not an error.
func (s *Store) RevokeSession(ctx context.Context, sessionID string, now time.Time) (bool, error) {
	now = utc(now)
	var wasLive bool
	err := s.write(ctx, "revoke session", func(tx *gorm.DB) error {
		res := tx.Model(&models.Session{}).
			Where("id = ? AND revoked_at IS NULL AND expires_at > ?", sessionID, now).
			UpdateColumn("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		wasLive = res.RowsAffected > 0
		if err := revokeTokens(tx, now, "session_id = ?", sessionID); err != nil {
			return err
		}
		if !wasLive {
			skipAudit(tx) // already ended: nothing happened to record
			return nil    // nothing a cache could hold changed
		}
		return s.changed(tx, Change{SessionID: sessionID})
	})
	if err != nil {
		return false, err
	}
	return wasLive, nil
}

// RevokeUserSession ends session sessionID at now if it belongs to userID and
// is live, with all its refresh tokens. It reports whether it ended a live
// session; a session of another user is left untouched and reported like an
// unknown one (false, nil).
func (s *Store) RevokeUserSession(ctx context.Context, userID, sessionID string, now time.Time) (bool, error) {
	now = utc(now)
	var ended bool
	err := s.write(ctx, "revoke user session", func(tx *gorm.DB) error {
		res := tx.Model(&models.Session{}).
			Where("id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", sessionID, userID, now).
			UpdateColumn("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			skipAudit(tx)
			return nil
		}
		ended = true
		if err := revokeTokens(tx, now, "session_id = ?", sessionID); err != nil {
			return err
		}
		return s.changed(tx, Change{SessionID: sessionID})
	})
	if err != nil {
		return false, err
	}
	return ended, nil
}

// RevokeUserSessions ends at now every live session of userID except keep
// (none when keep is empty), with their refresh tokens, and returns how many
// live sessions it ended.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, keep string, now time.Time) (int64, error) {
	now = utc(now)
	var n int64
	err := s.write(ctx, "revoke user sessions", func(tx *gorm.DB) error {
		if err := lockUser(tx, userID); err != nil {
			return err
		}
		var err error
		if n, err = revokeOthers(tx, userID, keep, now); err != nil {
			return err
		}
		if n == 0 {
			skipAudit(tx)
			return nil
		}
		return s.changed(tx, Change{UserID: userID})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// lockUser takes the row lock of userID for the rest of the transaction
// (SQLite's immediate transactions already hold the database lock).
func lockUser(tx *gorm.DB, userID string) error {
	return tx.Exec("UPDATE users SET updated_at = updated_at WHERE id = ?", userID).Error
}

// revokeOthers ends every live session of userID but keep, with their tokens,
// and returns how many it ended.
func revokeOthers(tx *gorm.DB, userID, keep string, now time.Time) (int64, error) {
	res := tx.Model(&models.Session{}).
		Where("user_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?", userID, keep, now).
		UpdateColumn("revoked_at", now)
	if res.Error != nil {
		return 0, res.Error
	}
	return res.RowsAffected, revokeTokens(tx, now, "user_id = ? AND session_id <> ?", userID, keep)
}

// revokeTokens revokes the unrevoked refresh tokens matching where at now and
// forgets any successor they kept.
func revokeTokens(tx *gorm.DB, now time.Time, where string, args ...any) error {
	return tx.Model(&models.RefreshToken{}).
		Where("("+where+") AND revoked_at IS NULL", args...).
		UpdateColumns(map[string]any{"revoked_at": now, "successor_sealed": nil, "successor_until": nil}).Error
}

// revokeUserSessions ends every live session of a user and revokes their
// refresh tokens, inside tx. Sessions are written first, the order every
// write to a token family follows (see Rotate).
func revokeUserSessions(tx *gorm.DB, userID string, now time.Time) error {
	err := tx.Model(&models.Session{}).
		Where("user_id = ? AND revoked_at IS NULL", userID).
		UpdateColumn("revoked_at", now).Error
	if err != nil {
		return err
	}
	return tx.Model(&models.RefreshToken{}).
		Where("user_id = ? AND revoked_at IS NULL", userID).
		UpdateColumn("revoked_at", now).Error
}
