package app

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/ironclad-auth/ironclad/app/playground"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph"
)

// GraphQLPath is the GraphQL endpoint, and the only path the refresh cookie
// is sent to.
const GraphQLPath = "/query"

// maxBodyBytes bounds a request body: GraphQL operations are small.
const maxBodyBytes = 1 << 20

// Handler builds every route of the server in one place.
func (a *App) Handler() http.Handler {
	gql := graph.NewHandler(&graph.Resolver{Auth: a.Auth, Store: a.Store, Log: a.Log, Cookies: a.Cookies}, graph.Options{
		Introspection:  a.Config.Playground,
		Observer:       graphObserver(a.Metrics),
		Live:           a.Live,
		AllowedOrigins: a.Config.CORSAllowedOrigins,
		CookieMode:     a.Config.RefreshTokenCookie,
	})
	mux := http.NewServeMux()
	mux.Handle(GraphQLPath, withTimeout(a.Config.RequestTimeout,
		withCORS(a.Config.CORSAllowedOrigins, a.Cookies.Middleware(a.Auth.Middleware(limitBody(gql))))))
	mux.Handle(JWKSPath, withPublicCORS(a.jwksHandler))
	mux.Handle(DiscoveryPath, withPublicCORS(a.discoveryHandler))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if a.draining.Load() {
			// Shutting down: the load balancer should stop sending here
			// while in-flight and late requests are still served.
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "shutting down\n")
			return
		}
		if err := a.Store.Ping(ctx); err != nil {
			a.Log.WarnContext(ctx, "readiness check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "database unreachable\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	if !a.Config.Production {
		// The development mailbox: mails carry live tokens, so never in
		// production (the route does not exist there: 404).
		mux.HandleFunc("GET "+DevMailPath, a.devMailHandler)
	}
	if a.Config.Playground {
		// The playground is same-origin script, so it may send the CSRF
		// header: refreshToken without an argument then works in cookie mode.
		pg := playground.Handler(playground.Options{
			Title:          "Ironclad",
			Endpoint:       GraphQLPath,
			FetcherHeaders: map[string]string{auth.CSRFHeaders[0]: "graphiql"},
			CookieMode:     a.Config.RefreshTokenCookie,
		})
		mux.Handle("GET /{$}", pg)
		mux.Handle("GET "+playground.AssetsPath, pg)
	}
	return withRequestID(a.Config.TrustedProxies, accessLog(a.Log, a.closeWhenDraining(securityHeaders(mux))))
}

// Drain marks the server as shutting down: /readyz answers 503 from now on,
// and every response asks its client to close the connection, so keep-alive
// connections end one by one after their next response instead of being
// cut while a request may be on its way. The audit events buffered now are
// written at once (Close writes the rest). Websockets, which http.Server's
// Shutdown does not track, are closed at once with 1001 (going away): their
// clients reconnect to another replica.
func (a *App) Drain() {
	a.draining.Store(true)
	if a.Audit != nil {
		go a.Audit.Flush(context.Background()) // each batch is bounded by its own timeout
	}
	a.Live.Shutdown()
}

// closeWhenDraining adds Connection: close to responses once Drain was
// called; net/http then closes the connection after the response.
func (a *App) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
