package store

import (
	"context"
	"fmt"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migrateLockKey is the Postgres advisory lock held while migrating, so that
// replicas starting together apply each migration exactly once. Any constant
// unique to Ironclad will do.
const migrateLockKey int64 = 0x69726f6e636c6164 // "ironclad"

// migrationsTable records the IDs of the applied migrations.
const migrationsTable = "schema_migrations"

// Migrate applies every migration not yet recorded in the database. It is
// idempotent, and on Postgres it holds an advisory lock for the duration, so
// several replicas may call it at once. Each run is one transaction: a
// failing migration leaves the schema as it was.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			// Released at commit or rollback, even if this process dies.
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrateLockKey).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		// On SQLite the immediate transaction already holds the write lock.
		m := gormigrate.New(tx, &gormigrate.Options{
			TableName:      migrationsTable,
			IDColumnName:   "id",
			IDColumnSize:   255,
			UseTransaction: false, // we are inside our own transaction
		}, s.migrations())
		// Indexes a migration had to leave out (migrations_scale.go).
		if err := s.ensureSearchIndexes(tx); err != nil {
			return err
		}
		return m.Migrate()
	})
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// migrations lists the schema changes in order. Never edit or reorder an
// applied migration: append a new one. Each is plain DDL per dialect so that
// what a migration does never changes when the Go models do.
func (s *Store) migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{
			ID:       "202611280001_initial",
			Migrate:  gormigrate.MigrateFunc(s.execDDL(initialPostgres, initialSQLite)),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropInitial, dropInitial)),
		},
		{
			ID:       "202612010001_profiles_access_tokens",
			Migrate:  gormigrate.MigrateFunc(s.execDDL(profilesPostgres, profilesSQLite)),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropProfiles, dropProfiles)),
		},
		{
			ID:       "202612010002_refresh_successor",
			Migrate:  gormigrate.MigrateFunc(s.execDDL(successorPostgres, successorSQLite)),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropSuccessor, dropSuccessor)),
		},
		{
			ID:       "202612020001_signing_keys",
			Migrate:  gormigrate.MigrateFunc(s.execDDL(signingKeysPostgres, signingKeysSQLite)),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropSigningKeys, dropSigningKeys)),
		},
		{
			ID:       "202612020002_mail",
			Migrate:  gormigrate.MigrateFunc(s.migrateMail),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropMail, dropMail)),
		},
		{
			ID:       "202612020101_email_verified",
			Migrate:  gormigrate.MigrateFunc(s.execDDL(emailVerifiedPostgres, emailVerifiedSQLite)),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropEmailVerified, dropEmailVerified)),
		},
		{
			ID:       "202612020201_audit_events",
			Migrate:  gormigrate.MigrateFunc(s.execDDL(auditMigrationPostgres, auditMigrationSQLite)),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropAuditMigration, dropAuditMigration)),
		},
		// Scale (issue 16): migrations_scale.go.
		{
			ID:       searchTrigramID,
			Migrate:  gormigrate.MigrateFunc(s.migrateSearchTrigram),
			Rollback: gormigrate.RollbackFunc(s.execDDL(dropSearchTrigram, nil)),
		},
	}
}

// execDDL returns a migration step running the statements for this dialect.
func (s *Store) execDDL(postgres, sqlite []string) func(*gorm.DB) error {
	stmts := sqlite
	if s.dialect == DialectPostgres {
		stmts = postgres
	}
	return func(tx *gorm.DB) error {
		for _, q := range stmts {
			if err := tx.Exec(q).Error; err != nil {
				return err
			}
		}
		return nil
	}
}

// The initial schema. username_key holds the case-folded username (see
// usernameKey); it is text because folding may lengthen a name. Deleting a
// user deletes its sessions and tokens; deleting a session deletes its tokens.
var initialPostgres = []string{
	`CREATE TABLE users (
		id            varchar(36)  PRIMARY KEY,
		username      varchar(150) NOT NULL,
		username_key  text         NOT NULL,
		email         varchar(320),
		password_hash varchar(255) NOT NULL,
		role          varchar(16)  NOT NULL DEFAULT 'USER' CONSTRAINT chk_users_role CHECK (role IN ('USER', 'ADMIN')),
		active        boolean      NOT NULL DEFAULT true,
		created_at    timestamptz  NOT NULL,
		updated_at    timestamptz  NOT NULL,
		last_login_at timestamptz
	)`,
	`CREATE UNIQUE INDEX idx_users_username_key ON users (username_key)`,
	`CREATE TABLE sessions (
		id           varchar(36)  PRIMARY KEY,
		user_id      varchar(36)  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		created_at   timestamptz  NOT NULL,
		last_used_at timestamptz  NOT NULL,
		expires_at   timestamptz  NOT NULL,
		revoked_at   timestamptz,
		user_agent   varchar(512) NOT NULL DEFAULT '',
		ip           varchar(64)  NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX idx_sessions_user_id ON sessions (user_id)`,
	`CREATE INDEX idx_sessions_expires_at ON sessions (expires_at)`,
	`CREATE INDEX idx_sessions_revoked_at ON sessions (revoked_at)`,
	`CREATE TABLE refresh_tokens (
		id         varchar(36) PRIMARY KEY,
		token_hash varchar(64) NOT NULL,
		user_id    varchar(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		session_id varchar(36) NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
		created_at timestamptz NOT NULL,
		expires_at timestamptz NOT NULL,
		used_at    timestamptz,
		revoked_at timestamptz
	)`,
	`CREATE UNIQUE INDEX idx_refresh_tokens_token_hash ON refresh_tokens (token_hash)`,
	`CREATE INDEX idx_refresh_tokens_session_id ON refresh_tokens (session_id)`,
	`CREATE INDEX idx_refresh_tokens_user_id ON refresh_tokens (user_id)`,
	`CREATE INDEX idx_refresh_tokens_expires_at ON refresh_tokens (expires_at)`,
	`CREATE INDEX idx_refresh_tokens_used_at ON refresh_tokens (used_at)`,
	`CREATE INDEX idx_refresh_tokens_revoked_at ON refresh_tokens (revoked_at)`,
}

