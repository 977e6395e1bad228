package auth

import (
	"context"
	"errors"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

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

// UpdateProfile changes user id's email and display name. Who may do so
// (the user, or an admin) is the schema's @selfOrAdmin rule.
func (s *Service) UpdateProfile(ctx context.Context, id string, in ProfileInput) (*models.User, error) {
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
	u, err := s.store.UpdateProfile(ctx, id, change, s.opts.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownUser
	}
	return u, err
}

// SetRole gives user id a role, on behalf of admin actor. The last active
// admin cannot be demoted.
func (s *Service) SetRole(ctx context.Context, actor *models.User, id string, role models.Role) (*models.User, error) {
	u, err := s.store.SetUserRole(ctx, id, role, s.opts.Now())
	if err := standingError(err); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "role changed", "event", "role_changed", "actor_id", actor.ID, "user_id", id, "role", role)
	return u, nil
}

// SetActive activates or deactivates user id, on behalf of admin actor.
// Deactivating ends all the user's sessions. The last active admin cannot
// be deactivated.
func (s *Service) SetActive(ctx context.Context, actor *models.User, id string, active bool) (*models.User, error) {
	u, err := s.store.SetUserActive(ctx, id, active, s.opts.Now())
	if err := standingError(err); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "active changed", "event", "user_active_changed", "actor_id", actor.ID, "user_id", id, "active", active)
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
