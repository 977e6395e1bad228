package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// TokenInfo describes a token as verifyToken reports it.
type TokenInfo struct {
	Valid     bool
	Reason    string    // why not valid: a reason of the error table
	TokenType string    // "access" or "refresh"; empty when unrecognised
	Subject   string    // the user id, for authentic tokens
	ExpiresAt time.Time // zero when unknown
}

// VerifyToken says whether an access or refresh token would be accepted now,
// and if not, why. A bad token is never an error; only a failing database is.
// It changes nothing: inspecting a rotated refresh token is not reuse.
func (s *Service) VerifyToken(ctx context.Context, token string) (TokenInfo, error) {
	if strings.Count(token, ".") == 2 {
		return s.verifyAccess(ctx, token)
	}
	if token == "" || len(token) > maxRefreshLen {
		return TokenInfo{Reason: models.ReasonInvalidToken}, nil
	}
	tok, sess, u, err := s.store.RefreshTokenByHash(ctx, hashOpaqueToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return TokenInfo{Reason: models.ReasonInvalidToken}, nil
	}
	if err != nil {
		return TokenInfo{}, fmt.Errorf("verify token: %w", err)
	}
	info := TokenInfo{TokenType: "refresh", Subject: tok.UserID, ExpiresAt: minTime(tok.ExpiresAt, sess.ExpiresAt)}
	now := s.opts.Now().UTC()
	// The same order as refreshing: deactivation also ends the sessions,
	// and user_inactive says why.
	switch {
	case !u.Active:
		info.Reason = models.ReasonUserInactive
	case sess.RevokedAt != nil:
		info.Reason = models.ReasonSessionRevoked
	case tok.UsedAt != nil:
		info.Reason = models.ReasonRefreshReused
	case tok.RevokedAt != nil:
		info.Reason = models.ReasonRefreshInvalid
	case !now.Before(info.ExpiresAt):
		info.Reason = models.ReasonRefreshExpired
	default:
		info.Valid = true
	}
	return info, nil
}

func (s *Service) verifyAccess(ctx context.Context, token string) (TokenInfo, error) {
	claims, err := s.tokens.inspectAccess(token)
	if claims == nil {
		return TokenInfo{Reason: models.ReasonOf(err)}, nil
	}
	info := TokenInfo{TokenType: tokenTypeAccess, Subject: claims.Subject}
	if claims.ExpiresAt != nil {
		info.ExpiresAt = claims.ExpiresAt.UTC()
	}
	if err != nil {
		info.Reason = models.ReasonOf(err) // token_expired
		return info, nil
	}
	u, live, err := s.store.Identity(ctx, claims.Subject, claims.SessionID, s.opts.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		info.Reason = models.ReasonUserInactive
	case err != nil:
		return TokenInfo{}, fmt.Errorf("verify token: %w", err)
	case !u.Active:
		info.Reason = models.ReasonUserInactive
	case !live:
		info.Reason = models.ReasonSessionRevoked
	default:
		info.Valid = true
	}
	return info, nil
}
