package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// Every write that ends sessions lives in this file or in RevokeSession, so a
// per-replica identity cache has one place to invalidate. Writes touching
// several sessions of one user lock the user's row first: two of them on the
// same user then queue instead of deadlocking on each other's sessions, and
// like Rotate and RevokeSession they take session rows before token rows.

// LiveSession is a session that can still be refreshed, with the expiry of
// its current refresh token.
type LiveSession struct {
	models.Session
	// RefreshExpiresAt is when the session's current refresh token expires
	// (never after Session.ExpiresAt): unused until then, the session ends.
	RefreshExpiresAt time.Time
}

// liveSessionsSQL lists a user's sessions that are unrevoked and unexpired at
// now, joined to their unused, unexpired refresh token (a session holds at
// most one: rotation uses the old one up as it inserts the new one).
const liveSessionsSQL = "SELECT sessions.id, sessions.user_id, sessions.created_at, sessions.last_used_at, " +
	"sessions.expires_at, sessions.revoked_at, sessions.user_agent, sessions.ip, " +
	"refresh_tokens.expires_at AS refresh_expires_at " +
	"FROM sessions JOIN refresh_tokens ON refresh_tokens.session_id = sessions.id " +
	"AND refresh_tokens.used_at IS NULL AND refresh_tokens.revoked_at IS NULL AND refresh_tokens.expires_at > ? " +
	"WHERE sessions.user_id = ? AND sessions.revoked_at IS NULL AND sessions.expires_at > ? " +
	"ORDER BY sessions.last_used_at DESC, sessions.id LIMIT ?"

// MaxListedSessions bounds UserSessions: a script that logs in on every run
// must not make one query return thousands of rows.
const MaxListedSessions = 100

// UserSessions returns the sessions of userID that are live at now (not
// revoked, not expired, holding an unused unexpired refresh token), most
// recently used first, at most MaxListedSessions of them.
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]LiveSession, error) {
	now = utc(now)
	var rows []struct {
		models.Session   `gorm:"embedded"`
		RefreshExpiresAt time.Time
	}
	if err := s.db.WithContext(ctx).Raw(liveSessionsSQL, now, userID, now, MaxListedSessions+1).Scan(&rows).Error; err != nil {
		return nil, wrap("user sessions", err)
	}
	out := make([]LiveSession, 0, len(rows))
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].ID == r.ID {
			continue // defensive: one row per session even if two tokens were unused
		}
		normalizeSession(&r.Session)
		out = append(out, LiveSession{Session: r.Session, RefreshExpiresAt: utc(r.RefreshExpiresAt)})
	}
	if len(out) > MaxListedSessions {
		out = out[:MaxListedSessions]
	}
	return out, nil
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
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
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
		if n, err = revokeOthers(tx, userID, keep, now); err != nil || n == 0 {
			return err
		}
		return s.changed(tx, Change{UserID: userID})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ChangePassword sets userID's password hash to newHash and, in the same
// transaction, ends every other session of the user and rotates session
// sessionID: its refresh tokens are revoked and next (its ID, CreatedAt,
// UserID and SessionID set when empty; its ExpiresAt capped at the session's)
// becomes its only valid one. The
// session itself, and the access tokens naming it, stay valid. It returns how
// many other live sessions it ended. ErrConflict if sessionID is not a live
// session of userID; ErrNotFound if the user does not exist.
func (s *Store) ChangePassword(ctx context.Context, userID, sessionID, newHash string, next *models.RefreshToken, now time.Time) (int64, error) {
	if newHash == "" || next.TokenHash == "" || next.ExpiresAt.IsZero() {
		return 0, errors.New("store: change password: new hash, token hash and expiry are required")
	}
	now = utc(now)
	if next.ID == "" {
		next.ID = uuid.NewString()
	}
	if next.UserID == "" {
		next.UserID = userID
	}
	if next.SessionID == "" {
		next.SessionID = sessionID
	}
	if next.UserID != userID || next.SessionID != sessionID {
		return 0, errors.New("store: change password: token belongs to another session or user")
	}
	if next.CreatedAt.IsZero() {
		next.CreatedAt = now
	}
	normalizeToken(next)

	var n int64
	err := s.write(ctx, "change password", func(tx *gorm.DB) error {
		// The user row first (it is the lock), then sessions, then tokens.
		res := tx.Model(&models.User{}).Where("id = ?", userID).
			UpdateColumns(map[string]any{"password_hash": newHash, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		res = tx.Model(&models.Session{}).
			Where("id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", sessionID, userID, now).
			UpdateColumn("last_used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict // the session ended meanwhile
		}
		// The new token never outlives its session.
		var sess models.Session
		if err := tx.Select("expires_at").Where("id = ?", sessionID).Take(&sess).Error; err != nil {
			return err
		}
		if exp := utc(sess.ExpiresAt); next.ExpiresAt.After(exp) {
			next.ExpiresAt = exp
		}
		var err error
		if n, err = revokeOthers(tx, userID, sessionID, now); err != nil {
			return err
		}
		if err := revokeTokens(tx, now, "session_id = ?", sessionID); err != nil {
			return err
		}
		if err := tx.Create(next).Error; err != nil {
			return err
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
