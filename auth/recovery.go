package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ironclad-auth/ironclad/mail"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Password reset by mail.

// Default lifetimes of mail tokens.
const (
	DefaultResetTTL  = 30 * time.Minute
	DefaultVerifyTTL = 24 * time.Hour
)

// Paths of the SPA pages the mail links open.
const (
	ResetPath  = "/reset-password"
	VerifyPath = "/verify-email"
)

// Errors of the reset and verification flows.
var (
	ErrResetInvalid    = &models.Error{Code: models.CodeBadUserInput, Reason: models.ReasonResetTokenInvalid, Message: "the reset link or code is not valid, or was already used"}
	ErrResetExpired    = &models.Error{Code: models.CodeBadUserInput, Reason: models.ReasonResetTokenExpired, Message: "the reset link or code has expired; ask for a new one"}
	ErrVerifyInvalid   = &models.Error{Code: models.CodeBadUserInput, Reason: models.ReasonVerificationTokenInvalid, Message: "the verification link or code is not valid, or was already used"}
	ErrVerifyExpired   = &models.Error{Code: models.CodeBadUserInput, Reason: models.ReasonVerificationTokenExpired, Message: "the verification link or code has expired; ask for a new one"}
	ErrEmailUnverified = models.Unauthenticated(models.ReasonEmailUnverified,
		"the email address of this account is not verified yet: open the link we sent (a new one is on its way)")
	ErrNoEmail = models.BadInput("the account has no email address")
)

// mailOn returns ErrDisabled unless mail can be sent.
func (s *Service) mailOn() error {
	if s.mail == nil || !s.mail.Enabled() {
		return mail.ErrDisabled
	}
	return nil
}

// RequestPasswordReset queues a reset mail to the account with this
// address, if there is one. The answer, and the work behind it, are the
// same whether or not there is: the same limits, the same rendering and
// sealing, and the same statements (which write nothing for an unknown
// address); only the mail is missing.
func (a *Accounts) RequestPasswordReset(ctx context.Context, email string) error {
	s, c := a.s, ClientFrom(ctx)
	if err := s.mailOn(); err != nil {
		return err
	}
	addr, verr := ValidateEmail(email)
	if verr != nil {
		return verr
	}
	if err := s.limiter.takeMail(ctx, addr, c.IP); err != nil {
		s.log.WarnContext(ctx, "password reset refused: too many requests", "event", "password_reset_rate_limited", "ip", c.IP, "user_agent", c.UserAgent)
		return err
	}
	u, err := s.store.UserByEmail(ctx, addr)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("request password reset: %w", err)
	}
	known := err == nil && u.Active
	// For an unknown address: a user id naming nobody, a placeholder name.
	userID, name := uuid.NewString(), "there"
	if known {
		userID, name = u.ID, u.Username
	}
	now := s.opts.Now().UTC()
	tok, row, msg, err := s.composeToken(models.PurposeReset, mail.KindReset, ResetPath, addr, name, s.opts.ResetTTL, now)
	if err != nil {
		return err
	}
	wrote, err := s.store.QueueMail(ctx, userID, tok, []*models.OutboxMail{row}, now)
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	if wrote {
		s.mail.Queued(ctx, msg)
		s.log.InfoContext(ctx, "password reset requested", "event", "password_reset_requested", "user_id", userID, "ip", c.IP, "user_agent", c.UserAgent)
	} else {
		s.log.InfoContext(ctx, "password reset requested for an address without an account", "event", "password_reset_requested", "ip", c.IP, "user_agent", c.UserAgent)
	}
	return nil
}

// composeToken makes a token of purpose and the mail of kind carrying it
// (a link to path, and the code), to addr.
func (s *Service) composeToken(purpose, kind, path, addr, name string, ttl time.Duration, now time.Time) (*models.MailToken, *models.OutboxMail, mail.Message, error) {
	token, code := newMailToken()
	tok := &models.MailToken{ID: uuid.NewString(), Purpose: purpose, TokenHash: tokenHash(token), CodeHash: s.codeHash(code),
		Email: addr, ExpiresAt: now.Add(ttl)}
	row, msg, err := s.mail.Compose(kind, addr, mail.Data{Username: name, Email: addr, Link: s.mail.Link(path, token), Code: code, Expires: humanDuration(ttl)}, now)
	if err != nil {
		return nil, nil, mail.Message{}, err
	}
	return tok, row, msg, nil
}

