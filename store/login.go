package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/models"
)

// StartLoginSession records a successful login and opens its session in
// one transaction: it sets the user's last_login_at to at (and the password
// hash to newHash when not empty, as RecordLogin does), then inserts sess
// and its first refresh token tok, completed as CreateSession documents.
// One commit instead of two takes round trips off every login, and a login
// whose session could not be created leaves last_login_at untouched. The
// audit events pending in ctx (WithAudit) commit with it; those without a
// session id get the new session's.
// ErrNotFound if the user does not exist.
func (s *Store) StartLoginSession(ctx context.Context, sess *models.Session, tok *models.RefreshToken, at time.Time, newHash string) error {
	if err := prepareSession(sess, tok); err != nil {
		return err
	}
	// The login's audit events (WithAudit) name the session it opens.
	if p := pendingFrom(ctx); p != nil {
		for _, e := range p.events {
			if e.SessionID == nil {
				e.SessionID = &sess.ID
			}
		}
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

// startLoginAuditSQL is the CTE that inserts audit event i of a login, only
// when its session was inserted.
const startLoginAuditSQL = `, a%[1]d AS (
	INSERT INTO audit_events (id, at, type, user_id, actor_id, session_id, ip, user_agent, details)
	SELECT @a%[1]d_id, @a%[1]d_at, @a%[1]d_type, @a%[1]d_user, @a%[1]d_actor, @a%[1]d_session, @a%[1]d_ip, @a%[1]d_agent, CAST(@a%[1]d_details AS jsonb)
	FROM t RETURNING id
)`

func (s *Store) startLoginSessionPostgres(ctx context.Context, sess *models.Session, tok *models.RefreshToken, at time.Time, newHash string) error {
	c := Change{UserID: sess.UserID, StartedSession: sess.ID}
	args := map[string]any{
		"at": utc(at), "updated": utc(time.Now()), "hash": newHash, "user": sess.UserID,
		"session": sess.ID, "s_created": sess.CreatedAt, "s_used": sess.LastUsedAt, "s_expires": sess.ExpiresAt,
		"agent": sess.UserAgent, "ip": sess.IP,
		"token": tok.ID, "token_hash": tok.TokenHash, "t_created": tok.CreatedAt, "t_expires": tok.ExpiresAt,
		"channel": notifyChannel, "change": c.encode(),
	}
	query := startLoginSessionSQL
	if p := pendingFrom(ctx); p != nil && !p.skip {
		// The audit rows join the statement as more CTEs before its final
		// SELECT: still one round trip, all or nothing.
		head, tail, _ := strings.Cut(query, "\nSELECT pg_notify")
		var ctes strings.Builder
		for i, e := range p.events {
			if err := normalizeAudit(e); err != nil {
				return err
			}
			fmt.Fprintf(&ctes, startLoginAuditSQL, i)
			k := fmt.Sprintf("a%d_", i)
			args[k+"id"], args[k+"at"], args[k+"type"] = e.ID, e.At, string(e.Type)
			args[k+"user"], args[k+"actor"], args[k+"session"] = e.UserID, e.ActorID, e.SessionID
			args[k+"ip"], args[k+"agent"], args[k+"details"] = e.IP, e.UserAgent, e.Details
		}
		query = head + ctes.String() + "\nSELECT pg_notify" + tail
	}
	res := s.db.WithContext(ctx).Exec(query, args)
	if err := res.Error; err != nil {
		if errors.Is(err, gorm.ErrForeignKeyViolated) {
			return ErrNotFound
		}
		return wrap("start login session", err)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound // no such user: nothing was written
	}
	auditCommitted(ctx)
	s.applyLocal([]Change{c})
	if s.notify != nil {
		s.notify.publish(ctx, []Change{c})
	}
	return nil
}
