package store

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// Column limits of the sessions table; client-supplied values are clipped to
// fit rather than failing the login or refresh.
const (
	maxUserAgent = 512
	maxIP        = 64
)

// tokenSQL loads a refresh token with its session and user by the token's
// unique hash.
var tokenSQL = "SELECT " +
	"refresh_tokens.id AS t_id, refresh_tokens.token_hash AS t_token_hash, " +
	"refresh_tokens.user_id AS t_user_id, refresh_tokens.session_id AS t_session_id, " +
	"refresh_tokens.created_at AS t_created_at, refresh_tokens.expires_at AS t_expires_at, " +
	"refresh_tokens.used_at AS t_used_at, refresh_tokens.revoked_at AS t_revoked_at, " +
	"sessions.id AS s_id, sessions.user_id AS s_user_id, sessions.created_at AS s_created_at, " +
	"sessions.last_used_at AS s_last_used_at, sessions.expires_at AS s_expires_at, " +
	"sessions.revoked_at AS s_revoked_at, sessions.user_agent AS s_user_agent, sessions.ip AS s_ip, " +
	userColumns("u_") + " " +
	"FROM refresh_tokens " +
	"JOIN sessions ON sessions.id = refresh_tokens.session_id " +
	"JOIN users ON users.id = refresh_tokens.user_id " +
	"WHERE refresh_tokens.token_hash = ? LIMIT 1"

// tokenRow is one row of tokenSQL.
type tokenRow struct {
	Token   models.RefreshToken `gorm:"embedded;embeddedPrefix:t_"`
	Session models.Session      `gorm:"embedded;embeddedPrefix:s_"`
	User    models.User         `gorm:"embedded;embeddedPrefix:u_"`
}

// CreateSession inserts a session and its first refresh token in one
// transaction. It sets empty IDs (random UUIDs), a zero sess.CreatedAt (now),
// a zero sess.LastUsedAt (CreatedAt), tok.SessionID and tok.UserID from the
// session, and a zero tok.CreatedAt (sess.CreatedAt). Both expiries must be
// set. ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess *models.Session, tok *models.RefreshToken) error {
	if err := prepareSession(sess, tok); err != nil {
		return err
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(sess).Error; err != nil {
			return err
		}
		return tx.Create(tok).Error
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return ErrNotFound // the user was deleted meanwhile
	}
	return wrap("create session", err)
}

// SessionByID returns the session id, whatever its state. ErrNotFound if
// there is none.
func (s *Store) SessionByID(ctx context.Context, id string) (*models.Session, error) {
	var sess models.Session
	res := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&sess)
	if res.Error != nil {
		return nil, wrap("session by id", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	normalizeSession(&sess)
	return &sess, nil
}

// RefreshTokenByHash returns the refresh token whose SHA-256 hash is hash,
// with its session and user, in one statement. The caller judges validity
// (used, revoked, expired; session revoked or expired; user inactive).
// ErrNotFound if no token has this hash.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string) (*models.RefreshToken, *models.Session, *models.User, error) {
	var row tokenRow
	res := s.db.WithContext(ctx).Raw(tokenSQL, hash).Scan(&row)
	if res.Error != nil {
		return nil, nil, nil, wrap("refresh token by hash", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil, nil, ErrNotFound
	}
	normalizeToken(&row.Token)
	normalizeSession(&row.Session)
	normalizeUser(&row.User)
	return &row.Token, &row.Session, &row.User, nil
}

// normalizeSession puts a session's times in UTC at database precision.
func normalizeSession(s *models.Session) {
	s.CreatedAt = utc(s.CreatedAt)
	s.LastUsedAt = utc(s.LastUsedAt)
	s.ExpiresAt = utc(s.ExpiresAt)
	s.RevokedAt = utcPtr(s.RevokedAt)
}

// normalizeToken puts a token's times in UTC at database precision.
func normalizeToken(t *models.RefreshToken) {
	t.CreatedAt = utc(t.CreatedAt)
	t.ExpiresAt = utc(t.ExpiresAt)
	t.UsedAt = utcPtr(t.UsedAt)
	t.RevokedAt = utcPtr(t.RevokedAt)
}

// clip makes a client-supplied string storable: valid UTF-8 without NUL
// (Postgres refuses both) and at most n characters, cut between characters.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i]
}

// prepareSession validates and completes a new session and its first
// refresh token as CreateSession documents.
func prepareSession(sess *models.Session, tok *models.RefreshToken) error {
	if sess.UserID == "" || sess.ExpiresAt.IsZero() || tok.TokenHash == "" || tok.ExpiresAt.IsZero() {
		return errors.New("store: create session: user id, token hash and expiries are required")
	}
	if sess.ID == "" {
		sess.ID = uuid.NewString()
	}
	if tok.ID == "" {
		tok.ID = uuid.NewString()
	}
	if tok.SessionID == "" {
		tok.SessionID = sess.ID
	}
	if tok.UserID == "" {
		tok.UserID = sess.UserID
	}
	if tok.SessionID != sess.ID || tok.UserID != sess.UserID {
		return errors.New("store: create session: token belongs to another session or user")
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = time.Now()
	}
	if sess.LastUsedAt.IsZero() {
		sess.LastUsedAt = sess.CreatedAt
	}
	normalizeSession(sess)
	sess.UserAgent = clip(sess.UserAgent, maxUserAgent)
	sess.IP = clip(sess.IP, maxIP)
	if tok.CreatedAt.IsZero() {
		tok.CreatedAt = sess.CreatedAt
	}
	normalizeToken(tok)
	return nil
}
