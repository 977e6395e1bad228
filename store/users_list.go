package store

import (
	"context"
	"strings"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// UserCursor is a position in the users list, whose order is (created_at,
// id): stable, and new users go to the end.
type UserCursor struct {
	CreatedAt time.Time
	ID        string
}

// ListUsers returns up to first users after the cursor (from the start when
// after is nil) in (created_at, id) order, whose username or email contains
// search (case-insensitively; empty matches everyone), and whether more
// follow. It is one statement: keyset pagination, so a page never skips or
// repeats a user because others were inserted meanwhile.
func (s *Store) ListUsers(ctx context.Context, search string, after *UserCursor, first int) ([]*models.User, bool, error) {
	q := matching(s.db.WithContext(ctx).Model(&models.User{}), search)
	if after != nil {
		at := utc(after.CreatedAt)
		q = q.Where("(created_at > ? OR (created_at = ? AND id > ?))", at, at, after.ID)
	}
	var users []*models.User
	if err := q.Order("created_at, id").Limit(first + 1).Find(&users).Error; err != nil {
		return nil, false, wrap("list users", err)
	}
	more := len(users) > first
	if more {
		users = users[:first]
	}
	for _, u := range users {
		normalizeUser(u)
	}
	return users, more, nil
}

// CountUsers returns how many users match search (see ListUsers).
func (s *Store) CountUsers(ctx context.Context, search string) (int64, error) {
	var n int64
	if err := matching(s.db.WithContext(ctx).Model(&models.User{}), search).Count(&n).Error; err != nil {
		return 0, wrap("count users", err)
	}
	return n, nil
}

// UsersByIDs returns the users with these ids, in no particular order, in
// one statement; unknown ids are left out.
func (s *Store) UsersByIDs(ctx context.Context, ids []string) ([]*models.User, error) {
	var users []*models.User
	if len(ids) == 0 {
		return users, nil
	}
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, wrap("users by ids", err)
	}
	for _, u := range users {
		normalizeUser(u)
	}
	return users, nil
}

// matching filters q to users whose username or email contains search. The
// username is matched on its case-folded key (Unicode-aware on both
// databases); the email in lower case. LIKE wildcards in search match
// themselves.
func matching(q *gorm.DB, search string) *gorm.DB {
	search = strings.TrimSpace(search)
	if search == "" {
		return q
	}
	return q.Where(`(username_key LIKE ? ESCAPE '\' OR lower(email) LIKE ? ESCAPE '\')`,
		contains(usernameKey(search)), contains(strings.ToLower(search)))
}

// likeEscaper escapes LIKE's wildcards and its escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// contains returns a LIKE pattern matching strings that contain s.
func contains(s string) string { return "%" + likeEscaper.Replace(s) + "%" }
