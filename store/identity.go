package store

import (
	"context"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

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
		s.cache.hits.Add(1)
		return u, live, nil
	}
	s.cache.misses.Add(1)
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
