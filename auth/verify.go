package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/ironclad-auth/ironclad/mail"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Email verification.

// VerifyEmail marks an address verified with a verification token (or its
// code), if it is still the account's address. Failed presentations count
// against the client IP's login limit, as for reset.
func (a *Accounts) VerifyEmail(ctx context.Context, token string) error {
	s, c := a.s, ClientFrom(ctx)
	if err := s.mailOn(); err != nil {
		return err
	}
	att, err := s.limiter.beginToken(ctx, c.IP)
	if err != nil {
		return err
	}
	defer att.abandon(ctx)
	t, u, err := s.lookupToken(ctx, models.PurposeVerify, token)
	switch {
	case errors.Is(err, store.ErrNotFound):
		att.failed()
		return ErrVerifyInvalid
	case err != nil:
		return fmt.Errorf("verify email: %w", err)
	}
	now := s.opts.Now().UTC()
	if !now.Before(t.ExpiresAt) {
		att.succeeded(ctx)
		return ErrVerifyExpired
	}
	ev := s.audit.event(ctx, models.AuditEmailVerified, u.ID, "", nil)
	err = s.store.VerifyEmail(with(ctx, ev), t.ID, u.ID, store.EmailKey(t.Email), now)
	switch {
	case errors.Is(err, store.ErrConflict):
		att.failed() // used meanwhile, or the address changed since
		return ErrVerifyInvalid
	case err != nil:
		return fmt.Errorf("verify email: %w", err)
	}
	att.succeeded(ctx)
	s.log.InfoContext(ctx, "email verified", "event", "email_verified", "user_id", u.ID, "ip", c.IP, "user_agent", c.UserAgent)
	return nil
}

// SendVerificationEmail sends the viewer a new verification mail, limited
// as reset mails are. An address already verified gets none (and the
// answer is the same).
func (a *Accounts) SendVerificationEmail(ctx context.Context) error {
	s, v, c := a.s, ViewerFrom(ctx), ClientFrom(ctx)
	if v.User == nil {
		return v.Err
	}
	if err := s.mailOn(); err != nil {
		return err
	}
	u := v.User
	if u.Email == nil {
		return ErrNoEmail
	}
	if err := s.limiter.takeMail(ctx, *u.Email, c.IP); err != nil {
		return err
	}
	if u.EmailVerified {
		return nil
	}
	return s.queueVerification(ctx, u)
}

// queueVerification queues a verification mail for u's address.
func (s *Service) queueVerification(ctx context.Context, u *models.User) error {
	if s.mailOn() != nil || u.Email == nil {
		return nil // nothing to send it with, or to
	}
	now := s.opts.Now().UTC()
	tok, row, msg, err := s.composeToken(models.PurposeVerify, mail.KindVerify, VerifyPath, *u.Email, u.Username, s.opts.VerifyTTL, now)
	if err != nil {
		return err
	}
	if _, err := s.store.QueueMail(ctx, u.ID, tok, []*models.OutboxMail{row}, now); err != nil {
		return fmt.Errorf("queue verification mail: %w", err)
	}
	s.mail.Queued(ctx, msg)
	s.log.InfoContext(ctx, "verification mail queued", "event", "email_verification_sent", "user_id", u.ID)
	return nil
}

// emailChangeMails is the store's OnEmailChange for a new address to: a
// verification to it and a notice to the old address. The messages are
// appended to *sent, to be announced once the change commits.
func (s *Service) emailChangeMails(to string, sent *[]mail.Message) func(before *models.User) (*models.MailToken, []*models.OutboxMail, error) {
	return func(before *models.User) (*models.MailToken, []*models.OutboxMail, error) {
		*sent = (*sent)[:0]
		if s.mailOn() != nil {
			return nil, nil, nil
		}
		now := s.opts.Now().UTC()
		tok, row, msg, err := s.composeToken(models.PurposeVerify, mail.KindVerify, VerifyPath, to, before.Username, s.opts.VerifyTTL, now)
		if err != nil {
			return nil, nil, err
		}
		rows := []*models.OutboxMail{row}
		*sent = append(*sent, msg)
		if before.Email != nil {
			nrow, nmsg, err := s.mail.Compose(mail.KindEmailChanged, *before.Email, mail.Data{Username: before.Username, Email: to}, now)
			if err != nil {
				return nil, nil, err
			}
			rows = append(rows, nrow)
			*sent = append(*sent, nmsg)
		}
		return tok, rows, nil
	}
}
