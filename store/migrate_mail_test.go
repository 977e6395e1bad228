package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// UnmigrateMail takes a migrated store back to before the mail migration,
// so that a test can give it the data an older deployment holds.
func unmigrateMail(t *testing.T, st *store.Store) {
	t.Helper()
	for _, q := range []string{
		`DROP TABLE mail_outbox`, `DROP TABLE mail_tokens`, `DROP INDEX idx_users_email_key`,
		`ALTER TABLE users DROP COLUMN email_verified`, `ALTER TABLE users DROP COLUMN email_key`,
		`DELETE FROM schema_migrations WHERE id = '202612020002_mail'`,
	} {
		if err := st.DB().Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMailMigrationStopsOnDuplicateEmails: addresses that fold alike stop
// the migration with a message naming the command that lists them, and
// change nothing; once they are told apart, the migration applies and the
// addresses are unique case-insensitively.
func TestMailMigrationStopsOnDuplicateEmails(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		unmigrateMail(t, st)
		for i, email := range []string{"dup@example.com", "DUP@Example.com", "solo@example.com"} {
			err := st.DB().Exec("INSERT INTO users (id, username, username_key, email, password_hash, role, active, created_at, updated_at) "+
				"VALUES (?, ?, ?, ?, 'x', 'USER', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
				"id"+string(rune('a'+i)), "user"+string(rune('a'+i)), "user"+string(rune('a'+i)), email).Error
			if err != nil {
				t.Fatal(err)
			}
		}
		err := st.Migrate(ctx)
		if !errors.Is(err, store.ErrDuplicateEmails) || !strings.Contains(err.Error(), "ironclad users duplicates-email") {
			t.Fatalf("Migrate() = %v, want ErrDuplicateEmails naming the command", err)
		}
		if err := st.DB().Exec("SELECT email_key FROM users").Error; err == nil {
			t.Fatal("the refused migration left a column behind")
		}
		dups, err := st.DuplicateEmails(ctx)
		if err != nil || len(dups) != 1 || len(dups[0].Users) != 2 || dups[0].Key != "dup@example.com" {
			t.Fatalf("DuplicateEmails() = %+v, %v", dups, err)
		}

		if err := st.DB().Exec("UPDATE users SET email = 'other@example.com' WHERE id = 'idb'").Error; err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatalf("Migrate() after the fix = %v", err)
		}
		if u, err := st.UserByEmail(ctx, "Dup@EXAMPLE.com"); err != nil || u.ID != "ida" {
			t.Fatalf("UserByEmail = %+v, %v", u, err)
		}
		err = st.CreateUser(ctx, &models.User{Username: "newbie", Email: ptr("SOLO@example.com"), PasswordHash: "x"})
		if !errors.Is(err, store.ErrEmailTaken) {
			t.Fatalf("CreateUser with a taken address in other case = %v", err)
		}
	})
}

// TestDeleteUserDeletesMailTokens: a user's pending tokens and mail go
// with the account.
func TestDeleteUserDeletesMailTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u := &models.User{Username: "gone", Email: ptr("gone@example.com"), PasswordHash: "x"}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		now := u.CreatedAt
		tok := &models.MailToken{Purpose: models.PurposeReset, TokenHash: "t", CodeHash: "c", Email: "gone@example.com", ExpiresAt: now.Add(3600e9)}
		wrote, err := st.QueueMail(ctx, u.ID, tok, []*models.OutboxMail{{Kind: "reset", Sealed: []byte("sealed")}}, now)
		if err != nil || !wrote {
			t.Fatalf("QueueMail = %v, %v", wrote, err)
		}
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		var n int64
		st.DB().Raw("SELECT (SELECT COUNT(*) FROM mail_tokens) + (SELECT COUNT(*) FROM mail_outbox)").Scan(&n)
		if n != 0 {
			t.Fatalf("%d mail rows outlived their user", n)
		}
		// A user id naming nobody writes nothing, and is no error.
		if wrote, err := st.QueueMail(ctx, "nobody", &models.MailToken{Purpose: models.PurposeReset, TokenHash: "t2", CodeHash: "c", Email: "x@example.com", ExpiresAt: now},
			[]*models.OutboxMail{{Kind: "reset", Sealed: []byte("s")}}, now); err != nil || wrote {
			t.Fatalf("QueueMail for nobody = %v, %v", wrote, err)
		}
	})
}
