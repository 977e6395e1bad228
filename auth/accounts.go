package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ironclad-auth/ironclad/mail"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Accounts creates accounts (by an administrator or by sign-up), changes
// profiles, and changes a user's standing (role, active) for an admin.
type Accounts struct {
	s *Service // the store, hasher and clock; and sessions, for sign-up
}

// Errors of user management.
var (
	ErrLastAdmin   = models.BadInput("the last active admin cannot be demoted or deactivated")
	ErrUnknownUser = models.BadField("id", "no such user")
)

// ProfileInput is a change to a profile; nil fields stay as they are.
type ProfileInput struct {
	Email       *string
	DisplayName *string // "" clears it
}

// ErrSignupClosed answers register when SIGNUP_ENABLED is false.
var ErrSignupClosed = models.Forbidden("sign-up is closed; ask an administrator for an account")

// NewUser describes an account to create.
type NewUser struct {
	Username string
	Email    string // optional for CreateUser, required for Register
	Password string
	Role     models.Role
}

// Create validates nu with the same rules as Register (all violations
// are returned, joined, each a BAD_USER_INPUT error naming its field),
// hashes its password and stores the account. It is how administrators
// create accounts (`ironclad createuser`), whether or not sign-up is open.
func (a *Accounts) Create(ctx context.Context, nu NewUser) (*models.User, error) {
	return a.create(ctx, nu, false, nil)
}

// Register creates a USER account (the rules of Create, with the email
// required) and logs it in: it returns the first token pair of a new session
// for the client of ctx.
func (a *Accounts) Register(ctx context.Context, nu NewUser) (*Grant, error) {
	s, c := a.s, ClientFrom(ctx)
	if !s.opts.SignupEnabled {
		return nil, ErrSignupClosed
	}
	nu.Role = models.RoleUser // sign-up never makes an admin
	now := s.opts.Now().UTC()
	u, err := a.create(ctx, nu, true, &now)
	if err != nil {
		return nil, err
	}
	g, err := s.startSession(ctx, u, c, now)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	if err := s.queueVerification(ctx, u); err != nil {
		// The account exists: a lost verification mail is one the user
		// asks for again (sendVerificationEmail), not a failed sign-up.
		s.log.ErrorContext(ctx, "verification mail not queued", "user_id", u.ID, "err", err)
	}
	s.log.InfoContext(ctx, "user registered", "event", "user_registered", "user_id", u.ID, "session_id", g.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return g, nil
}

// create validates, hashes and stores an account;
// loggedInAt, when set, is the creation time and records that the account
// is logged in at once (registration).
func (a *Accounts) create(ctx context.Context, nu NewUser, emailRequired bool, loggedInAt *time.Time) (*models.User, error) {
	if err := validateNewUser(&nu, a.s.opts.MinPasswordLen, emailRequired); err != nil {
		return nil, err
	}
	var email *string
	if nu.Email != "" {
		email = &nu.Email
	}
	hash, err := a.s.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	// An address an administrator typed (createuser) is taken as verified;
	// one given at sign-up must be proved.
	u := &models.User{Username: nu.Username, Email: email, EmailVerified: email != nil && !emailRequired, PasswordHash: hash, Role: nu.Role, Active: true}
	if loggedInAt != nil {
		u.CreatedAt = *loggedInAt
		u.LastLoginAt = loggedInAt
	}
	if err := a.s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateProfile changes user id's email and display name. Who may do so
// (the user, or an admin) is the schema's @selfOrAdmin rule.
func (a *Accounts) UpdateProfile(ctx context.Context, id string, in ProfileInput) (*models.User, error) {
	var change store.ProfileChange
	var errs []error
	if in.Email != nil {
		email, err := ValidateEmail(*in.Email)
		if err != nil {
			errs = append(errs, err)
		}
		change.Email = &email
	}
	if in.DisplayName != nil {
		name, err := ValidateDisplayName(*in.DisplayName)
		if err != nil {
			errs = append(errs, err)
		}
		change.DisplayName = &name
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A new address is stored unverified; a verification goes to it and a
	// notice to the old one, queued in the same transaction.
	var sent []mail.Message
	if change.Email != nil {
		change.OnEmailChange = a.s.emailChangeMails(*change.Email, &sent)
	}
	wctx := ctx
	if change.Email != nil {
		ev := a.s.audit.event(ctx, models.AuditEmailChanged, id, ViewerFrom(ctx).SessionID, nil)
		if v := ViewerFrom(ctx).User; v != nil && v.ID != id {
			ev.ActorID = &v.ID // an admin changing another user's address
		}
		wctx = with(ctx, ev)
	}
	u, err := a.s.store.UpdateProfile(wctx, id, change, a.s.opts.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownUser
	}
	if err != nil {
		return nil, err
	}
	if len(sent) > 0 {
		a.s.mail.Queued(ctx, sent...)
		a.s.log.InfoContext(ctx, "email changed", "event", "email_changed", "user_id", id)
	}
	return u, nil
}

// SetRole gives user id a role, on behalf of the admin viewer of ctx. The
// last active admin cannot be demoted.
func (a *Accounts) SetRole(ctx context.Context, id string, role models.Role) (*models.User, error) {
	actor := ViewerFrom(ctx).User
	if actor == nil {
		return nil, ViewerFrom(ctx).Err
	}
	ev := a.s.audit.event(ctx, models.AuditRoleChanged, id, "", map[string]any{"role": role})
	ev.ActorID, ev.SessionID = &actor.ID, optional(ViewerFrom(ctx).SessionID)
	u, err := a.s.store.SetUserRole(with(ctx, ev), id, role, a.s.opts.Now())
	if err := standingError(err); err != nil {
		return nil, err
	}
	a.s.log.InfoContext(ctx, "role changed", "event", "role_changed", "actor_id", actor.ID, "user_id", id, "role", role)
	return u, nil
}

// SetActive activates or deactivates user id, on behalf of the admin viewer
// of ctx. Deactivating ends all the user's sessions. The last active admin
// cannot be deactivated.
func (a *Accounts) SetActive(ctx context.Context, id string, active bool) (*models.User, error) {
	actor := ViewerFrom(ctx).User
	if actor == nil {
		return nil, ViewerFrom(ctx).Err
	}
	ev := a.s.audit.event(ctx, models.AuditActiveChanged, id, "", map[string]any{"active": active})
	ev.ActorID, ev.SessionID = &actor.ID, optional(ViewerFrom(ctx).SessionID)
	u, err := a.s.store.SetUserActive(with(ctx, ev), id, active, a.s.opts.Now())
	if err := standingError(err); err != nil {
		return nil, err
	}
	a.s.log.InfoContext(ctx, "active changed", "event", "user_active_changed", "actor_id", actor.ID, "user_id", id, "active", active)
	return u, nil
}

// standingError maps the store's errors for a role or active change.
func standingError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrLastAdmin):
		return ErrLastAdmin
	case errors.Is(err, store.ErrNotFound):
		return ErrUnknownUser
	}
	return err
}
