package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Personal access tokens: opaque, scoped credentials for integrators, sent
// as "Authorization: Bearer icl_...", stored only as their SHA-256 hash.
const (
	// PersonalTokenPrefix starts every personal access token, so the
	// middleware tells them from JWTs and secret scanners recognise them.
	PersonalTokenPrefix = "icl_"
	// MaxPersonalTokenNameLen bounds a token's name, in characters.
	MaxPersonalTokenNameLen = 100
	// MinPersonalTokenTTL and MaxPersonalTokenTTL bound createPersonalAccessToken's
	// expiresIn; without expiresIn a token lives until revoked.
	MinPersonalTokenTTL = time.Minute
	MaxPersonalTokenTTL = 366 * 24 * time.Hour
	// personalTokenLen is the length of a token: the prefix and 256 random
	// bits in base64url.
	personalTokenLen = len(PersonalTokenPrefix) + 43
	// touchInterval is how stale a token's lastUsedAt may be: it is written
	// at most once per interval per token, across replicas.
	touchInterval = time.Minute
)

// PersonalTokens creates, lists, revokes and authenticates personal access
// tokens. Its methods act for the viewer of ctx.
type PersonalTokens struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
	audit auditor
}

// ErrPersonalTokenRevoked refuses a personal access token that was revoked.
var ErrPersonalTokenRevoked = models.Unauthenticated(models.ReasonTokenRevoked, "access token revoked")

// NewPersonalToken returns a new personal access token and the hash to store:
// the prefix and 256 bits from crypto/rand.
func NewPersonalToken() (plain, hash string, err error) {
	r, err := randomString(32)
	if err != nil {
		return "", "", fmt.Errorf("new personal access token: %w", err)
	}
	plain = PersonalTokenPrefix + r
	return plain, hashOpaqueToken(plain), nil
}

// Create creates a personal access token for the viewer, named name, with
// scopes (each must be granted by the viewer's role), expiring after
// expiresIn when it is set. It returns the token, shown only this once, and
// its record.
func (p *PersonalTokens) Create(ctx context.Context, name string, scopes models.Scopes, expiresIn *time.Duration) (string, *models.PersonalToken, error) {
	u := ViewerFrom(ctx).User
	if u == nil {
		return "", nil, ViewerFrom(ctx).Err
	}
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", nil, models.BadField("name", "name is required")
	case n > MaxPersonalTokenNameLen:
		return "", nil, models.BadField("name", fmt.Sprintf("name must be at most %d characters", MaxPersonalTokenNameLen))
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
	now := p.now().UTC()
	t := &models.PersonalToken{UserID: u.ID, Name: name, Scopes: scopes, CreatedAt: now}
	if expiresIn != nil {
		if *expiresIn < MinPersonalTokenTTL || *expiresIn > MaxPersonalTokenTTL {
			return "", nil, models.BadField("expiresIn", fmt.Sprintf("expiresIn must be between %d and %d seconds",
				int(MinPersonalTokenTTL.Seconds()), int(MaxPersonalTokenTTL.Seconds())))
		}
		exp := now.Add(*expiresIn)
		t.ExpiresAt = &exp
	}
	plain, hash, err := NewPersonalToken()
	if err != nil {
		return "", nil, err
	}
	t.TokenHash = hash
	// The id is known before the insert, so the event can name the token.
	t.ID = uuid.NewString()
	ev := p.audit.event(ctx, models.AuditPersonalTokenCreate, u.ID, ViewerFrom(ctx).SessionID,
		map[string]any{"token_id": t.ID, "name": name, "scopes": scopes})
	if err := p.store.CreatePersonalToken(with(ctx, ev), t); err != nil {
		return "", nil, fmt.Errorf("create access token: %w", err)
	}
	p.log.InfoContext(ctx, "personal access token created", "event", "personal_token_created", "user_id", u.ID, "token_id", t.ID, "scopes", scopes)
	return plain, t, nil
}

// List returns the viewer's personal access tokens that are not revoked,
// newest first.
func (p *PersonalTokens) List(ctx context.Context) ([]*models.PersonalToken, error) {
	u := ViewerFrom(ctx).User
	if u == nil {
		return nil, ViewerFrom(ctx).Err
	}
	return p.store.PersonalTokensOf(ctx, u.ID)
}

// Revoke revokes the viewer's token id at once. It reports whether this call
// revoked it (false for an unknown token, another user's, or one already
// revoked).
func (p *PersonalTokens) Revoke(ctx context.Context, id string) (bool, error) {
	u := ViewerFrom(ctx).User
	if u == nil {
		return false, ViewerFrom(ctx).Err
	}
	ev := p.audit.event(ctx, models.AuditPersonalTokenRevoke, u.ID, ViewerFrom(ctx).SessionID, map[string]any{"token_id": id})
	ok, err := p.store.RevokePersonalToken(with(ctx, ev), u.ID, id, p.now())
	if err != nil {
		return false, err
	}
	if ok {
		p.log.InfoContext(ctx, "personal access token revoked", "event", "personal_token_revoked", "user_id", u.ID, "token_id", id)
	}
	return ok, nil
}

// authenticate is Authenticate for a personal access token: one
// statement loads the token and its user; revoked and expired tokens and
// inactive users are refused at once; lastUsedAt is written at most once per
// touchInterval.
func (p *PersonalTokens) authenticate(ctx context.Context, token string) Viewer {
	if len(token) != personalTokenLen {
		return Viewer{Err: ErrInvalidToken}
	}
	t, u, err := p.store.PersonalTokenByHash(ctx, hashOpaqueToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Viewer{Err: ErrInvalidToken}
	case err != nil:
		return Viewer{Err: fmt.Errorf("authenticate personal access token: %w", err)}
	}
	now := p.now().UTC()
	switch {
	case t.RevokedAt != nil:
		return Viewer{Err: ErrPersonalTokenRevoked}
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return Viewer{Err: ErrTokenExpired}
	case !u.Active:
		return Viewer{Err: ErrUserInactive}
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchInterval {
		// The row we read says a write is due; the conditional UPDATE
		// decides, so replicas racing here write once. A failed write
		// costs only freshness: the request goes on.
		if _, err := p.store.TouchPersonalToken(ctx, t.ID, now, touchInterval); err != nil {
			p.log.WarnContext(ctx, "record personal access token use", "token_id", t.ID, "err", err)
		}
	}
	// A token never outranks its owner: a scope the role no longer grants
	// (an admin demoted since) is dropped.
	v := Viewer{User: u, PersonalTokenID: t.ID, Scopes: t.Scopes.Intersect(models.RoleScopes(u.Role))}
	if t.ExpiresAt != nil {
		v.ExpiresAt = *t.ExpiresAt
	}
	return v
}
