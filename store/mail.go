package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/models"
)

// Mail tokens (password reset, email verification) and the outbox that
// carries them. A token and the message carrying it are written in one
// transaction: a mail is never lost and never sent for a token that did
// not commit.

// UserByEmail returns the user whose address folds like email, or
// ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (*models.User, error) {
	var u models.User
	if err := s.db.WithContext(ctx).Where("email_key = ?", EmailKey(email)).Take(&u).Error; err != nil {
		return nil, wrap("user by email", err)
	}
	normalizeUser(&u)
	return &u, nil
}

// insertTokenSQL and insertOutboxSQL write a row only when the user exists
// and is active, in one statement: a request for an unknown address runs
// the very statements a known one runs, and writes nothing.
const (
	insertTokenSQL = "INSERT INTO mail_tokens (id, user_id, purpose, token_hash, code_hash, email, created_at, expires_at) " +
		"SELECT ?, id, ?, ?, ?, ?, ?, ? FROM users WHERE id = ? AND active"
	insertOutboxSQL = "INSERT INTO mail_outbox (id, user_id, kind, sealed, created_at, next_attempt_at, attempts, last_error, sent_at) " +
		"SELECT ?, id, ?, ?, ?, ?, 0, '', ? FROM users WHERE id = ?"
)

// QueueMail writes tok (when not nil) and mails in one transaction, for
// user userID: nothing is written unless that user exists and is active,
// and a userID naming nobody runs the same statements. It reports whether
// the rows were written. IDs and times left empty are filled in.
func (s *Store) QueueMail(ctx context.Context, userID string, tok *models.MailToken, mails []*models.OutboxMail, now time.Time) (bool, error) {
	now = utc(now)
	var wrote bool
	err := s.write(ctx, "queue mail", func(tx *gorm.DB) error {
		var err error
		wrote, err = queueMail(tx, userID, tok, mails, now)
		return err
	})
	return wrote, err
}

// queueMail writes tok (when not nil) and mails for userID in tx and
// reports whether the first of them was written: each statement writes
// only when the user exists (the token only when it is active too).
func queueMail(tx *gorm.DB, userID string, tok *models.MailToken, mails []*models.OutboxMail, now time.Time) (bool, error) {
	var wrote bool
	if tok != nil {
		if tok.ID == "" {
			tok.ID = uuid.NewString()
		}
		tok.UserID, tok.CreatedAt, tok.ExpiresAt = userID, now, utc(tok.ExpiresAt)
		res := tx.Exec(insertTokenSQL, tok.ID, tok.Purpose, tok.TokenHash, tok.CodeHash, tok.Email, tok.CreatedAt, tok.ExpiresAt, userID)
		if res.Error != nil {
			return false, res.Error
		}
		wrote = res.RowsAffected > 0
	}
	for i, m := range mails {
		n, err := insertOutbox(tx, userID, m, now)
		if err != nil {
			return false, err
		}
		if tok == nil && i == 0 {
			wrote = n > 0
		}
	}
	return wrote, nil
}

// insertOutbox writes one message for userID (who must exist).
func insertOutbox(tx *gorm.DB, userID string, m *models.OutboxMail, now time.Time) (int64, error) {
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	m.CreatedAt, m.NextAttemptAt = now, now
	m.SentAt = utcPtr(m.SentAt)
	res := tx.Exec(insertOutboxSQL, m.ID, m.Kind, m.Sealed, m.CreatedAt, m.NextAttemptAt, m.SentAt, userID)
	return res.RowsAffected, res.Error
}

// MailTokenByHash returns the unused token of purpose whose token hash is
// tokenHash, or, when codeHash is given instead, the one unused token whose
// code hash it is (several would be a code collision: refused, as
// ErrNotFound). Expired tokens are returned: the caller tells expired from
// unknown.
func (s *Store) MailTokenByHash(ctx context.Context, purpose, tokenHash, codeHash string) (*models.MailToken, error) {
	q := s.db.WithContext(ctx).Where("purpose = ? AND used_at IS NULL", purpose)
	if tokenHash != "" {
		q = q.Where("token_hash = ?", tokenHash)
	} else {
		q = q.Where("code_hash = ?", codeHash)
	}
	var toks []models.MailToken
	if err := q.Limit(2).Find(&toks).Error; err != nil {
		return nil, wrap("mail token", err)
	}
	if len(toks) != 1 {
		return nil, ErrNotFound
	}
	t := toks[0]
	t.CreatedAt, t.ExpiresAt, t.UsedAt = utc(t.CreatedAt), utc(t.ExpiresAt), utcPtr(t.UsedAt)
	return &t, nil
}

