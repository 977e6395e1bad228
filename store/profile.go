package store

import (
	"context"
	"errors"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// ProfileChange is a change to a user's profile; nil fields stay as they are.
type ProfileChange struct {
	Email       *string
	DisplayName *string // "" clears it
	// OnEmailChange, when set, is called inside the transaction when Email
	// is another address than the user's (compared folded), with the user
	// as it was: it returns the verification token and the messages to
	// queue with the change, which commit or roll back with it.
	OnEmailChange func(before *models.User) (*models.MailToken, []*models.OutboxMail, error)
}

// UpdateProfile applies change to a user and returns the updated user.
// A new address (other than the old one in letter case only) is stored
// unverified. ErrNotFound if the user does not exist; ErrEmailTaken if
// another account has the address.
func (s *Store) UpdateProfile(ctx context.Context, userID string, change ProfileChange, now time.Time) (*models.User, error) {
	now = utc(now)
	values := map[string]any{}
	if change.DisplayName != nil {
		if *change.DisplayName == "" {
			values["display_name"] = nil
		} else {
			values["display_name"] = *change.DisplayName
		}
	}
	var out models.User
	err := s.write(ctx, "update profile", func(tx *gorm.DB) error {
		var before models.User
		if err := tx.Where("id = ?", userID).Take(&before).Error; err != nil {
			return err
		}
		normalizeUser(&before)
		emailChanged := false
		if change.Email != nil {
			key := EmailKey(*change.Email)
			values["email"], values["email_key"] = *change.Email, key
			if before.EmailKey == nil || *before.EmailKey != key {
				emailChanged = true
				values["email_verified"] = false
				if change.OnEmailChange != nil {
					tok, mails, err := change.OnEmailChange(&before)
					if err != nil {
						return err
					}
					if _, err := queueMail(tx, userID, tok, mails, now); err != nil {
						return err
					}
				}
			}
		}
		if !emailChanged {
			skipAudit(tx) // the events of ctx are about a new address (EMAIL_CHANGED)
		}
		values["updated_at"] = now
		res := tx.Model(&models.User{}).Where("id = ?", userID).UpdateColumns(values)
		if errors.Is(res.Error, gorm.ErrDuplicatedKey) {
			return ErrEmailTaken
		}
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
