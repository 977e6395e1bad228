package auth

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// RefreshCookieName is the name of the refresh-token cookie of cookie mode.
const RefreshCookieName = "ironclad_refresh"

// CSRFHeaders are the request headers, any one of which (with any value)
// marks a request as sent by script: a cross-site HTML form cannot set them,
// and a cross-origin fetch that does must pass a CORS preflight first.
var CSRFHeaders = []string{"X-Requested-With", "Apollo-Require-Preflight"}

// Errors of cookie mode.
var (
	// ErrCSRFHeaderMissing refuses an operation that would use the refresh
	// cookie without one of CSRFHeaders.
	ErrCSRFHeaderMissing = &models.Error{
		Code:    models.CodeBadRequest,
		Reason:  models.ReasonCSRFHeaderMissing,
		Message: "operations that use the refresh-token cookie need an X-Requested-With or Apollo-Require-Preflight header",
	}
	// ErrNoRefreshCookie means neither an argument nor the cookie carried a
	// refresh token.
	ErrNoRefreshCookie = models.Unauthenticated(models.ReasonRefreshInvalid, "no refresh token: pass refreshToken or send the refresh-token cookie")
)

// CookieConfig is the refresh-token cookie policy.
type CookieConfig struct {
	Enabled bool   // REFRESH_TOKEN_COOKIE: deliver refresh tokens in a cookie, not the body
	Secure  bool   // COOKIE_SECURE: send the cookie over HTTPS only
	Path    string // the GraphQL endpoint; the browser sends the cookie nowhere else
}

// Cookies delivers refresh tokens in an HttpOnly cookie (cookie mode) and
// reads them back. A nil or disabled *Cookies does nothing: refresh tokens
// then travel in GraphQL arguments and response bodies only.
type Cookies struct {
	cfg CookieConfig
}

// NewCookies returns the cookie policy cfg describes.
func NewCookies(cfg CookieConfig) *Cookies {
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	return &Cookies{cfg: cfg}
}

// Enabled reports whether cookie mode is on.
func (c *Cookies) Enabled() bool { return c != nil && c.cfg.Enabled }

// jar is one request's view of the refresh cookie: the value it arrived
// with, and the cookies to send back. Resolvers run before gqlgen writes the
// body, so whatever they put here reaches the response headers.
type jar struct {
	mu      sync.Mutex
	refresh string // the request's refresh cookie, "" if none
	csrfOK  bool   // the request carried one of CSRFHeaders
	out     []*http.Cookie
	sent    bool
}

type jarKey struct{}

func jarFrom(ctx context.Context) *jar {
	j, _ := ctx.Value(jarKey{}).(*jar)
	return j
}

// Middleware gives each request a cookie jar that SetRefresh and
// ClearRefresh write to, and applies it to the response just before its
// headers are sent. When cookie mode is off it returns next unchanged.
func (c *Cookies) Middleware(next http.Handler) http.Handler {
	if !c.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j := &jar{csrfOK: hasCSRFHeader(r)}
		if ck, err := r.Cookie(RefreshCookieName); err == nil {
			j.refresh = ck.Value
		}
		cw := &cookieWriter{ResponseWriter: w, jar: j}
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), jarKey{}, j)))
		cw.apply() // a handler that wrote nothing still gets its cookies
	})
}

func hasCSRFHeader(r *http.Request) bool {
	for _, h := range CSRFHeaders {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// RefreshToken returns the refresh token of the request's cookie. Using the
// cookie requires one of CSRFHeaders: the browser attaches the cookie to any
// request to the GraphQL path, including ones a hostile page provokes.
func (c *Cookies) RefreshToken(ctx context.Context) (string, error) {
	j := jarFrom(ctx)
	if !c.Enabled() || j == nil {
		return "", ErrNoRefreshCookie
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.csrfOK {
		return "", ErrCSRFHeaderMissing
	}
	if j.refresh == "" {
		return "", ErrNoRefreshCookie
	}
	return j.refresh, nil
}

// SetRefresh sends token as the refresh cookie, to expire with the token.
func (c *Cookies) SetRefresh(ctx context.Context, token string, ttl time.Duration) {
	maxAge := int(ttl / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	c.add(ctx, token, maxAge)
}

// ClearRefresh tells the browser to forget the refresh cookie.
func (c *Cookies) ClearRefresh(ctx context.Context) {
	c.add(ctx, "", -1) // MaxAge < 0 is sent as Max-Age=0: delete now
}

func (c *Cookies) add(ctx context.Context, value string, maxAge int) {
	j := jarFrom(ctx)
	if !c.Enabled() || j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// The last decision of a request wins: a refresh that fails after a
	// clear, or the reverse, sends one cookie only.
	j.out = []*http.Cookie{{
		Name:     RefreshCookieName,
		Value:    value,
		Path:     c.cfg.Path,
		MaxAge:   maxAge,
		HttpOnly: true, // never readable by script: XSS cannot steal it
		Secure:   c.cfg.Secure,
		SameSite: http.SameSiteStrictMode, // never sent on cross-site requests
	}}
}

// cookieWriter applies its jar to the headers when the response starts.
type cookieWriter struct {
	http.ResponseWriter
	jar *jar
}

func (w *cookieWriter) apply() {
	w.jar.mu.Lock()
	defer w.jar.mu.Unlock()
	if w.jar.sent {
		return
	}
	w.jar.sent = true
	for _, ck := range w.jar.out {
		http.SetCookie(w.ResponseWriter, ck)
	}
}

func (w *cookieWriter) WriteHeader(code int) {
	w.apply()
	w.ResponseWriter.WriteHeader(code)
}

func (w *cookieWriter) Write(b []byte) (int, error) {
	w.apply()
	return w.ResponseWriter.Write(b)
}

func (w *cookieWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
