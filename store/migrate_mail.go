package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// The mail migration: users get a verified flag and the folded address
// (email_key) under a unique index, so that an address belongs to at most
// one account; mail_tokens holds the hashes of reset and verification
// tokens, mail_outbox the messages waiting to be sent. Deleting a user
// deletes its tokens and its pending mail (ON DELETE CASCADE; SQLite runs
// with foreign_keys on).
//
// Existing duplicates (two accounts whose addresses fold alike) stop the
// migration before anything changes: it reports them as
// ErrDuplicateEmails, and `ironclad users duplicates-email` lists them.

// ErrDuplicateEmails stops the mail migration: some addresses are used by
// more than one account, compared case-insensitively.
var ErrDuplicateEmails = errors.New("store: email addresses shared by several accounts")

var mailColumnsPostgres = []string{
	`ALTER TABLE users ADD COLUMN email_key text, ADD COLUMN email_verified boolean NOT NULL DEFAULT false`,
}

var mailColumnsSQLite = []string{
	`ALTER TABLE users ADD COLUMN email_key text`,
	`ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT 0`,
}

var mailTablesPostgres = []string{
	`CREATE UNIQUE INDEX idx_users_email_key ON users (email_key)`,
	`CREATE TABLE mail_tokens (
		id         varchar(36) PRIMARY KEY,
		user_id    varchar(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		purpose    varchar(16) NOT NULL CONSTRAINT chk_mail_tokens_purpose CHECK (purpose IN ('reset', 'verify')),
		token_hash varchar(64) NOT NULL,
		code_hash  varchar(64) NOT NULL,
		email      varchar(320) NOT NULL,
		created_at timestamptz NOT NULL,
		expires_at timestamptz NOT NULL,
		used_at    timestamptz
	)`,
	`CREATE UNIQUE INDEX idx_mail_tokens_token_hash ON mail_tokens (token_hash)`,
	`CREATE INDEX idx_mail_tokens_code_hash ON mail_tokens (code_hash)`,
	`CREATE INDEX idx_mail_tokens_user_id ON mail_tokens (user_id)`,
	`CREATE INDEX idx_mail_tokens_expires_at ON mail_tokens (expires_at)`,
	`CREATE TABLE mail_outbox (
		id              varchar(36) PRIMARY KEY,
		user_id         varchar(36) REFERENCES users (id) ON DELETE CASCADE,
		kind            varchar(32) NOT NULL,
		sealed          bytea       NOT NULL,
		created_at      timestamptz NOT NULL,
		next_attempt_at timestamptz NOT NULL,
		claimed_until   timestamptz,
		attempts        integer     NOT NULL DEFAULT 0,
		last_error      varchar(255) NOT NULL DEFAULT '',
		sent_at         timestamptz,
		failed_at       timestamptz
	)`,
	`CREATE INDEX idx_mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL`,
	`CREATE INDEX idx_mail_outbox_created_at ON mail_outbox (created_at)`,
	`CREATE INDEX idx_mail_outbox_user_id ON mail_outbox (user_id)`,
}

var mailTablesSQLite = []string{
	`CREATE UNIQUE INDEX idx_users_email_key ON users (email_key)`,
	`CREATE TABLE mail_tokens (
		id         varchar(36) PRIMARY KEY NOT NULL,
		user_id    varchar(36) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		purpose    varchar(16) NOT NULL CONSTRAINT chk_mail_tokens_purpose CHECK (purpose IN ('reset', 'verify')),
		token_hash varchar(64) NOT NULL,
		code_hash  varchar(64) NOT NULL,
		email      varchar(320) NOT NULL,
		created_at datetime    NOT NULL,
		expires_at datetime    NOT NULL,
		used_at    datetime
	)`,
	`CREATE UNIQUE INDEX idx_mail_tokens_token_hash ON mail_tokens (token_hash)`,
	`CREATE INDEX idx_mail_tokens_code_hash ON mail_tokens (code_hash)`,
	`CREATE INDEX idx_mail_tokens_user_id ON mail_tokens (user_id)`,
	`CREATE INDEX idx_mail_tokens_expires_at ON mail_tokens (expires_at)`,
	`CREATE TABLE mail_outbox (
		id              varchar(36) PRIMARY KEY NOT NULL,
		user_id         varchar(36) REFERENCES users (id) ON DELETE CASCADE,
		kind            varchar(32) NOT NULL,
		sealed          blob        NOT NULL,
		created_at      datetime    NOT NULL,
		next_attempt_at datetime    NOT NULL,
		claimed_until   datetime,
		attempts        integer     NOT NULL DEFAULT 0,
		last_error      varchar(255) NOT NULL DEFAULT '',
		sent_at         datetime,
		failed_at       datetime
	)`,
	`CREATE INDEX idx_mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL`,
	`CREATE INDEX idx_mail_outbox_created_at ON mail_outbox (created_at)`,
	`CREATE INDEX idx_mail_outbox_user_id ON mail_outbox (user_id)`,
}

