package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// NewUser describes an account to create.
type NewUser struct {
	Username string
	Email    string // optional for CreateUser, required for Register
	Password string
	Role     models.Role
}

// CreateUser validates nu with the same rules as Register (all violations
// are returned, joined, each a BAD_USER_INPUT error naming its field),
// hashes its password and stores the account. It is how administrators
// create accounts (`ironclad createuser`), whether or not sign-up is open.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*models.User, error) {
	return s.createUser(ctx, nu, false, nil)
}

// createUser validates, hashes and stores an account;
// loggedInAt, when set, is the creation time and records that the account
// is logged in at once (registration).
func (s *Service) createUser(ctx context.Context, nu NewUser, emailRequired bool, loggedInAt *time.Time) (*models.User, error) {
	if err := validateNewUser(&nu, s.opts.MinPasswordLen, emailRequired); err != nil {
		return nil, err
	}
	var email *string
	if nu.Email != "" {
		email = &nu.Email
	}
	hash, err := s.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	u := &models.User{Username: nu.Username, Email: email, PasswordHash: hash, Role: nu.Role, Active: true}
	if loggedInAt != nil {
		u.CreatedAt = *loggedInAt
		u.LastLoginAt = loggedInAt
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}
