package store

import (
	"context"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// ProfileChange is a change to a user's profile; nil fields stay as they are.
type ProfileChange struct {
	Email       *string
	DisplayName *string // "" clears it
}

// UpdateProfile applies change to a user and returns the updated user.
// ErrNotFound if the user does not exist.
func (s *Store) UpdateProfile(ctx context.Context, userID string, change ProfileChange, now time.Time) (*models.User, error) {
	values := map[string]any{}
	if change.Email != nil {
		values["email"] = *change.Email
	}
	if change.DisplayName != nil {
		if *change.DisplayName == "" {
			values["display_name"] = nil
		} else {
			values["display_name"] = *change.DisplayName
		}
	}
	var out models.User
	err := s.write(ctx, "update profile", func(tx *gorm.DB) error {
		values["updated_at"] = utc(now)
		res := tx.Model(&models.User{}).Where("id = ?", userID).UpdateColumns(values)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.Where("id = ?", userID).Take(&out).Error; err != nil {
			return err
		}
		return s.changed(tx, Change{UserID: userID})
	})
	if err != nil {
		return nil, err
	}
	normalizeUser(&out)
	return &out, nil
}
