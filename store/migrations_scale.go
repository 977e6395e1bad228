package store

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Migrations motivated by the scale run (issue 16, BENCHMARKS.md "Scale").
// They are listed in migrations() after the ones before them; each is plain
// DDL per dialect, never edited once applied.

// searchTrigramIndexes are the Postgres indexes serving users(search:): a
// substring LIKE on username_key and on lower(email), the expressions
// store.matching filters on. Without them every search reads the whole
// users table. %s is the quoted schema holding pg_trgm.
var searchTrigramIndexes = []string{
	`CREATE INDEX IF NOT EXISTS idx_users_username_key_trgm ON users USING gin (username_key %s.gin_trgm_ops)`,
	`CREATE INDEX IF NOT EXISTS idx_users_email_trgm ON users USING gin (lower(email) %s.gin_trgm_ops)`,
}

// dropSearchTrigram undoes the search migration (the extension stays: other
// objects may use it).
var dropSearchTrigram = []string{
	`DROP INDEX IF EXISTS idx_users_email_trgm`,
	`DROP INDEX IF EXISTS idx_users_username_key_trgm`,
}

// migrateSearchTrigram is the search migration. On Postgres it creates the
// pg_trgm extension in schema public if it is missing (a trusted extension since Postgres
// 13: the database owner or a superuser may create it) and the two GIN
// indexes, without the statement timeout (building them reads every
// user). If the extension cannot be created — not installed on the server,
// or the role may not create it — the migration still succeeds, without the
// indexes: search works, by reading the whole users table, and a warning
// says how to add them. On SQLite there is no such index: search reads the
// table (BENCHMARKS.md gives the cost).
func (s *Store) migrateSearchTrigram(tx *gorm.DB) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	if err := tx.Exec("SET LOCAL statement_timeout = 0").Error; err != nil {
		return err
	}
	if err := tx.SavePoint("pg_trgm").Error; err != nil {
		return err
	}
	// In public, not the first schema of the search path: an extension
	// lives once per database, and must not go with a schema dropped
	// later. One installed elsewhere already is used where it is.
	if err := tx.Exec("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").Error; err != nil {
		if rb := tx.RollbackTo("pg_trgm").Error; rb != nil {
			return rb
		}
		s.log.Warn("users(search:) is not indexed: the pg_trgm extension could not be created, so every search reads the whole users table; "+
			"as a superuser run CREATE EXTENSION pg_trgm in this database, then `ironclad migrate` creates the indexes",
			"event", "search_index_missing", "err", err)
		return nil
	}
	var schema string
	if err := tx.Raw(`SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`).Scan(&schema).Error; err != nil {
		return err
	}
	quoted := `"` + strings.ReplaceAll(schema, `"`, `""`) + `"`
	for _, q := range searchTrigramIndexes {
		if err := tx.Exec(fmt.Sprintf(q, quoted)).Error; err != nil {
			return err
		}
	}
	return nil
}

// ensureSearchIndexes creates the search indexes that the search migration
// had to leave out, once pg_trgm can be created: after a superuser ran
// CREATE EXTENSION pg_trgm, the next Migrate (`ironclad migrate`, or a
// replica starting) adds them. It is a no-op when they exist.
func (s *Store) ensureSearchIndexes(tx *gorm.DB) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	var missing int64
	if err := tx.Raw(`SELECT count(*) FROM (VALUES ('idx_users_username_key_trgm'), ('idx_users_email_trgm')) AS want(name)
		WHERE to_regclass(want.name) IS NULL`).Scan(&missing).Error; err != nil {
		return err
	}
	if missing == 0 {
		return nil
	}
	var table int64
	if err := tx.Raw(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?`, migrationsTable).Scan(&table).Error; err != nil || table == 0 {
		return err // a fresh database: the migrations will run
	}
	var applied int64
	if err := tx.Raw(`SELECT count(*) FROM `+migrationsTable+` WHERE id = ?`, searchTrigramID).Scan(&applied).Error; err != nil || applied == 0 {
		return err // the migration itself will run
	}
	return s.migrateSearchTrigram(tx)
}

// searchTrigramID is the search migration's ID.
const searchTrigramID = "202612020201_users_search_trigram"