// initialSQLite is initialPostgres in SQLite's types. Timestamps are declared
// datetime so the driver parses them back into time.Time; they are stored as
// UTC text, which compares correctly as strings.
var initialSQLite = []string{
	`CREATE TABLE users (
		id            varchar(36)  PRIMARY KEY NOT NULL,
		username      varchar(150) NOT NULL,
		username_key  text         NOT NULL,
		email         varchar(320),
		password_hash varchar(255) NOT NULL,
		role          varchar(16)  NOT NULL DEFAULT 'USER' CONSTRAINT chk_users_role CHECK (role IN ('USER', 'ADMIN')),
		active        boolean      NOT NULL DEFAULT 1,
		created_at    datetime     NOT NULL,
		updated_at    datetime     NOT NULL,
		last_login_at datetime
	)`,
	`CREATE UNIQUE INDEX idx_users_username_key ON users (username_key)`,
	`CREATE TABLE sessions (
		id           varchar(36)  PRIMARY KEY NOT NULL,
		user_id      varchar(36)  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		created_at   datetime     NOT NULL,
		last_used_at datetime     NOT NULL,
		expires_at   datetime     NOT NULL,
		revoked_at   datetime,
		user_agent   varchar(512) NOT NULL DEFAULT '',
		ip           varchar(64)  NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX idx_sessions_user_id ON sessions (user_id)`,
	`CREATE INDEX idx_sessions_expires_at ON sessions (expires_at)`,
	`CREATE INDEX idx_sessions_revoked_at ON sessions (revoked_at)`,
	`CREATE TABLE refresh_tokens (
		id         varchar(36) PRIMARY KEY NOT NULL,
		token_hash varchar(64) NOT NULL,
		user_id    varchar(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		session_id varchar(36) NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
		created_at datetime    NOT NULL,
		expires_at datetime    NOT NULL,
		used_at    datetime,
		revoked_at datetime
	)`,
	`CREATE UNIQUE INDEX idx_refresh_tokens_token_hash ON refresh_tokens (token_hash)`,
	`CREATE INDEX idx_refresh_tokens_session_id ON refresh_tokens (session_id)`,
	`CREATE INDEX idx_refresh_tokens_user_id ON refresh_tokens (user_id)`,
	`CREATE INDEX idx_refresh_tokens_expires_at ON refresh_tokens (expires_at)`,
	`CREATE INDEX idx_refresh_tokens_used_at ON refresh_tokens (used_at)`,
	`CREATE INDEX idx_refresh_tokens_revoked_at ON refresh_tokens (revoked_at)`,
}

// dropInitial undoes the initial migration.
var dropInitial = []string{
	`DROP TABLE IF EXISTS refresh_tokens`,
	`DROP TABLE IF EXISTS sessions`,
	`DROP TABLE IF EXISTS users`,
}

// successorPostgres adds what REFRESH_REUSE_GRACE needs: a rotated token's
// successor, sealed (AES-GCM) so that it is never plain text at rest, and the
// end of the window in which it may be handed out again. Both are NULL
// outside that window.
var successorPostgres = []string{
	`ALTER TABLE refresh_tokens ADD COLUMN successor_sealed bytea, ADD COLUMN successor_until timestamptz`,
	`CREATE INDEX idx_refresh_tokens_successor_until ON refresh_tokens (successor_until) WHERE successor_until IS NOT NULL`,
}

// successorSQLite is successorPostgres in SQLite's types.
var successorSQLite = []string{
	`ALTER TABLE refresh_tokens ADD COLUMN successor_sealed blob`,
	`ALTER TABLE refresh_tokens ADD COLUMN successor_until datetime`,
	`CREATE INDEX idx_refresh_tokens_successor_until ON refresh_tokens (successor_until) WHERE successor_until IS NOT NULL`,
}

// dropSuccessor undoes the successor migration.
var dropSuccessor = []string{
	`DROP INDEX IF EXISTS idx_refresh_tokens_successor_until`,
	`ALTER TABLE refresh_tokens DROP COLUMN successor_until`,
	`ALTER TABLE refresh_tokens DROP COLUMN successor_sealed`,
}
