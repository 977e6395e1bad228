package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ironclad-auth/ironclad/models"
)

// errIntrospectionDisabled answers __schema and __type when introspection
// is off. It is the caller's request, not a fault: never logged as one.
var errIntrospectionDisabled = &models.Error{
	Code:    models.CodeForbidden,
	Reason:  models.ReasonIntrospectionDisabled,
	Message: "introspection is disabled on this server",
}

// noIntrospection refuses the introspection root fields, __schema and
// __type, while introspection is off (Options.Introspection false). gqlgen
// would refuse them too, with an uncoded error the presenter could only
// log and answer as INTERNAL_SERVER_ERROR. __typename stays allowed: clients
// add it everywhere, and it reveals nothing the response does not show.
type noIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.RootFieldInterceptor
} = noIntrospection{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (noIntrospection) InterceptRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	rc := graphql.GetRootFieldContext(ctx)
	if rc == nil || (rc.Field.Name != "__schema" && rc.Field.Name != "__type") {
		return next(ctx)
	}
	if oc := graphql.GetOperationContext(ctx); !oc.DisableIntrospection {
		return next(ctx) // turned on for this operation by another extension
	}
	err := &gqlerror.Error{Err: errIntrospectionDisabled, Path: ast.Path{ast.PathName(rc.Field.Alias)}}
	if pos := rc.Field.Position; pos != nil {
		err.Locations = []gqlerror.Location{{Line: pos.Line, Column: pos.Column}}
	}
	graphql.AddError(ctx, err)
	return graphql.Null
}
