package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// ImportUsers skips taken usernames in any letter case, keeps the active
// flag, role and times, and HashMix counts the stored formats by prefix.
func TestImportUsersAndHashMix(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.CreateUser(ctx, &models.User{Username: "Taken", PasswordHash: "$argon2id$x"}); err != nil {
			t.Fatal(err)
		}
		joined := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		verified := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
		batch := []store.ImportUser{
			{User: models.User{Username: "taken", PasswordHash: "pbkdf2_sha256$1$a$b"}},
			{User: models.User{Username: "p1", PasswordHash: "pbkdf2_sha256$1$a$b", Active: false, CreatedAt: joined}, EmailVerifiedAt: &verified},
			{User: models.User{Username: "p2", PasswordHash: "pbkdf2_sha256$1$a$c", Active: true, Role: models.RoleAdmin}},
			{User: models.User{Username: "b1", PasswordHash: "$2b$04$xyz", Active: true}},
			{User: models.User{Username: "u1", PasswordHash: "!", Active: true}},
			{User: models.User{Username: "o1", PasswordHash: "md5$x", Active: true}},
		}
		skipped, err := s.ImportUsers(ctx, batch)
		if err != nil || !slices.Equal(skipped, []string{"taken"}) {
			t.Fatalf("ImportUsers = %v, %v; want [taken] skipped", skipped, err)
		}
		p1, _ := s.UserByUsername(ctx, "P1")
		p2, _ := s.UserByUsername(ctx, "p2")
		if p1.Active || !p1.CreatedAt.Equal(joined) || p2.Role != models.RoleAdmin || !p2.Active {
			t.Errorf("p1 = %+v, p2 = %+v", p1, p2)
		}
		var n int64
		s.DB().Raw("SELECT COUNT(*) FROM users WHERE email_verified_at IS NOT NULL").Scan(&n)
		if n != 1 {
			t.Errorf("%d verified, want 1", n)
		}
		again, err := s.ImportUsers(ctx, batch[1:3])
		if err != nil || len(again) != 2 {
			t.Errorf("second ImportUsers = %v, %v", again, err)
		}

		mix, err := s.HashMix(ctx, []string{"$argon2id$", "pbkdf2_sha256$", "$2b$", "!"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, m := range mix {
			got[m.Prefix] = m.Count
			if m.Prefix == "pbkdf2_sha256$" && m.Sample != "pbkdf2_sha256$1$a$c" {
				t.Errorf("pbkdf2 sample = %q, want the greatest", m.Sample)
			}
		}
		want := map[string]int64{"$argon2id$": 1, "pbkdf2_sha256$": 2, "$2b$": 1, "!": 1, "": 1}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("HashMix[%q] = %d, want %d (%v)", k, got[k], v, got)
			}
		}
	})
}

// DeleteUser refuses the last active admin, and SetPassword ends every
// session of the user.
func TestDeleteUserLastAdminAndSetPassword(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		admin := &models.User{Username: "admin", PasswordHash: "$argon2id$x", Role: models.RoleAdmin}
		user := &models.User{Username: "user", PasswordHash: "$argon2id$x"}
		for _, u := range []*models.User{admin, user} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteUser(ctx, admin.ID); err != store.ErrLastAdmin {
			t.Fatalf("DeleteUser(last admin) = %v, want ErrLastAdmin", err)
		}
		now := time.Now()
		for i := range 2 {
			sess := &models.Session{UserID: user.ID, ExpiresAt: now.Add(time.Hour)}
			tok := &models.RefreshToken{TokenHash: string(rune('a'+i)) + "0000000000000000000000000000000000000000000000000000000000000", ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateSession(ctx, sess, tok); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.SetPassword(ctx, user.ID, "$argon2id$new", now)
		if err != nil || n != 2 {
			t.Fatalf("SetPassword = %d, %v; want 2 sessions ended", n, err)
		}
		if _, err := s.SetPassword(ctx, "nobody", "$argon2id$new", now); err != store.ErrNotFound {
			t.Errorf("SetPassword(nobody) = %v", err)
		}
		if err := s.DeleteUser(ctx, user.ID); err != nil {
			t.Fatal(err)
		}
		var rows int64
		s.DB().Raw("SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ?", user.ID).Scan(&rows)
		if rows != 0 {
			t.Errorf("%d refresh tokens remain", rows)
		}
	})
}
