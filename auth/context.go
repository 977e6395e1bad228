package auth

import (
	"context"
	"sync"
	"time"

	"github.com/ironclad-auth/ironclad/models"
)

// ctxKey is the one context key of this package; values behind it are only
// reachable through the accessor functions below.
type ctxKey struct{}

// Viewer is the outcome of authenticating one request.
type Viewer struct {
	User      *models.User // nil unless a valid access token names an active user
	SessionID string       // the session (sid) of the access token, when a JWT authenticated the request
	// PersonalTokenID names the personal access token that authenticated the
	// request; empty for a session (JWT).
	PersonalTokenID string
	// Scopes are what the request may use: for a session, every scope of
	// the user's role; for a personal access token, its scopes that the
	// role still grants.
	Scopes models.Scopes
	// ExpiresAt is when the credential stops being accepted: an access
	// token's exp plus JWT_LEEWAY, a personal access token's expiry; zero
	// when it never expires. A live connection ends then.
	ExpiresAt time.Time
	Err       error // why User is nil: ErrMissingToken, ErrTokenExpired, ErrInvalidToken, ...
}

// ByPersonalToken reports whether a personal access token, not a session,
// authenticated the request.
func (v Viewer) ByPersonalToken() bool { return v.PersonalTokenID != "" }

// Client describes the caller of a request, as seen at the HTTP layer.
type Client struct {
	IP        string
	UserAgent string
}

// request is what the middleware stores in the context: the client, and the
// viewer, resolved lazily so that public operations (login, refreshToken)
// never touch the token or the database, and at most once per request since
// gqlgen may resolve fields concurrently.
type request struct {
	client  Client
	resolve func() Viewer
	live    bool // resolve on every call: a connection's current viewer
	once    sync.Once
	viewer  Viewer
}

func (r *request) get() Viewer {
	if r.live {
		return r.resolve()
	}
	r.once.Do(func() { r.viewer = r.resolve() })
	return r.viewer
}

// WithViewer returns a context carrying a fixed viewer (for tests and
// callers outside HTTP).
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, &request{resolve: func() Viewer { return v }})
}

// WithLiveViewer returns a context whose viewer is current() at every
// ViewerFrom, keeping the client of ctx: a long-lived connection (a
// websocket) authenticated once and re-checked while it lives, whose
// operations must see its latest viewer.
func WithLiveViewer(ctx context.Context, current func() Viewer) context.Context {
	return withRequest(ctx, &request{client: ClientFrom(ctx), resolve: current, live: true})
}

func withRequest(ctx context.Context, r *request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// ViewerFrom returns the viewer of the request in ctx, authenticating it on
// first use. Without the middleware it reports ErrMissingToken.
func ViewerFrom(ctx context.Context) Viewer {
	if r, ok := ctx.Value(ctxKey{}).(*request); ok {
		return r.get()
	}
	return Viewer{Err: ErrMissingToken}
}

// ClientFrom returns the client of the request in ctx.
func ClientFrom(ctx context.Context) Client {
	if r, ok := ctx.Value(ctxKey{}).(*request); ok {
		return r.client
	}
	return Client{}
}
