package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ironclad-auth/ironclad/auth"
)

// authDirective implements @auth: the field resolves only for a request
// whose access token names an active user and a live session.
func authDirective(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if v := auth.ViewerFrom(ctx); v.User == nil {
		return nil, v.Err
	}
	return next(ctx)
}