// useToken marks token id used at now, if it still is usable: ErrConflict
// when another request used it first or it expired meanwhile.
func useToken(tx *gorm.DB, id string, now time.Time) error {
	res := tx.Model(&models.MailToken{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).UpdateColumn("used_at", now)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrConflict
	}
	return nil
}

// PasswordReset is what ResetPassword writes.
type PasswordReset struct {
	TokenID, UserID string
	NewHash         string
	// EmailKey is the folded address the token was sent to: the reset
	// proves it, so a still-current address becomes verified.
	EmailKey string
	// RevokePersonalTokens also revokes every personal access token.
	RevokePersonalTokens bool
	Notice               *models.OutboxMail // "your password was changed", or nil
}

// ResetPassword uses a reset token and, in the same transaction, sets the
// password hash, ends every session and refresh token of the user (the
// change reaches every replica as a logout does), uses up the user's other
// reset tokens, optionally revokes the personal access tokens, and queues
// the notice. ErrConflict when the token was used meanwhile or expired.
func (s *Store) ResetPassword(ctx context.Context, r PasswordReset, now time.Time) error {
	now = utc(now)
	return s.write(ctx, "reset password", func(tx *gorm.DB) error {
		if err := lockUser(tx, r.UserID); err != nil {
			return err
		}
		if err := useToken(tx, r.TokenID, now); err != nil {
			return err
		}
		res := tx.Exec("UPDATE users SET password_hash = ?, updated_at = ?, "+
			"email_verified = CASE WHEN email_key = ? THEN ? ELSE email_verified END WHERE id = ?",
			r.NewHash, now, r.EmailKey, true, r.UserID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := revokeUserSessions(tx, r.UserID, now); err != nil {
			return err
		}
		err := tx.Model(&models.MailToken{}).Where("user_id = ? AND purpose = ? AND used_at IS NULL", r.UserID, models.PurposeReset).
			UpdateColumn("used_at", now).Error
		if err != nil {
			return err
		}
		if r.RevokePersonalTokens {
			err := tx.Model(&models.PersonalToken{}).Where("user_id = ? AND revoked_at IS NULL", r.UserID).
				UpdateColumn("revoked_at", now).Error
			if err != nil {
				return err
			}
		}
		if r.Notice != nil {
			if _, err := insertOutbox(tx, r.UserID, r.Notice, now); err != nil {
				return err
			}
		}
		return s.changed(tx, Change{UserID: r.UserID})
	})
}

// VerifyEmail uses verification token tokenID and marks the user's address
// verified, if it still is the one the token was sent to (folded: emailKey).
// ErrConflict when the token was used meanwhile or expired, or the address
// changed since.
func (s *Store) VerifyEmail(ctx context.Context, tokenID, userID, emailKey string, now time.Time) error {
	now = utc(now)
	return s.write(ctx, "verify email", func(tx *gorm.DB) error {
		if err := useToken(tx, tokenID, now); err != nil {
			return err
		}
		res := tx.Model(&models.User{}).Where("id = ? AND email_key = ?", userID, emailKey).
			UpdateColumns(map[string]any{"email_verified": true, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict
		}
		return s.changed(tx, Change{UserID: userID})
	})
}

// claimSQL claims up to n due messages for lease: rows neither sent nor
// given up whose next attempt is due and whose last claim (by a worker that
// may have died) has lapsed. On Postgres, FOR UPDATE SKIP LOCKED lets two
// replicas claim at once without ever taking the same row; SQLite has one
// writer at a time, so its plain UPDATE is already exclusive.
func (s *Store) claimSQL() string {
	lock := ""
	if s.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	return "UPDATE mail_outbox SET claimed_until = ?, attempts = attempts + 1 WHERE id IN (" +
		"SELECT id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? " +
		"AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY next_attempt_at, id LIMIT ?" + lock + ") " +
		"RETURNING id, user_id, kind, sealed, created_at, next_attempt_at, claimed_until, attempts, last_error, sent_at, failed_at"
}

// ClaimOutbox claims up to n messages due at now for lease and returns
// them. A claimed message is not claimed again until the lease ends, so
// it is sent once unless its worker dies mid-send.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, n int) ([]models.OutboxMail, error) {
	now = utc(now)
	var rows []models.OutboxMail
	if err := s.db.WithContext(ctx).Raw(s.claimSQL(), now.Add(lease), now, now, n).Scan(&rows).Error; err != nil {
		return nil, wrap("claim outbox", err)
	}
	for i := range rows {
		normalizeOutbox(&rows[i])
	}
	return rows, nil
}

// MarkOutboxSent records that message id was sent at now.
func (s *Store) MarkOutboxSent(ctx context.Context, id string, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&models.OutboxMail{}).Where("id = ?", id).
		UpdateColumns(map[string]any{"sent_at": utc(now), "claimed_until": nil, "last_error": ""}).Error
	return wrap("mark mail sent", err)
}

