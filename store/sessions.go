package store

import (
	"context"
	"errors"
	"fmt"
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

// userColumns selects every users column, in models.User order, with a
// prefix: explicit lists keep prepared statements valid when a later
// migration adds a column.
func userColumns(prefix string) string {
	return "users.id AS " + prefix + "id, users.username AS " + prefix + "username, " +
		"users.username_key AS " + prefix + "username_key, users.email AS " + prefix + "email, " +
		"users.display_name AS " + prefix + "display_name, " +
		"users.password_hash AS " + prefix + "password_hash, users.role AS " + prefix + "role, " +
		"users.active AS " + prefix + "active, users.created_at AS " + prefix + "created_at, " +
		"users.updated_at AS " + prefix + "updated_at, users.last_login_at AS " + prefix + "last_login_at"
}

// identitySQL loads a user and the liveness fields of one of its sessions by
// two primary keys: one indexed statement per authenticated request.
var identitySQL = "SELECT " + userColumns("") + ", sessions.expires_at AS session_expires_at, " +
	"sessions.revoked_at AS session_revoked_at " +
	"FROM users JOIN sessions ON sessions.user_id = users.id " +
	"WHERE users.id = ? AND sessions.id = ? LIMIT 1"

// identityRow is one row of identitySQL.
type identityRow struct {
	models.User      `gorm:"embedded"`
	SessionExpiresAt time.Time
	SessionRevokedAt *time.Time
}

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

// Identity loads user userID and its session sessionID and reports whether
// the session is live at now (not revoked, not expired). It returns
// ErrNotFound when the user, or a session with that id belonging to that
// user, does not exist. Whether the user is active is left to the caller
// (user.Active). The returned user is the caller's to keep.
//
// It answers from the identity cache when it can (see changes.go for what
// keeps the cache right); otherwise it runs one indexed statement and caches
// the result for at most the TTL, measured on now.
func (s *Store) Identity(ctx context.Context, userID, sessionID string, now time.Time) (*models.User, bool, error) {
	if s.cache == nil {
		row, err := s.identity(ctx, userID, sessionID)
		if err != nil {
			return nil, false, err
		}
		return &row.User, row.live(now), nil
	}
	if u, live, ok := s.cache.get(userID, sessionID, now); ok {
		return u, live, nil
	}
	gen := s.cache.generation()
	row, err := s.identity(ctx, userID, sessionID)
	if err != nil {
		return nil, false, err
	}
	s.cache.put(gen, &row.User, sessionID, row.SessionExpiresAt, row.SessionRevokedAt != nil, now)
	return &row.User, row.live(now), nil
}

// identity runs identitySQL.
func (s *Store) identity(ctx context.Context, userID, sessionID string) (*identityRow, error) {
	var row identityRow
	res := s.db.WithContext(ctx).Raw(identitySQL, userID, sessionID).Scan(&row)
	if res.Error != nil {
		return nil, wrap("identity", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	normalizeUser(&row.User)
	row.SessionExpiresAt = utc(row.SessionExpiresAt)
	return &row, nil
}

// live reports whether the session of r is live at now.
func (r *identityRow) live(now time.Time) bool {
	return r.SessionRevokedAt == nil && r.SessionExpiresAt.After(now)
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

// Rotate atomically replaces refresh token oldID by next, in one transaction:
// the session (next.SessionID) must be live at now, and oldID must belong to
// it and to next.UserID and be unused, unrevoked and unexpired. Then oldID is
// marked used at now, next is inserted (its ID and CreatedAt set when empty),
// and the session records now, userAgent and ip as its last use. Every check
// is a conditional UPDATE, not a read then a write, so of many concurrent
// rotations of one token — on one replica or several — exactly one succeeds;
// the others, and any rotation of a token or session no longer valid, get
// ErrConflict and write nothing.
func (s *Store) Rotate(ctx context.Context, oldID string, next *models.RefreshToken, now time.Time, userAgent, ip string) error {
	return s.rotate(ctx, oldID, next, now, userAgent, ip, nil)
}

// rotate is Rotate, also keeping keep (when not nil) in the old token's row.
func (s *Store) rotate(ctx context.Context, oldID string, next *models.RefreshToken, now time.Time, userAgent, ip string, keep *Successor) error {
	if next.SessionID == "" || next.UserID == "" || next.TokenHash == "" || next.ExpiresAt.IsZero() {
		return errors.New("store: rotate: next token needs session id, user id, hash and expiry")
	}
	now = utc(now)
	if next.ID == "" {
		next.ID = uuid.NewString()
	}
	if next.CreatedAt.IsZero() {
		next.CreatedAt = now
	}
	normalizeToken(next)

	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The session row is updated first: it is the lock every write to
		// the family takes first (RevokeSession too), so a rotation and a
		// revocation of one session serialize instead of deadlocking.
		res := tx.Model(&models.Session{}).
			Where("id = ? AND revoked_at IS NULL AND expires_at > ?", next.SessionID, now).
			UpdateColumns(map[string]any{
				"last_used_at": now,
				"user_agent":   clip(userAgent, maxUserAgent),
				"ip":           clip(ip, maxIP),
			})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict // session revoked, expired or gone
		}

		used := map[string]any{"used_at": now}
		if keep != nil {
			used["successor_sealed"] = keep.Sealed
			used["successor_until"] = utc(keep.Until)
		}
		res = tx.Model(&models.RefreshToken{}).
			Where("id = ? AND session_id = ? AND user_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
				oldID, next.SessionID, next.UserID, now).
			UpdateColumns(used)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict // rotated by someone else first, or no longer valid
		}
		if keep != nil {
			// Only the immediately previous token may be answered with its
			// successor: forget the successors kept by older tokens.
			if err := tx.Model(&models.RefreshToken{}).
				Where("session_id = ? AND id <> ? AND successor_until IS NOT NULL", next.SessionID, oldID).
				UpdateColumns(forgetSuccessor).Error; err != nil {
				return err
			}
		}
		return tx.Create(next).Error
	})
	return wrap("rotate", err)
}

