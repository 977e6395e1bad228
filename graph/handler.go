package graph

import (
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// Options configure the GraphQL handler.
type Options struct {
	Introspection   bool // allow schema introspection (development, or PLAYGROUND=true)
	ComplexityLimit int  // maximum query complexity; <= 0 means 200
	// Observer, when set, is told the type, result and duration of each
	// request (metrics).
	Observer Observer
	// Live, when set, serves subscriptions over the websocket transport
	// (graphql-transport-ws) and tracks the connections.
	Live *Live
	// AllowedOrigins are the CORS origins, which may open websockets
	// besides the server's own origin.
	AllowedOrigins []string
	// CookieMode lets a websocket handshake authenticate with the refresh
	// cookie when connection_init carries no Authorization.
	CookieMode bool
}

// NewHandler returns the GraphQL endpoint: POST (and GET for queries only),
// the websocket transport for subscriptions when opts.Live is set (live.go,
// websocket.go),
// the error presenter, panic recovery, a parsed-query cache, automatic
// persisted queries, the operation limits, the checks on arguments
// (input.go), introspection or its typed refusal (introspection.go), and
// HTTP 401 for authentication failures under
// application/graphql-response+json (httpstatus.go).
func NewHandler(r *Resolver, opts Options) http.Handler {
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.ComplexityLimit <= 0 {
		opts.ComplexityLimit = 200
	}
	srv := handler.New(NewExecutableSchema(Config{
		Resolvers: r,
		Directives: DirectiveRoot{
			Auth:        authDirective,
			HasRole:     hasRoleDirective,
			HasScope:    hasScopeDirective,
			SessionOnly: sessionOnlyDirective,
			SelfOrAdmin: selfOrAdminDirective,
		},
	}))
	srv.AddTransport(transport.Options{})
	if opts.Live != nil {
		// Before GET: a handshake is a GET with Upgrade: websocket.
		srv.AddTransport(websocketTransport(opts.Live))
	}
	// GET carries queries only (gqlgen refuses mutations over GET), so a
	// link or an <img> can never trigger a mutation.
	srv.AddTransport(transport.GET{})
	srv.AddTransport(newPOST()) // transport.go
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withLoaders(ctx, r.Store))
	})
	srv.SetQueryCache(newQueryCache())
	srv.SetValidationRulesFn(validationRules)
	srv.SetErrorPresenter(presentError(log))
	srv.SetRecoverFunc(recoverPanic(log))
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
	}
	srv.Use(&textArguments{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: newPersistedQueryCache()})
	srv.Use(newComplexityLimit(opts.ComplexityLimit))
	srv.Use(oneCredentialField{})
	srv.Use(authStatus{})
	h := requireTransport(withAuthStatus(opts.Observer, srv))
	if opts.Live == nil {
		return h
	}
	ws := serveWebsocket(opts.Live, opts, srv)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) && r.Method == http.MethodGet {
			ws.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// newPOST is the POST transport: Ironclad's own (transport.go); tests
// swap in gqlgen's to compare the two.
var newPOST = func() graphql.Transport { return postTransport{} }

// isJSON reports whether a Content-Type names a JSON body gqlgen's POST
// transport takes. The usual exact header skips the MIME parser.
func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json" || mt == graphQLResponseJSON
}

// requireTransport answers requests no transport accepts (another method, a
// POST that is not JSON) with a typed GraphQL error, as every other error
// is, instead of gqlgen's bare "transport not supported".
func requireTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, msg := 0, ""
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
		case http.MethodPost:
			if !isJSON(r.Header.Get("Content-Type")) {
				status, msg = http.StatusUnsupportedMediaType, "POST a JSON body with Content-Type: application/json"
			}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			status, msg = http.StatusMethodNotAllowed, "use POST (or GET for queries)"
		}
		if status == 0 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": "BAD_REQUEST"}}},
			"data":   nil,
		})
	})
}