// RetryOutbox releases message id for another attempt at next, recording
// why the last one failed (a short description, never a secret).
func (s *Store) RetryOutbox(ctx context.Context, id string, next time.Time, why string) error {
	if len(why) > 255 {
		why = why[:255]
	}
	err := s.db.WithContext(ctx).Model(&models.OutboxMail{}).Where("id = ?", id).
		UpdateColumns(map[string]any{"next_attempt_at": utc(next), "claimed_until": nil, "last_error": why}).Error
	return wrap("retry mail", err)
}

// GiveUpOutbox marks failed at now every unsent message created before
// cutoff that no live claim holds, and returns them.
func (s *Store) GiveUpOutbox(ctx context.Context, cutoff, now time.Time) ([]models.OutboxMail, error) {
	now = utc(now)
	var rows []models.OutboxMail
	err := s.db.WithContext(ctx).Raw("UPDATE mail_outbox SET failed_at = ?, claimed_until = NULL WHERE id IN ("+
		"SELECT id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND created_at < ? "+
		"AND (claimed_until IS NULL OR claimed_until <= ?) LIMIT 100) "+
		"RETURNING id, user_id, kind, created_at, attempts, last_error", now, utc(cutoff), now).Scan(&rows).Error
	if err != nil {
		return nil, wrap("give up mail", err)
	}
	for i := range rows {
		normalizeOutbox(&rows[i])
	}
	return rows, nil
}

// OutboxDepth counts the messages neither sent nor given up: one indexed
// count, cheap enough for a metrics scrape.
func (s *Store) OutboxDepth(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&models.OutboxMail{}).Where("sent_at IS NULL AND failed_at IS NULL").Count(&n).Error
	return n, wrap("outbox depth", err)
}

// RecentOutbox returns the n newest messages, newest first (the
// development mailbox).
func (s *Store) RecentOutbox(ctx context.Context, n int) ([]models.OutboxMail, error) {
	var rows []models.OutboxMail
	if err := s.db.WithContext(ctx).Order("created_at DESC, id DESC").Limit(n).Find(&rows).Error; err != nil {
		return nil, wrap("recent outbox", err)
	}
	for i := range rows {
		normalizeOutbox(&rows[i])
	}
	return rows, nil
}

// PurgeMail deletes, as of now, messages sent or given up more than keep
// ago and tokens used or expired more than keep ago. Like Purge it runs
// bounded, idempotent DELETEs, safe from several replicas at once.
func (s *Store) PurgeMail(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := utc(now.Add(-keep))
	steps := []struct{ op, sql string }{
		{"purge outbox", "DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at < ? OR failed_at < ? LIMIT ?)"},
		{"purge mail tokens", "DELETE FROM mail_tokens WHERE id IN (SELECT id FROM mail_tokens WHERE expires_at < ? OR used_at < ? LIMIT ?)"},
	}
	var total int64
	for _, st := range steps {
		n, err := s.deleteInBatches(ctx, st.op, st.sql, cutoff, cutoff, purgeBatch)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// CountPurgeableMail counts what PurgeMail would delete.
func (s *Store) CountPurgeableMail(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := utc(now.Add(-keep))
	var a, b int64
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM mail_outbox WHERE sent_at < ? OR failed_at < ?", cutoff, cutoff).Scan(&a).Error; err != nil {
		return 0, wrap("count purgeable outbox", err)
	}
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM mail_tokens WHERE expires_at < ? OR used_at < ?", cutoff, cutoff).Scan(&b).Error; err != nil {
		return 0, wrap("count purgeable mail tokens", err)
	}
	return a + b, nil
}

func normalizeOutbox(m *models.OutboxMail) {
	m.CreatedAt, m.NextAttemptAt = utc(m.CreatedAt), utc(m.NextAttemptAt)
	m.ClaimedUntil, m.SentAt, m.FailedAt = utcPtr(m.ClaimedUntil), utcPtr(m.SentAt), utcPtr(m.FailedAt)
}

// emailTaken tells whether a duplicate-key error on users came from the
// email index (the username is free): the message to give.
func emailTaken(tx *gorm.DB, username string) bool {
	var n int64
	if err := tx.Model(&models.User{}).Where("username_key = ?", usernameKey(username)).Count(&n).Error; err != nil {
		return false
	}
	return n == 0
}

// ErrEmailTaken is the answer for an address another account has.
var ErrEmailTaken = models.BadField("email", "email is already in use by another account")
