package store

import (
	"context"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// LiveSession is a session that can still be refreshed, with the expiry of
// its current refresh token.
type LiveSession struct {
	models.Session
	// RefreshExpiresAt is when the session's current refresh token expires
	// (never after Session.ExpiresAt): unused until then, the session ends.
	RefreshExpiresAt time.Time
}

// liveSessionsSQL lists a user's sessions that are unrevoked and unexpired at
// now, joined to their unused, unexpired refresh token (a session holds at
// most one: rotation uses the old one up as it inserts the new one).
const liveSessionsSQL = "SELECT sessions.id, sessions.user_id, sessions.created_at, sessions.last_used_at, " +
	"sessions.expires_at, sessions.revoked_at, sessions.user_agent, sessions.ip, " +
	"refresh_tokens.expires_at AS refresh_expires_at " +
	"FROM sessions JOIN refresh_tokens ON refresh_tokens.session_id = sessions.id " +
	"AND refresh_tokens.used_at IS NULL AND refresh_tokens.revoked_at IS NULL AND refresh_tokens.expires_at > ? " +
	"WHERE sessions.user_id = ? AND sessions.revoked_at IS NULL AND sessions.expires_at > ? " +
	"ORDER BY sessions.last_used_at DESC, sessions.id LIMIT ?"

// MaxListedSessions bounds UserSessions: a script that logs in on every run
// must not make one query return thousands of rows.
const MaxListedSessions = 100

// UserSessions returns the sessions of userID that are live at now (not
// revoked, not expired, holding an unused unexpired refresh token), most
// recently used first, at most MaxListedSessions of them.
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]LiveSession, error) {
	now = utc(now)
	var rows []struct {
		models.Session   `gorm:"embedded"`
		RefreshExpiresAt time.Time
	}
	if err := s.db.WithContext(ctx).Raw(liveSessionsSQL, now, userID, now, MaxListedSessions+1).Scan(&rows).Error; err != nil {
		return nil, wrap("user sessions", err)
	}
	out := make([]LiveSession, 0, len(rows))
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].ID == r.ID {
			continue // defensive: one row per session even if two tokens were unused
		}
		normalizeSession(&r.Session)
		out = append(out, LiveSession{Session: r.Session, RefreshExpiresAt: utc(r.RefreshExpiresAt)})
	}
	if len(out) > MaxListedSessions {
		out = out[:MaxListedSessions]
	}
	return out, nil
}