// ResetPassword sets a new password with a reset token (or its code): the
// rules of register apply to it; then every session and refresh token of
// the user ends (refused at once on every replica, as after logout), the
// user's other reset tokens are used up, and a notice goes to the account.
// Personal access tokens stay unless revokePersonalTokens. Failed token
// presentations count against the client IP's login limit.
func (a *Accounts) ResetPassword(ctx context.Context, token, newPassword string, revokePersonalTokens bool) error {
	s, c := a.s, ClientFrom(ctx)
	if err := s.mailOn(); err != nil {
		return err
	}
	if len(newPassword) > MaxPasswordLen {
		return models.BadField("newPassword", fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen))
	}
	att, err := s.limiter.beginToken(ctx, c.IP)
	if err != nil {
		s.log.WarnContext(ctx, "password reset refused: too many invalid tokens", "event", "password_reset_rate_limited", "ip", c.IP, "user_agent", c.UserAgent)
		return err
	}
	defer att.abandon(ctx)
	t, u, err := s.lookupToken(ctx, models.PurposeReset, token)
	switch {
	case errors.Is(err, store.ErrNotFound):
		att.failed()
		s.log.InfoContext(ctx, "password reset refused: invalid token", "event", "password_reset_failed", "ip", c.IP, "user_agent", c.UserAgent)
		return ErrResetInvalid
	case err != nil:
		return fmt.Errorf("reset password: %w", err)
	}
	now := s.opts.Now().UTC()
	if !now.Before(t.ExpiresAt) {
		att.succeeded(ctx) // a real token, only late: not a guess
		return ErrResetExpired
	}
	if perr := ValidatePassword(newPassword, u.Username, s.opts.MinPasswordLen); perr != nil {
		att.succeeded(ctx)
		e := *perr
		e.Field = "newPassword"
		return &e // the token stays usable
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	r := store.PasswordReset{TokenID: t.ID, UserID: u.ID, NewHash: hash, EmailKey: store.EmailKey(t.Email), RevokePersonalTokens: revokePersonalTokens}
	var notice mail.Message
	if u.Email != nil {
		r.Notice, notice, err = s.mail.Compose(mail.KindPasswordChanged, *u.Email, mail.Data{Username: u.Username, Email: *u.Email}, now)
		if err != nil {
			return err
		}
	}
	ev := s.audit.event(ctx, models.AuditPasswordReset, u.ID, "", map[string]any{"personal_tokens_revoked": revokePersonalTokens})
	err = s.store.ResetPassword(with(ctx, ev), r, now)
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		att.failed() // used by a concurrent request, or the user is gone
		return ErrResetInvalid
	case err != nil:
		return fmt.Errorf("reset password: %w", err)
	}
	att.succeeded(ctx)
	if r.Notice != nil {
		s.mail.Queued(ctx, notice)
	}
	s.log.InfoContext(ctx, "password reset", "event", "password_reset", "user_id", u.ID,
		"personal_tokens_revoked", revokePersonalTokens, "ip", c.IP, "user_agent", c.UserAgent)
	return nil
}

// lookupToken finds the unused token of purpose that in (a token or a
// code) names, and its active user. ErrNotFound for anything else.
func (s *Service) lookupToken(ctx context.Context, purpose, in string) (*models.MailToken, *models.User, error) {
	th, ch, ok := s.parseMailToken(in)
	if !ok {
		return nil, nil, store.ErrNotFound
	}
	t, err := s.store.MailTokenByHash(ctx, purpose, th, ch)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if err != nil {
		return nil, nil, err
	}
	if !u.Active {
		return nil, nil, store.ErrNotFound
	}
	return t, u, nil
}

// humanDuration writes a token lifetime for a mail: "30 minutes", "24 hours".
func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}
