package auth

import (
	"net/http"
	"strings"
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
