package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestCreateAndFindUser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		email := "alice@example.com"
		u := &models.User{Username: "Alice", Email: &email, PasswordHash: "$argon2id$v=19$dummy", Role: models.RoleAdmin}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser() error = %v", err)
		}
		if len(u.ID) != 36 || u.UsernameKey != "alice" || !u.Active || u.CreatedAt.IsZero() || u.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreateUser() set %+v, want a UUID, key %q, active, UTC CreatedAt", u, "alice")
		}

		byID, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID() error = %v", err)
		}
		if byID.Username != "Alice" || byID.Role != models.RoleAdmin || byID.Email == nil || *byID.Email != email ||
			!byID.Active || !byID.CreatedAt.Equal(u.CreatedAt) || byID.LastLoginAt != nil {
			t.Errorf("UserByID() = %+v, want %+v", byID, u)
		}

		for _, name := range []string{"Alice", "alice", "ALICE", "aLiCe"} {
			got, err := s.UserByUsername(ctx, name)
			if err != nil || got.ID != u.ID {
				t.Errorf("UserByUsername(%q) = %v, %v, want user %s", name, got, err, u.ID)
			}
		}

		for _, name := range []string{"bob", "alice ", ""} {
			if _, err := s.UserByUsername(ctx, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("UserByUsername(%q) error = %v, want ErrNotFound", name, err)
			}
		}
		if _, err := s.UserByID(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByID(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestCreateUserDefaults(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := &models.User{Username: "carol", PasswordHash: "h"} // no role, Active false
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser() error = %v", err)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID() error = %v", err)
		}
		if got.Role != models.RoleUser || !got.Active || got.Email != nil {
			t.Errorf("UserByID() = %+v, want role USER, active, no email", got)
		}
	})
}

func TestCreateUserInvalid(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		mustUser(t, s, "Alice")
		tests := []struct {
			name     string
			username string
			role     models.Role
			field    string
		}{
			{"same case", "Alice", "", "username"},
			{"lower case", "alice", "", "username"},
			{"upper case", "ALICE", "", "username"},
			{"empty", "", "", "username"},
			{"unknown role", "dave", "ROOT", "role"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.CreateUser(context.Background(), &models.User{Username: tt.username, PasswordHash: "h", Role: tt.role})
				var e *models.Error
				if !errors.As(err, &e) || e.Code != models.CodeBadUserInput || e.Field != tt.field {
					t.Fatalf("CreateUser(%q) error = %v, want BAD_USER_INPUT on %q", tt.username, err, tt.field)
				}
			})
		}
		var e *models.Error
		err := s.CreateUser(context.Background(), &models.User{Username: "aLICE", PasswordHash: "h"})
		if !errors.As(err, &e) || e.Message != "username is already taken" {
			t.Errorf("CreateUser(duplicate) error = %v, want %q", err, "username is already taken")
		}
	})
}

func TestUsernameFolding(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		tests := []struct {
			name, first, second string
			same                bool
		}{
			{"ascii case", "Alice", "aLICE", true},
			{"greek final sigma", "ΟΔΟΣ", "οδος", true},
			{"german sharp s", "Straße", "STRASSE", true},
			{"composed and decomposed", "Jos\u00e9", "JOSE\u0301", true},
			{"distinct names", "bob", "bobby", false},
			{"accent matters", "rene", "rené", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := mustUser(t, s, tt.first)
				got, err := s.UserByUsername(context.Background(), tt.second)
				if tt.same && (err != nil || got.ID != u.ID) {
					t.Errorf("UserByUsername(%q) = %v, %v, want user %q", tt.second, got, err, tt.first)
				}
				if !tt.same && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("UserByUsername(%q) error = %v, want ErrNotFound", tt.second, err)
				}
			})
		}
	})
}

func TestRecordLogin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		at := time.Date(2026, 12, 1, 8, 30, 0, 123456000, time.FixedZone("CET", 3600))

		if err := s.RecordLogin(ctx, u.ID, at, ""); err != nil {
			t.Fatalf("RecordLogin() error = %v", err)
		}
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID() error = %v", err)
		}
		if got.LastLoginAt == nil || !got.LastLoginAt.Equal(at) || got.PasswordHash != u.PasswordHash {
			t.Errorf("after RecordLogin(no rehash) user = %+v, want last login %v and the old hash", got, at)
		}

		if err := s.RecordLogin(ctx, u.ID, at.Add(time.Hour), "$argon2id$new"); err != nil {
			t.Fatalf("RecordLogin(rehash) error = %v", err)
		}
		got, err = s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID() error = %v", err)
		}
		if got.PasswordHash != "$argon2id$new" || !got.LastLoginAt.Equal(at.Add(time.Hour)) {
			t.Errorf("after RecordLogin(rehash) user = %+v, want the new hash", got)
		}

		if err := s.RecordLogin(ctx, "missing", at, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RecordLogin(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestSetUserActive(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		for _, active := range []bool{false, false, true} {
			if _, err := s.SetUserActive(ctx, u.ID, active, t0); err != nil {
				t.Fatalf("SetUserActive(%v) error = %v", active, err)
			}
			got, err := s.UserByID(ctx, u.ID)
			if err != nil || got.Active != active {
				t.Errorf("after SetUserActive(%v) user = %+v, %v", active, got, err)
			}
		}
		if _, err := s.SetUserActive(ctx, "missing", true, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetUserActive(unknown) error = %v, want ErrNotFound", err)
		}
	})
}
