package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Personal access tokens: opaque, scoped credentials for integrators, sent
// as "Authorization: Bearer icl_...", stored only as their SHA-256 hash.
const (
	// AccessTokenPrefix starts every personal access token, so the
	// middleware tells them from JWTs and secret scanners recognise them.
	AccessTokenPrefix = "icl_"
	// MaxAccessTokenNameLen bounds a token's name, in characters.
	MaxAccessTokenNameLen = 100
	// MinAccessTokenTTL and MaxAccessTokenTTL bound createAccessToken's
	// expiresIn; without expiresIn a token lives until revoked.
	MinAccessTokenTTL = time.Minute
	MaxAccessTokenTTL = 366 * 24 * time.Hour
	// accessTokenLen is the length of a token: the prefix and 256 random
	// bits in base64url.
	accessTokenLen = len(AccessTokenPrefix) + 43
	// touchInterval is how stale a token's lastUsedAt may be: it is written
	// at most once per interval per token, across replicas.
	touchInterval = time.Minute
)

// ErrAccessTokenRevoked refuses a personal access token that was revoked.
var ErrAccessTokenRevoked = models.Unauthenticated(models.ReasonTokenRevoked, "access token revoked")

// NewAccessToken returns a new personal access token and the hash to store:
// the prefix and 256 bits from crypto/rand.
func NewAccessToken() (plain, hash string, err error) {
	r, err := randomString(32)
	if err != nil {
		return "", "", fmt.Errorf("new access token: %w", err)
	}
	plain = AccessTokenPrefix + r
	return plain, HashRefreshToken(plain), nil
}

// CreateAccessToken creates a personal access token for u, named name, with
// scopes (each must be granted by u's role), expiring after expiresIn when
// it is set. It returns the token, shown only this once, and its record.
func (s *Service) CreateAccessToken(ctx context.Context, u *models.User, name string, scopes models.Scopes, expiresIn *time.Duration) (string, *models.AccessToken, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", nil, models.BadField("name", "name is required")
	case n > MaxAccessTokenNameLen:
		return "", nil, models.BadField("name", fmt.Sprintf("name must be at most %d characters", MaxAccessTokenNameLen))
	}
	scopes = scopes.Normalize()
	if len(scopes) == 0 {
		return "", nil, models.BadField("scopes", "at least one scope is required")
	}
	granted := models.RoleScopes(u.Role)
	for _, sc := range scopes {
		if !granted.Has(sc) {
			return "", nil, models.Forbidden(fmt.Sprintf("your role does not grant the %s scope", sc))
		}
	}
	now := s.opts.Now().UTC()
	t := &models.AccessToken{UserID: u.ID, Name: name, Scopes: scopes, CreatedAt: now}
	if expiresIn != nil {
		if *expiresIn < MinAccessTokenTTL || *expiresIn > MaxAccessTokenTTL {
			return "", nil, models.BadField("expiresIn", fmt.Sprintf("expiresIn must be between %d and %d seconds",
				int(MinAccessTokenTTL.Seconds()), int(MaxAccessTokenTTL.Seconds())))
		}
		exp := now.Add(*expiresIn)
		t.ExpiresAt = &exp
	}
	plain, hash, err := NewAccessToken()
	if err != nil {
		return "", nil, err
	}
	t.TokenHash = hash
	if err := s.store.CreateAccessToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("create access token: %w", err)
	}
	s.log.InfoContext(ctx, "access token created", "event", "access_token_created", "user_id", u.ID, "token_id", t.ID, "scopes", scopes)
	return plain, t, nil
}

// AccessTokens returns u's personal access tokens that are not revoked,
// newest first.
func (s *Service) AccessTokens(ctx context.Context, u *models.User) ([]*models.AccessToken, error) {
	return s.store.AccessTokensOf(ctx, u.ID)
}

// RevokeAccessToken revokes u's token id at once. It reports whether this
// call revoked it (false for an unknown token, another user's, or one
// already revoked).
func (s *Service) RevokeAccessToken(ctx context.Context, u *models.User, id string) (bool, error) {
	ok, err := s.store.RevokeAccessToken(ctx, u.ID, id, s.opts.Now())
	if err != nil {
		return false, err
	}
	if ok {
		s.log.InfoContext(ctx, "access token revoked", "event", "access_token_revoked", "user_id", u.ID, "token_id", id)
	}
	return ok, nil
}

// authenticateAccessToken is Authenticate for a personal access token: one
// statement loads the token and its user; revoked and expired tokens and
// inactive users are refused at once; lastUsedAt is written at most once per
// touchInterval.
func (s *Service) authenticateAccessToken(ctx context.Context, token string) Viewer {
	if len(token) != accessTokenLen {
		return Viewer{Err: ErrInvalidToken}
	}
	t, u, err := s.store.AccessTokenByHash(ctx, HashRefreshToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Viewer{Err: ErrInvalidToken}
	case err != nil:
		return Viewer{Err: fmt.Errorf("authenticate access token: %w", err)}
	}
	now := s.opts.Now().UTC()
	switch {
	case t.RevokedAt != nil:
		return Viewer{Err: ErrAccessTokenRevoked}
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return Viewer{Err: ErrTokenExpired}
	case !u.Active:
		return Viewer{Err: ErrUserInactive}
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchInterval {
		// The row we read says a write is due; the conditional UPDATE
		// decides, so replicas racing here write once. A failed write
		// costs only freshness: the request goes on.
		if _, err := s.store.TouchAccessToken(ctx, t.ID, now, touchInterval); err != nil {
			s.log.WarnContext(ctx, "record access token use", "token_id", t.ID, "err", err)
		}
	}
	// A token never outranks its owner: a scope the role no longer grants
	// (an admin demoted since) is dropped.
	return Viewer{User: u, AccessTokenID: t.ID, Scopes: t.Scopes.Intersect(models.RoleScopes(u.Role))}
}