var dropMail = []string{
	`DROP TABLE IF EXISTS mail_outbox`,
	`DROP TABLE IF EXISTS mail_tokens`,
	`DROP INDEX IF EXISTS idx_users_email_key`,
	`ALTER TABLE users DROP COLUMN email_verified`,
	`ALTER TABLE users DROP COLUMN email_key`,
}

// migrateMail adds the columns, fills email_key from every address (folded
// in Go, as CreateUser folds), refuses duplicates, then adds the index and
// the tables. It runs inside Migrate's transaction: a refusal changes
// nothing.
func (s *Store) migrateMail(tx *gorm.DB) error {
	if err := s.execDDL(mailColumnsPostgres, mailColumnsSQLite)(tx); err != nil {
		return err
	}
	dups, err := duplicateEmails(tx)
	if err != nil {
		return err
	}
	if len(dups) > 0 {
		n := 0
		for _, d := range dups {
			n += len(d.Users)
		}
		return fmt.Errorf("%w: %d addresses are each used by more than one account (%d accounts, compared case-insensitively); "+
			"nothing was changed. List them with `ironclad users duplicates-email`, give each account its own address "+
			"(or none), then start again", ErrDuplicateEmails, len(dups), n)
	}
	type row struct{ ID, Email string }
	var rows []row
	if err := tx.Raw("SELECT id, email FROM users WHERE email IS NOT NULL AND email <> ''").Scan(&rows).Error; err != nil {
		return err
	}
	for _, r := range rows {
		if err := tx.Exec("UPDATE users SET email_key = ? WHERE id = ?", EmailKey(r.Email), r.ID).Error; err != nil {
			return err
		}
	}
	return s.execDDL(mailTablesPostgres, mailTablesSQLite)(tx)
}

// EmailKey folds an address for uniqueness and lookup: the whole address,
// as usernames fold (Unicode caseless matching), trimmed. Mail systems
// treat the local part as case-sensitive in theory and never in practice;
// two accounts differing only in letter case are a mistake or an attack.
func EmailKey(email string) string { return usernameKey(strings.TrimSpace(email)) }

// DuplicateEmail is one folded address used by several accounts.
type DuplicateEmail struct {
	Key   string
	Users []DuplicateEmailUser
}

// DuplicateEmailUser is one account in a DuplicateEmail.
type DuplicateEmailUser struct {
	ID, Username, Email string
}

// DuplicateEmails lists the addresses used by more than one account,
// compared case-insensitively: what stops the mail migration. It works on
// a database before and after that migration (`ironclad users
// duplicates-email` runs it without migrating).
func (s *Store) DuplicateEmails(ctx context.Context) ([]DuplicateEmail, error) {
	d, err := duplicateEmails(s.db.WithContext(ctx))
	return d, wrap("duplicate emails", err)
}

func duplicateEmails(tx *gorm.DB) ([]DuplicateEmail, error) {
	var rows []DuplicateEmailUser
	err := tx.Raw("SELECT id, username, email FROM users WHERE email IS NOT NULL AND email <> '' ORDER BY created_at, id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	byKey := map[string][]DuplicateEmailUser{}
	var order []string
	for _, r := range rows {
		k := EmailKey(r.Email)
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	var out []DuplicateEmail
	for _, k := range order {
		if us := byKey[k]; len(us) > 1 {
			out = append(out, DuplicateEmail{Key: k, Users: us})
		}
	}
	return out, nil
}
