package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrLastAdmin means a change would leave no active admin. Nothing was
// written.
var ErrLastAdmin = errors.New("store: the last active admin cannot be demoted or deactivated")

// SetUserRole gives a user a role. It refuses, with ErrLastAdmin, to demote
// the last active admin. ErrNotFound if the user does not exist. It returns
// the updated user.
func (s *Store) SetUserRole(ctx context.Context, userID string, role models.Role, now time.Time) (*models.User, error) {
	if !role.IsValid() {
		return nil, models.BadField("role", "role must be USER or ADMIN")
	}
	return s.changeStanding(ctx, "set user role", userID, now, func(u *models.User) { u.Role = role })
}

// SetUserActive activates or deactivates a user. Deactivating ends every
// session of the user (their refresh tokens are revoked) in the same
// transaction; the user's access tokens stay, but are refused while the user
// is inactive. It refuses, with ErrLastAdmin, to deactivate the last active
// admin. ErrNotFound if the user does not exist. It returns the updated user.
func (s *Store) SetUserActive(ctx context.Context, userID string, active bool, now time.Time) (*models.User, error) {
	return s.changeStanding(ctx, "set user active", userID, now, func(u *models.User) { u.Active = active })
}

// changeStanding applies change (a new role or active flag) to one user in a
// transaction that first locks the set of active admins, so that the
// last-admin check and the update are one atomic step: two admins demoting
// each other at once cannot both succeed. On Postgres the admin rows are
// locked with SELECT ... FOR UPDATE (in id order, so concurrent calls queue
// instead of deadlocking, and a waiting call re-reads rows changed by the one
// it waited for); SQLite's immediate transactions already serialize writers.
func (s *Store) changeStanding(ctx context.Context, op, userID string, now time.Time, change func(*models.User)) (*models.User, error) {
	now = utc(now)
	var out models.User
	err := s.write(ctx, op, func(tx *gorm.DB) error {
		admins, err := s.lockActiveAdmins(tx)
		if err != nil {
			return err
		}
		if err := tx.Where("id = ?", userID).Take(&out).Error; err != nil {
			return err
		}
		wasActive := out.Active
		change(&out)
		isAdmin := out.Role == models.RoleAdmin && out.Active
		if slices.Contains(admins, userID) && !isAdmin && len(admins) <= 1 {
			return ErrLastAdmin
		}
		out.UpdatedAt = now
		err = tx.Model(&models.User{}).Where("id = ?", userID).UpdateColumns(map[string]any{
			"role":       out.Role,
			"active":     out.Active,
			"updated_at": now,
		}).Error
		if err != nil {
			return err
		}
		if wasActive && !out.Active {
			if err := revokeUserSessions(tx, userID, now); err != nil {
				return err
			}
		}
		return s.changed(tx, Change{UserID: userID})
	})
	if errors.Is(err, ErrLastAdmin) {
		return nil, ErrLastAdmin
	}
	if err != nil {
		return nil, err
	}
	normalizeUser(&out)
	return &out, nil
}

// lockActiveAdmins returns the ids of the active admins, locking their rows
// for the rest of tx on Postgres (in id order, so that concurrent callers
// queue instead of deadlocking); SQLite's immediate transactions already
// serialize writers. Every write that could remove an active admin (a role
// change, deactivation, deletion) checks the last-admin rule against this
// set inside its own transaction.
func (s *Store) lockActiveAdmins(tx *gorm.DB) ([]string, error) {
	q := tx.Model(&models.User{}).Where("role = ? AND active = ?", models.RoleAdmin, true).Order("id")
	if s.dialect == DialectPostgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var admins []string
	if err := q.Pluck("id", &admins).Error; err != nil {
		return nil, err
	}
	return admins, nil
}
