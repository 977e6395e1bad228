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
	userID, sessionID, err := s.tokens.verifyCached(token)
	if err != nil {
		return Viewer{Err: err}
	}
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
