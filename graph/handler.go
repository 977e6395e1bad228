package graph

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
)

// Options configure the GraphQL handler.
type Options struct {
	Introspection   bool // allow schema introspection (development, or PLAYGROUND=true)
	ComplexityLimit int  // maximum query complexity; <= 0 means 200
}

// NewHandler returns the GraphQL endpoint: POST (and GET for queries only),
// the error presenter, panic recovery, a parsed-query cache, automatic
// persisted queries, the operation limits, and HTTP 401 for authentication
// failures under application/graphql-response+json (httpstatus.go).
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
	// GET carries queries only (gqlgen refuses mutations over GET), so a
	// link or an <img> can never trigger a mutation.
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withLoaders(ctx, r.Store))
	})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetErrorPresenter(presentError(log))
	srv.SetRecoverFunc(recoverPanic(log))
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(opts.ComplexityLimit))
	srv.Use(oneCredentialField{})
	srv.Use(authStatus{})
	return withAuthStatus(srv)
}
