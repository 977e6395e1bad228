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
	if s.dialect == DialectPostgres {
		return s.startLoginSessionPostgres(ctx, sess, tok, at, newHash)
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
		return s.changed(tx, Change{UserID: sess.UserID, StartedSession: sess.ID})
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return ErrNotFound // the user was deleted meanwhile
	}
	return err
}

// startLoginSessionSQL is StartLoginSession on Postgres as one statement:
// data-modifying CTEs update the user, insert the session and its token,
// and queue the invalidation, all or nothing, in one round trip instead of
// six (BEGIN, three writes, pg_notify, COMMIT). Nothing is inserted unless
// the user row exists; the foreign keys still hold the rows together.
const startLoginSessionSQL = `WITH u AS (
	UPDATE users SET last_login_at = @at, updated_at = @updated,
		password_hash = CASE WHEN @hash = '' THEN password_hash ELSE @hash END
	WHERE id = @user RETURNING id
), s AS (
	INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
	SELECT @session, u.id, @s_created, @s_used, @s_expires, @agent, @ip FROM u RETURNING id
), t AS (
	INSERT INTO refresh_tokens (id, token_hash, user_id, session_id, created_at, expires_at)
	SELECT @token, @token_hash, @user, s.id, @t_created, @t_expires FROM s RETURNING id
)
SELECT pg_notify(@channel, @change) FROM t`

func (s *Store) startLoginSessionPostgres(ctx context.Context, sess *models.Session, tok *models.RefreshToken, at time.Time, newHash string) error {
	c := Change{UserID: sess.UserID, StartedSession: sess.ID}
	res := s.db.WithContext(ctx).Exec(startLoginSessionSQL, map[string]any{
		"at": utc(at), "updated": utc(time.Now()), "hash": newHash, "user": sess.UserID,
		"session": sess.ID, "s_created": sess.CreatedAt, "s_used": sess.LastUsedAt, "s_expires": sess.ExpiresAt,
		"agent": sess.UserAgent, "ip": sess.IP,
		"token": tok.ID, "token_hash": tok.TokenHash, "t_created": tok.CreatedAt, "t_expires": tok.ExpiresAt,
		"channel": notifyChannel, "change": c.encode(),
	})
	if err := res.Error; err != nil {
		if errors.Is(err, gorm.ErrForeignKeyViolated) {
			return ErrNotFound
		}
		return wrap("start login session", err)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound // no such user: nothing was written
	}
	s.applyLocal([]Change{c})
	if s.notify != nil {
		s.notify.publish(ctx, []Change{c})
	}
	return nil
}
