package app

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"

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
		Introspection: a.Config.Playground,
	})
	mux := http.NewServeMux()
	mux.Handle(GraphQLPath, withCORS(a.Config.CORSAllowedOrigins, a.Cookies.Middleware(a.Auth.Middleware(limitBody(gql)))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := a.Store.Ping(ctx); err != nil {
			a.Log.WarnContext(ctx, "readiness check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "database unreachable\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	if a.Config.Playground {
		// The playground is same-origin script, so it may send the CSRF
		// header: refreshToken without an argument then works in cookie mode.
		mux.Handle("GET /{$}", playground.Handler("Ironclad", GraphQLPath,
			playground.WithGraphiqlFetcherHeaders(map[string]string{auth.CSRFHeaders[0]: "graphiql"})))
	}
	return accessLog(a.Log, securityHeaders(mux))
}
