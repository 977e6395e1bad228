package store

import (
	"context"
	"errors"
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

// countedCap is how many matches SearchUsersCounted collects at most in
// its one statement; past it, the page and the count are two statements.
var countedCap int = 10000

// SearchUsersCounted is the first page of ListUsers(ctx, search, nil,
// first) and CountUsers(ctx, search) at once, for a non-empty search: one
// statement collects the matches (at most countedCap of them), counts
// them and returns the page. On Postgres each of the two statements it
// replaces was one scan of the trigram indexes, and for a term made of
// trigrams most usernames share, that scan is most of the answer's time
// (BENCHMARKS.md, "users(search:)"). With more than countedCap matches it
// runs the two statements instead.
func (s *Store) SearchUsersCounted(ctx context.Context, search string, first int) ([]*models.User, bool, int64, error) {
	if strings.TrimSpace(search) == "" {
		return nil, false, 0, errors.New("store: search users counted: empty search")
	}
	matches := matching(s.db.WithContext(ctx).Model(&models.User{}), search).Select("id, created_at").Limit(countedCap + 1)
	var rows []struct {
		models.User `gorm:"embedded"`
		Matches     int64
	}
	err := s.db.WithContext(ctx).
		Raw("WITH m AS (?) SELECT users.*, (SELECT count(*) FROM m) AS matches FROM m JOIN users ON users.id = m.id "+
			"ORDER BY m.created_at, m.id LIMIT ?", matches, first+1).
		Scan(&rows).Error
	if err != nil {
		return nil, false, 0, wrap("search users", err)
	}
	if len(rows) > 0 && rows[0].Matches > int64(countedCap) {
		users, more, err := s.ListUsers(ctx, search, nil, first)
		if err != nil {
			return nil, false, 0, err
		}
		n, err := s.CountUsers(ctx, search)
		return users, more, n, err
	}
	var total int64
	users := make([]*models.User, 0, min(len(rows), first))
	for i := range rows {
		total = rows[i].Matches
		if i < first {
			u := rows[i].User
			normalizeUser(&u)
			users = append(users, &u)
		}
	}
	return users, len(rows) > first, total, nil
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
