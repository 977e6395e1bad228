package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Middleware authenticates requests for the handlers it wraps. It reads
// "Authorization: Bearer <token>" and makes the verified identity available
// through ViewerFrom. It never rejects a request: login and refreshToken must
// work with a stale or garbage header, and @auth decides per field.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		ctx := r.Context()
		req := &request{client: s.clientOf(r)}
		req.resolve = func() Viewer { return s.Authenticate(ctx, header) }
		next.ServeHTTP(w, r.WithContext(withRequest(ctx, req)))
	})
}

// bearerToken extracts the token of an Authorization header. ok is false when
// the header is present but not a bearer credential.
func bearerToken(header string) (token string, ok bool) {
	const prefix = "bearer "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	token = strings.TrimSpace(header[len(prefix):])
	return token, token != ""
}

// Authenticate verifies an Authorization header value and loads its user and
// session in one query. It never returns an error: the outcome is the Viewer.
func (s *Service) Authenticate(ctx context.Context, header string) Viewer {
	if header == "" {
		return Viewer{Err: ErrMissingToken}
	}
	token, ok := bearerToken(header)
	if !ok {
		return Viewer{Err: ErrInvalidToken}
	}
	if strings.HasPrefix(token, PersonalTokenPrefix) {
		return s.PersonalTokens.authenticate(ctx, token)
	}
	userID, sessionID, until, err := s.tokens.verifyCached(token)
	if err != nil {
		return Viewer{Err: err}
	}
	v := s.AuthenticateSession(ctx, userID, sessionID)
	if v.User != nil {
		v.ExpiresAt = until
	}
	return v
}

// AuthenticateSession loads the user and session of a verified credential
// as Authenticate does for an access token: the Viewer of an active user's
// live session, or why not. A live connection re-checks its session with
// it when it hears that the user or session changed.
func (s *Service) AuthenticateSession(ctx context.Context, userID, sessionID string) Viewer {
	u, live, err := s.store.Identity(ctx, userID, sessionID, s.opts.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Viewer{Err: ErrUserInactive}
	case err != nil:
		return Viewer{Err: fmt.Errorf("authenticate: %w", err)}
	case !u.Active:
		return Viewer{Err: ErrUserInactive}
	case !live:
		return Viewer{Err: ErrSessionRevoked}
	}
	return Viewer{User: u, SessionID: sessionID, Scopes: models.RoleScopes(u.Role)}
}

// AuthenticateRefreshToken is the Viewer of the session a refresh token
// belongs to, when the token would be accepted now (the order of checks
// is refreshing's), without using it: nothing is rotated or written. It
// authenticates a websocket handshake carrying the refresh cookie; the
// Viewer's ExpiresAt is the token's end.
func (s *Service) AuthenticateRefreshToken(ctx context.Context, token string) Viewer {
	info, err := s.VerifyToken(ctx, token)
	switch {
	case err != nil:
		return Viewer{Err: err}
	case info.TokenType != "refresh":
		return Viewer{Err: ErrInvalidToken}
	case !info.Valid:
		return Viewer{Err: models.Unauthenticated(info.Reason, "the refresh token is not accepted")}
	}
	tok, _, _, err := s.store.RefreshTokenByHash(ctx, hashOpaqueToken(token))
	if err != nil {
		return Viewer{Err: fmt.Errorf("authenticate refresh token: %w", err)}
	}
	v := s.AuthenticateSession(ctx, tok.UserID, tok.SessionID)
	if v.User != nil {
		v.ExpiresAt = info.ExpiresAt
	}
	return v
}