// RevokeSession ends a session at now: it sets the session's revoked_at and
// that of all its refresh tokens not yet revoked. It reports whether the
// session was live (unrevoked and unexpired) before; an unknown or already
// ended session is not an error.
func (s *Store) RevokeSession(ctx context.Context, sessionID string, now time.Time) (bool, error) {
	now = utc(now)
	var wasLive bool
	err := s.write(ctx, "revoke session", func(tx *gorm.DB) error {
		res := tx.Model(&models.Session{}).
			Where("id = ? AND revoked_at IS NULL AND expires_at > ?", sessionID, now).
			UpdateColumn("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		wasLive = res.RowsAffected > 0
		if err := revokeTokens(tx, now, "session_id = ?", sessionID); err != nil {
			return err
		}
		if !wasLive {
			return nil // nothing a cache could hold changed
		}
		return s.changed(tx, Change{SessionID: sessionID})
	})
	if err != nil {
		return false, err
	}
	return wasLive, nil
}

// purgeBatch bounds each DELETE so a large backlog never holds locks long.
const purgeBatch = 1000

// Purge deletes what can no longer be used, as of now: refresh tokens that
// expired, were used or were revoked more than keep ago, and sessions that
// expired or were revoked more than keep ago, with their tokens. Keeping
// used tokens for keep lets a replayed token be recognised as reuse; keep at
// least the refresh-token lifetime to detect reuse for as long as a token
// could otherwise have been valid. Successors kept by RotateKeeping whose
// window closed are cleared first. It returns the number of rows deleted.
//
// It runs plain conditional DELETEs of at most purgeBatch rows each, so it is
// idempotent and safe to run concurrently from several replicas (one run
// may stop early when another deleted part of its batch; the next sweep
// finishes the work).
func (s *Store) Purge(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	cutoff := utc(now.Add(-keep))
	// Each statement deletes by primary key from a bounded subquery: both
	// databases support this form (SQLite lacks DELETE ... LIMIT by default).
	steps := []struct {
		op, sql string
		args    []any
	}{
		{
			"purge refresh tokens",
			"DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens " +
				"WHERE expires_at < ? OR used_at < ? OR revoked_at < ? LIMIT ?)",
			[]any{cutoff, cutoff, cutoff, purgeBatch},
		},
		{
			"purge tokens of ended sessions",
			"DELETE FROM refresh_tokens WHERE id IN (SELECT refresh_tokens.id FROM refresh_tokens " +
				"JOIN sessions ON sessions.id = refresh_tokens.session_id " +
				"WHERE sessions.expires_at < ? OR sessions.revoked_at < ? LIMIT ?)",
			[]any{cutoff, cutoff, purgeBatch},
		},
		{
			"purge sessions",
			"DELETE FROM sessions WHERE id IN (SELECT id FROM sessions " +
				"WHERE expires_at < ? OR revoked_at < ? LIMIT ?)",
			[]any{cutoff, cutoff, purgeBatch},
		},
	}

	// Successors kept for the reuse grace window go first: they must not
	// outlive the window (not counted: nothing is deleted).
	if _, err := s.forgetExpiredSuccessors(ctx, now); err != nil {
		return 0, err
	}
	var total int64
	for _, st := range steps {
		for {
			// Each batch is its own statement and transaction.
			res := s.db.WithContext(ctx).Exec(st.sql, st.args...)
			if res.Error != nil {
				return total, wrap(st.op, res.Error)
			}
			total += res.RowsAffected
			if res.RowsAffected < purgeBatch {
				break
			}
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("store: %s: %w", st.op, err)
			}
		}
	}
	return total, nil
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
