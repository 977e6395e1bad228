package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/ironclad-auth/ironclad/models"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// usernameKey folds a username for case-insensitive uniqueness and lookup:
// Unicode canonical caseless matching (NFD, full case folding, then NFC), so
// "Alice", "ALICE" and "alice", "Straße" and "STRASSE", or a precomposed and a
// decomposed "é" all name the same account. Changing this function changes
// which rows match: it needs a migration recomputing users.username_key.
func usernameKey(username string) string {
	return norm.NFC.String(cases.Fold().String(norm.NFD.String(username)))
}

// UsernameKey returns the folded form under which username is stored and
// looked up, for callers that key other state (such as login-failure
// counters) by username and must match exactly the names the store matches.
func UsernameKey(username string) string { return usernameKey(username) }

// CreateUser inserts u. It sets u.ID (a random UUID) when empty, u.UsernameKey,
// u.Role to USER when empty, and u.CreatedAt when zero. New users are always
// active (Active is set to true); deactivate one with SetUserActive. A
// username already taken, in any letter case, gives a BAD_USER_INPUT
// *models.Error on the "username" field.
func (s *Store) CreateUser(ctx context.Context, u *models.User) error {
	if u.Username == "" {
		return models.BadField("username", "username is required")
	}
	if u.Role == "" {
		u.Role = models.RoleUser
	}
	if !u.Role.IsValid() {
		return models.BadField("role", "role must be USER or ADMIN")
	}
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	u.UsernameKey = usernameKey(u.Username)
	u.EmailKey = nil
	if u.Email != nil && *u.Email != "" {
		k := EmailKey(*u.Email)
		u.EmailKey = &k
	} else {
		u.Email, u.EmailVerified = nil, false
	}
	u.Active = true
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	u.UpdatedAt = u.CreatedAt
	normalizeUser(u)

	err := s.db.WithContext(ctx).Create(u).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// The ID is a fresh UUID, so the unique index that failed is the
		// username's or the address's.
		if u.EmailKey != nil && emailTaken(s.db.WithContext(ctx), u.Username) {
			return ErrEmailTaken
		}
		return models.BadField("username", "username is already taken")
	}
	return wrap("create user", err)
}

// UserByID returns the user with this id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*models.User, error) {
	var u models.User
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, wrap("user by id", err)
	}
	normalizeUser(&u)
	return &u, nil
}

// UserByUsername returns the user with this username in any letter case, or
// ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (*models.User, error) {
	var u models.User
	if err := s.db.WithContext(ctx).Where("username_key = ?", usernameKey(username)).Take(&u).Error; err != nil {
		return nil, wrap("user by username", err)
	}
	normalizeUser(&u)
	return &u, nil
}

// RecordLogin sets the user's last_login_at to at and, when newHash is not
// empty, replaces the password hash (a rehash with current parameters after a
// successful login). ErrNotFound if the user does not exist.
func (s *Store) RecordLogin(ctx context.Context, userID string, at time.Time, newHash string) error {
	values := map[string]any{"last_login_at": utc(at)}
	if newHash != "" {
		values["password_hash"] = newHash
	}
	// lastLoginAt is part of what Identity returns (the me query shows it).
	return s.updateUser(ctx, "record login", userID, values)
}

// DeleteUser deletes a user with everything that belongs to them: sessions,
// refresh tokens and personal access tokens go with the row (the foreign
// keys cascade), and every replica drops the user's cached identity when the
// transaction commits, so their access tokens are refused at once. It
// refuses, with ErrLastAdmin, to delete the last active admin, checked
// against the locked set of admins as SetUserRole does. ErrNotFound if the
// user does not exist.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	err := s.write(ctx, "delete user", func(tx *gorm.DB) error {
		admins, err := s.lockActiveAdmins(tx)
		if err != nil {
			return err
		}
		if slices.Contains(admins, userID) && len(admins) <= 1 {
			return ErrLastAdmin
		}
		res := tx.Where("id = ?", userID).Delete(&models.User{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return s.changed(tx, Change{UserID: userID})
	})
	if errors.Is(err, ErrLastAdmin) {
		return ErrLastAdmin
	}
	return err
}

// SetPassword replaces userID's password hash with newHash and, in the same
// transaction, ends every session of the user with their refresh tokens
// (an administrator setting a password, or `ironclad changepassword`): the
// user's access tokens are refused on every replica once it commits.
// Personal access tokens stay: they are not passwords. It returns how many
// live sessions it ended. ErrNotFound if the user does not exist.
func (s *Store) SetPassword(ctx context.Context, userID, newHash string, now time.Time) (int64, error) {
	if newHash == "" {
		return 0, errors.New("store: set password: the new hash is required")
	}
	now = utc(now)
	var n int64
	err := s.write(ctx, "set password", func(tx *gorm.DB) error {
		// The user row first (it is the lock), then sessions, then tokens.
		if err := setPasswordHash(tx, userID, newHash, now); err != nil {
			return err
		}
		var err error
		if n, err = revokeOthers(tx, userID, "", now); err != nil {
			return err
		}
		return s.changed(tx, Change{UserID: userID})
	})
	return n, err
}

// updateUser applies values (and updated_at) to one user, and invalidates
// the user's cached identity.
func (s *Store) updateUser(ctx context.Context, op, userID string, values map[string]any) error {
	values["updated_at"] = utc(time.Now())
	return s.write(ctx, op, func(tx *gorm.DB) error {
		res := tx.Model(&models.User{}).Where("id = ?", userID).UpdateColumns(values)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return s.changed(tx, Change{UserID: userID})
	})
}

// normalizeUser puts a user's times in UTC at database precision, whatever
// zone the driver returned them in.
func normalizeUser(u *models.User) {
	u.CreatedAt = utc(u.CreatedAt)
	u.UpdatedAt = utc(u.UpdatedAt)
	u.LastLoginAt = utcPtr(u.LastLoginAt)
	if u.DisplayName != nil && *u.DisplayName == "" {
		u.DisplayName = nil
	}
}

// userColumns selects every users column, in models.User order, with a
// prefix: explicit lists keep prepared statements valid when a later
// migration adds a column.
func userColumns(prefix string) string {
	return "users.id AS " + prefix + "id, users.username AS " + prefix + "username, " +
		"users.username_key AS " + prefix + "username_key, users.email AS " + prefix + "email, " +
		"users.email_key AS " + prefix + "email_key, users.email_verified AS " + prefix + "email_verified, " +
		"users.display_name AS " + prefix + "display_name, " +
		"users.password_hash AS " + prefix + "password_hash, users.role AS " + prefix + "role, " +
		"users.active AS " + prefix + "active, users.created_at AS " + prefix + "created_at, " +
		"users.updated_at AS " + prefix + "updated_at, users.last_login_at AS " + prefix + "last_login_at"
}
