package store

import (
	"context"
	"strings"

	"github.com/ironclad-auth/ironclad/models"
	"gorm.io/gorm"
)

// ExplainSearch returns Postgres's plan of the filter ListUsers and
// CountUsers apply for search (as a count: no ordering index competes),
// with sequential scans priced out, so a test can see whether an index
// serves it.
func (s *Store) ExplainSearch(ctx context.Context, search string) (string, error) {
	stmt := matching(s.db.Session(&gorm.Session{DryRun: true}).Model(&models.User{}), search).
		Select("count(*)").Find(&[]map[string]any{}).Statement
	var plan []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
			return err
		}
		rows, err := tx.Raw("EXPLAIN "+stmt.SQL.String(), stmt.Vars...).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			plan = append(plan, line)
		}
		return rows.Err()
	})
	return strings.Join(plan, "\n"), err
}

// SetVacuumAfter sets how many tokens deleted with their sessions make
// Purge vacuum refresh_tokens, for the life of the test binary's test.
func SetVacuumAfter(n int64) (restore func()) {
	old := vacuumAfter
	vacuumAfter = n
	return func() { vacuumAfter = old }
}

// SetCountedCap sets how many matches SearchUsersCounted collects in one
// statement, for the life of the test.
func SetCountedCap(n int) (restore func()) {
	old := countedCap
	countedCap = n
	return func() { countedCap = old }
}
