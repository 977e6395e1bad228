package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Deleting an account: by an admin (deleteUser, `ironclad deleteuser`) or by
// its user (deleteMyAccount, after the password). The user's sessions,
// refresh tokens and personal access tokens go with the row; every replica
// refuses the user's access tokens once the deletion commits (the store's
// invalidation channel, as for logout).

// ErrLastAdminDelete refuses to delete the last active admin.
var ErrLastAdminDelete = models.BadInput("the last active admin cannot be deleted")

// Delete deletes user id on behalf of the admin viewer of ctx (the schema's
// @hasRole(ADMIN) rule). The last active admin cannot be deleted.
func (a *Accounts) Delete(ctx context.Context, id string) error {
	actor := ViewerFrom(ctx).User
	if actor == nil {
		return ViewerFrom(ctx).Err
	}
	if err := a.remove(ctx, id); err != nil {
		return err
	}
	a.s.log.InfoContext(ctx, "user deleted", "event", "user_deleted", "actor_id", actor.ID, "user_id", id)
	return nil
}

// DeleteByUsername deletes the account of username for `ironclad
// deleteuser`, run by an operator: there is no viewer.
func (a *Accounts) DeleteByUsername(ctx context.Context, username string) (*models.User, error) {
	u, err := a.s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, models.BadField("username", "no such user")
	}
	if err != nil {
		return nil, err
	}
	if err := a.remove(ctx, u.ID); err != nil {
		return nil, err
	}
	a.s.log.InfoContext(ctx, "user deleted", "event", "user_deleted", "actor", "cli", "user_id", u.ID)
	return u, nil
}

// DeleteMine deletes the viewer's own account once password is theirs. The
// password is checked as login checks it: counted against the same
// per-username and per-IP limits, through the hashing pool, and a wrong one
// is login's error (ErrInvalidCredentials). The last active admin cannot
// delete their account; another admin must first take over.
func (a *Accounts) DeleteMine(ctx context.Context, password string) error {
	s := a.s
	v, c := ViewerFrom(ctx), ClientFrom(ctx)
	if v.User == nil {
		return v.Err
	}
	switch {
	case password == "":
		return models.BadField("password", "password is required")
	case len(password) > MaxPasswordLen:
		return models.BadField("password", fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen))
	}
	u := v.User
	att, err := s.limiter.begin(ctx, u.Username, c.IP)
	if err != nil {
		s.rateLimited(ctx, att, u.ID, c)
		return err
	}
	defer att.abandon(ctx)
	ok, _, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return fmt.Errorf("delete account: verify: %w", err)
	}
	if !ok {
		att.failed()
		s.log.InfoContext(ctx, "account deletion refused: wrong password", "event", "account_delete_failed",
			"user_id", u.ID, "session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
		return ErrInvalidCredentials
	}
	att.succeeded(ctx)
	if err := a.remove(ctx, u.ID); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "account deleted by its user", "event", "user_deleted", "actor_id", u.ID, "user_id", u.ID,
		"session_id", v.SessionID, "ip", c.IP, "user_agent", c.UserAgent)
	return nil
}

// remove deletes user id and maps the store's errors.
func (a *Accounts) remove(ctx context.Context, id string) error {
	err := a.s.store.DeleteUser(ctx, id)
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return ErrLastAdminDelete
	case errors.Is(err, store.ErrNotFound):
		return ErrUnknownUser
	case err != nil:
		return fmt.Errorf("delete user: %w", err)
	}
	return nil
}

// SetPassword gives user id a new password on behalf of the admin viewer of
// ctx: the password rules of register apply (reported on the newPassword
// field), and every session of the user ends at once, on every replica.
// Personal access tokens stay.
func (a *Accounts) SetPassword(ctx context.Context, id, newPassword string) error {
	actor := ViewerFrom(ctx).User
	if actor == nil {
		return ViewerFrom(ctx).Err
	}
	u, err := a.s.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnknownUser
	}
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	n, err := a.setPassword(ctx, u, newPassword)
	if err != nil {
		return err
	}
	a.s.log.InfoContext(ctx, "password set", "event", "password_set", "actor_id", actor.ID, "user_id", u.ID, "sessions_ended", n)
	return nil
}

// SetPasswordByUsername is SetPassword for `ironclad changepassword`, run by
// an operator. It returns the user and how many sessions ended.
func (a *Accounts) SetPasswordByUsername(ctx context.Context, username, newPassword string) (*models.User, int64, error) {
	u, err := a.s.store.UserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, models.BadField("username", "no such user")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("set password: %w", err)
	}
	n, err := a.setPassword(ctx, u, newPassword)
	if err != nil {
		return nil, 0, err
	}
	a.s.log.InfoContext(ctx, "password set", "event", "password_set", "actor", "cli", "user_id", u.ID, "sessions_ended", n)
	return u, n, nil
}

func (a *Accounts) setPassword(ctx context.Context, u *models.User, newPassword string) (int64, error) {
	if perr := ValidatePassword(newPassword, u.Username, a.s.opts.MinPasswordLen); perr != nil {
		e := *perr
		e.Field = "newPassword"
		return 0, &e
	}
	hash, err := a.s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return 0, fmt.Errorf("set password: %w", err)
	}
	n, err := a.s.store.SetPassword(ctx, u.ID, hash, a.s.opts.Now())
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrUnknownUser
	}
	if err != nil {
		return 0, fmt.Errorf("set password: %w", err)
	}
	return n, nil
}
