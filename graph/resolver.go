//go:generate go run github.com/99designs/gqlgen generate

// Package graph is Ironclad's GraphQL layer: the schema, gqlgen's generated
// executor, resolvers, directives and the error presenter.
package graph

import (
	"log/slog"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/store"
)

// Resolver is the dependency root shared by every resolver.
type Resolver struct {
	Auth    *auth.Service
	Store   *store.Store
	Log     *slog.Logger
	Cookies *auth.Cookies // refresh-token cookie mode; nil means off
}
