package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

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
		if err := setPasswordHash(tx, userID, newHash, now); err != nil {
			return err
		}
		res := tx.Model(&models.Session{}).
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

// setPasswordHash stores a user's new password hash in tx, locking the
// user's row; ErrNotFound if there is no such user.
func setPasswordHash(tx *gorm.DB, userID, newHash string, now time.Time) error {
	res := tx.Model(&models.User{}).Where("id = ?", userID).
		UpdateColumns(map[string]any{"password_hash": newHash, "updated_at": now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
