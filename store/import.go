package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/models"
)

// ImportUser is one account brought over from another system (`ironclad
// import users`): the user row as it was there, its password hash verbatim,
// and when its email address was verified (nil: not verified).
type ImportUser struct {
	User            models.User
	EmailVerifiedAt *time.Time
}

// ImportUsers inserts a batch of users in one transaction and returns the
// usernames it skipped because an account of that name (in any letter case)
// already exists, so that running an import twice adds nothing. Users keep
// their active flag, role, creation and last login times; IDs are new UUIDs
// when empty. Either every other user of the batch is inserted or none is: a
// row another constraint refuses fails the whole batch (ErrConflict for a
// duplicate key), and the caller may retry its rows one by one to find it.
func (s *Store) ImportUsers(ctx context.Context, batch []ImportUser) (skipped []string, err error) {
	if len(batch) == 0 {
		return nil, nil
	}
	now := utc(time.Now())
	keys := make([]string, len(batch))
	for i := range batch {
		u := &batch[i].User
		if u.Username == "" || u.PasswordHash == "" {
			return nil, errors.New("store: import users: username and password hash are required")
		}
		if u.Role == "" {
			u.Role = models.RoleUser
		}
		if !u.Role.IsValid() {
			return nil, fmt.Errorf("store: import users: role %q", u.Role)
		}
		if u.ID == "" {
			u.ID = uuid.NewString()
		}
		u.UsernameKey = usernameKey(u.Username)
		if u.CreatedAt.IsZero() {
			u.CreatedAt = now
		}
		u.CreatedAt = utc(u.CreatedAt)
		u.UpdatedAt = now
		u.LastLoginAt = utcPtr(u.LastLoginAt)
		keys[i] = u.UsernameKey
	}
	err = s.write(ctx, "import users", func(tx *gorm.DB) error {
		var taken []string
		if err := tx.Model(&models.User{}).Where("username_key IN ?", keys).Pluck("username_key", &taken).Error; err != nil {
			return err
		}
		exists := make(map[string]bool, len(taken))
		for _, k := range taken {
			exists[k] = true
		}
		var rows []*models.User
		var verified []ImportUser
		for i := range batch {
			u := &batch[i].User
			if exists[u.UsernameKey] {
				skipped = append(skipped, u.Username)
				continue
			}
			exists[u.UsernameKey] = true // a second row of the same name in one batch is skipped too
			rows = append(rows, u)
			if batch[i].EmailVerifiedAt != nil {
				verified = append(verified, batch[i])
			}
		}
		if len(rows) == 0 {
			return nil
		}
		// gorm leaves a false field with a default out of the INSERT (and
		// reads the default back into the struct), so the column's default
		// (true) would win: the inactive ones are written after.
		var inactive []string
		for _, u := range rows {
			if !u.Active {
				inactive = append(inactive, u.ID)
			}
		}
		if err := tx.Create(rows).Error; err != nil {
			return err
		}
		if len(inactive) > 0 {
			if err := tx.Model(&models.User{}).Where("id IN ?", inactive).UpdateColumn("active", false).Error; err != nil {
				return err
			}
		}
		for _, v := range verified {
			err := tx.Exec("UPDATE users SET email_verified_at = ? WHERE id = ?", utc(*v.EmailVerifiedAt), v.User.ID).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, err
	}
	return skipped, nil
}

// HashShare is how many users hold password hashes with one format marker
// (a prefix), with one of those hashes as its sample.
type HashShare struct {
	Prefix string
	Count  int64
	Sample string
}

// HashMix counts the users by the format of their password hash: for each
// of prefixes, how many hashes start with it and one of them (the greatest);
// hashes matching none are counted under the prefix "". One statement,
// reading no row twice; it is what the login's dummy path imitates.
func (s *Store) HashMix(ctx context.Context, prefixes []string) ([]HashShare, error) {
	var b strings.Builder
	args := make([]any, 0, 2*len(prefixes))
	b.WriteString("SELECT kind AS prefix, COUNT(*) AS count, MAX(password_hash) AS sample FROM (SELECT password_hash, CASE")
	for _, p := range prefixes {
		b.WriteString(" WHEN substr(password_hash, 1, ?) = ? THEN ?")
		args = append(args, len(p), p, p)
	}
	b.WriteString(" ELSE '' END AS kind FROM users) AS h GROUP BY kind")
	var out []HashShare
	if err := s.db.WithContext(ctx).Raw(b.String(), args...).Scan(&out).Error; err != nil {
		return nil, wrap("hash mix", err)
	}
	return out, nil
}

// emailVerifiedPostgres adds when a user's email address was verified (NULL:
// not verified); the import fills it from the dump. It is its own migration
// so that the mail features can build on the column without owning it.
var emailVerifiedPostgres = []string{
	`ALTER TABLE users ADD COLUMN email_verified_at timestamptz`,
}

// emailVerifiedSQLite is emailVerifiedPostgres in SQLite's types.
var emailVerifiedSQLite = []string{
	`ALTER TABLE users ADD COLUMN email_verified_at datetime`,
}

// dropEmailVerified undoes the email_verified migration.
var dropEmailVerified = []string{
	`ALTER TABLE users DROP COLUMN email_verified_at`,
}
