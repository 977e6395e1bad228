package auth

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
)

// NewUser describes an account to create.
type NewUser struct {
	Username string
	Email    string
	Password string
	Role     models.Role
}

// MinPasswordLen is the shortest password accepted for a new account.
const MinPasswordLen = 8

// CreateUser validates nu, hashes its password and stores the account.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*models.User, error) {
	nu.Username = strings.TrimSpace(nu.Username)
	switch n := utf8.RuneCountInString(nu.Username); {
	case n == 0:
		return nil, models.BadField("username", "username is required")
	case n > MaxUsernameLen:
		return nil, models.BadField("username", fmt.Sprintf("username must be at most %d characters", MaxUsernameLen))
	}
	if err := checkNewPassword("password", nu.Password); err != nil {
		return nil, err
	}
	if nu.Role == "" {
		nu.Role = models.RoleUser
	}
	if !nu.Role.IsValid() {
		return nil, models.BadField("role", "role must be USER or ADMIN")
	}
	var email *string
	if e := strings.TrimSpace(nu.Email); e != "" {
		if !strings.Contains(e, "@") || len(e) > 320 {
			return nil, models.BadField("email", "email is not a valid address")
		}
		email = &e
	}
	hash, err := s.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	u := &models.User{Username: nu.Username, Email: email, PasswordHash: hash, Role: nu.Role, Active: true}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkNewPassword applies the rules every new password must meet, at account
// creation and on a password change; field names the input in the error.
func checkNewPassword(field, password string) error {
	switch {
	case password == "":
		return models.BadField(field, "password is required")
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return models.BadField(field, fmt.Sprintf("password must be at least %d characters", MinPasswordLen))
	case len(password) > MaxPasswordLen:
		return models.BadField(field, fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen))
	}
	return nil
}
