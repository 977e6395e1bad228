package auth

import (
	"context"
	"fmt"

	"github.com/ironclad-auth/ironclad/models"
)

// ErrSignupClosed answers register when SIGNUP_ENABLED is false.
var ErrSignupClosed = models.Forbidden("sign-up is closed; ask an administrator for an account")

// Register creates a USER account (the rules of CreateUser, with the email
// required) and logs it in: it returns the first token pair of a new session.
func (s *Service) Register(ctx context.Context, nu NewUser, c Client) (*Grant, error) {
	if !s.opts.SignupEnabled {
		return nil, ErrSignupClosed
	}
	nu.Role = models.RoleUser // sign-up never makes an admin
	now := s.opts.Now().UTC()
	u, err := s.createUser(ctx, nu, true, &now)
	if err != nil {
		return nil, err
	}
	g, err := s.startSession(ctx, u, c, now)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	s.log.InfoContext(ctx, "user registered", "event", "user_registered", "user_id", u.ID, "session_id", g.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return g, nil
}
