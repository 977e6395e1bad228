package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// accessTokenColumns selects every access_tokens column with a prefix.
const accessTokenColumns = "access_tokens.id AS a_id, access_tokens.user_id AS a_user_id, " +
	"access_tokens.name AS a_name, access_tokens.token_hash AS a_token_hash, " +
	"access_tokens.scopes AS a_scopes, access_tokens.created_at AS a_created_at, " +
	"access_tokens.expires_at AS a_expires_at, access_tokens.last_used_at AS a_last_used_at, " +
	"access_tokens.revoked_at AS a_revoked_at"

// accessTokenSQL loads a personal access token and its user by the token's
// unique hash: one indexed statement per request authenticated by a token.
var accessTokenSQL = "SELECT " + accessTokenColumns + ", " + userColumns("u_") + " " +
	"FROM access_tokens JOIN users ON users.id = access_tokens.user_id " +
	"WHERE access_tokens.token_hash = ? LIMIT 1"

// accessTokenRow is one row of accessTokenSQL.
type accessTokenRow struct {
	Token models.PersonalToken `gorm:"embedded;embeddedPrefix:a_"`
	User  models.User          `gorm:"embedded;embeddedPrefix:u_"`
}

// CreatePersonalToken inserts t, setting an empty ID (a random UUID) and a zero
// CreatedAt (now). ErrNotFound if the user does not exist.
func (s *Store) CreatePersonalToken(ctx context.Context, t *models.PersonalToken) error {
	if t.UserID == "" || t.TokenHash == "" || t.Name == "" {
		return errors.New("store: create access token: user id, name and hash are required")
	}
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	if t.Scopes == nil {
		t.Scopes = models.Scopes{}
	}
	normalizePersonalToken(t)
	// Through write for the audit event of the creation (WithAudit); no
	// cached identity changes.
	err := s.write(ctx, "create access token", func(tx *gorm.DB) error { return tx.Create(t).Error })
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return ErrNotFound
	}
	return err
}

// PersonalTokenByHash returns the access token whose SHA-256 hash is hash and
// its user, in one statement. The caller judges validity (revoked, expired,
// user inactive). ErrNotFound if no token has this hash.
func (s *Store) PersonalTokenByHash(ctx context.Context, hash string) (*models.PersonalToken, *models.User, error) {
	var row accessTokenRow
	res := s.db.WithContext(ctx).Raw(accessTokenSQL, hash).Scan(&row)
	if res.Error != nil {
		return nil, nil, wrap("access token by hash", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil, ErrNotFound
	}
	normalizePersonalToken(&row.Token)
	normalizeUser(&row.User)
	return &row.Token, &row.User, nil
}

// PersonalTokensOf returns the user's access tokens that are not revoked,
// newest first.
func (s *Store) PersonalTokensOf(ctx context.Context, userID string) ([]*models.PersonalToken, error) {
	var out []*models.PersonalToken
	err := s.db.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL", userID).
		Order("created_at DESC, id DESC").Find(&out).Error
	if err != nil {
		return nil, wrap("access tokens of user", err)
	}
	for _, t := range out {
		normalizePersonalToken(t)
	}
	return out, nil
}

// RevokePersonalToken revokes the user's token id at now. It reports whether
// this call revoked it: false when the user has no such token or it was
// already revoked.
func (s *Store) RevokePersonalToken(ctx context.Context, userID, id string, now time.Time) (bool, error) {
	var ok bool
	err := s.write(ctx, "revoke access token", func(tx *gorm.DB) error {
		res := tx.Model(&models.PersonalToken{}).
			Where("id = ? AND user_id = ? AND revoked_at IS NULL", id, userID).
			UpdateColumn("revoked_at", utc(now))
		if res.Error != nil {
			return res.Error
		}
		if ok = res.RowsAffected > 0; !ok {
			skipAudit(tx) // nothing was revoked
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// TouchPersonalToken records that token id was used at now, unless a use within
// the last interval was already recorded. The condition is in the UPDATE, so
// replicas sharing the database write at most once per interval per token.
// It reports whether it wrote.
func (s *Store) TouchPersonalToken(ctx context.Context, id string, now time.Time, interval time.Duration) (bool, error) {
	now = utc(now)
	res := s.db.WithContext(ctx).Model(&models.PersonalToken{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", id, now.Add(-interval)).
		UpdateColumn("last_used_at", now)
	if res.Error != nil {
		return false, wrap("touch access token", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// normalizePersonalToken puts a token's times in UTC at database precision.
func normalizePersonalToken(t *models.PersonalToken) {
	t.CreatedAt = utc(t.CreatedAt)
	t.ExpiresAt = utcPtr(t.ExpiresAt)
	t.LastUsedAt = utcPtr(t.LastUsedAt)
	t.RevokedAt = utcPtr(t.RevokedAt)
}
