package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/models"
)

// StartLoginSession records a successful login and opens its session in
// one transaction: it sets the user's last_login_at to at (and the password
// hash to newHash when not empty, as RecordLogin does), then inserts sess
// and its first refresh token tok, completed as CreateSession documents.
// One commit instead of two takes round trips off every login, and a login
// whose session could not be created leaves last_login_at untouched.
// ErrNotFound if the user does not exist.
func (s *Store) StartLoginSession(ctx context.Context, sess *models.Session, tok *models.RefreshToken, at time.Time, newHash string) error {
	if err := prepareSession(sess, tok); err != nil {
		return err
	}
	values := map[string]any{"last_login_at": utc(at), "updated_at": utc(time.Now())}
	if newHash != "" {
		values["password_hash"] = newHash
	}
	err := s.write(ctx, "start login session", func(tx *gorm.DB) error {
		res := tx.Model(&models.User{}).Where("id = ?", sess.UserID).UpdateColumns(values)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.Create(sess).Error; err != nil {
			return err
		}
		if err := tx.Create(tok).Error; err != nil {
			return err
		}
		// lastLoginAt is part of what Identity returns (the me query shows it).
		return s.changed(tx, Change{UserID: sess.UserID})
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return ErrNotFound // the user was deleted meanwhile
	}
	return err
}
