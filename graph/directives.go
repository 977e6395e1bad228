package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
)

// The directives of the schema's authorization policy (see authz.graphqls).
// gqlgen runs a field's directives from the last written to the first, so
// each one checks authentication itself rather than relying on @auth.

// errSessionRequired refuses a personal access token on a field that is for
// sessions alone.
var errSessionRequired = &models.Error{
	Code:    models.CodeForbidden,
	Reason:  models.ReasonSessionRequired,
	Message: "this field cannot be used with a personal access token; log in",
}

// guard returns the authenticated viewer, or the error a guarded field
// answers: why the request is not authenticated, or, for a personal access
// token, FORBIDDEN when the field names no scope with @hasScope (a token may
// use only what its scopes allow; fields without a scope are for sessions).
func guard(ctx context.Context) (auth.Viewer, error) {
	v := auth.ViewerFrom(ctx)
	if v.User == nil {
		return v, v.Err
	}
	if v.ByPersonalToken() && !fieldHas(ctx, "hasScope") {
		return v, errSessionRequired
	}
	return v, nil
}

// fieldHas reports whether the field being resolved carries the directive.
func fieldHas(ctx context.Context, directive string) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Field.Definition != nil && fc.Field.Definition.Directives.ForName(directive) != nil
}

// authDirective implements @auth: the field resolves only for a request
// whose access token names an active user and a live session, or is a live
// personal access token of an active user.
func authDirective(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	if _, err := guard(ctx); err != nil {
		return nil, err
	}
	return next(ctx)
}

// hasRoleDirective implements @hasRole(role).
func hasRoleDirective(ctx context.Context, _ any, next graphql.Resolver, role models.Role) (any, error) {
	v, err := guard(ctx)
	if err != nil {
		return nil, err
	}
	if v.User.Role != role {
		return nil, models.Forbidden("this requires the " + string(role) + " role")
	}
	return next(ctx)
}

// hasScopeDirective implements @hasScope(scope).
func hasScopeDirective(ctx context.Context, _ any, next graphql.Resolver, scope models.Scope) (any, error) {
	v, err := guard(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Scopes.Has(scope) {
		if v.ByPersonalToken() {
			return nil, &models.Error{Code: models.CodeForbidden, Reason: models.ReasonInsufficientScope,
				Message: "this access token lacks the " + string(scope) + " scope"}
		}
		return nil, models.Forbidden("your role does not allow this")
	}
	return next(ctx)
}

// sessionOnlyDirective implements @sessionOnly: account management is never
// open to a personal access token, whatever its scopes.
func sessionOnlyDirective(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	v, err := guard(ctx)
	if err != nil {
		return nil, err
	}
	if v.ByPersonalToken() {
		return nil, errSessionRequired
	}
	return next(ctx)
}

// selfOrAdminDirective implements @selfOrAdmin: the field resolves for the
// user it is about — the parent User (obj), or the user named by the field's
// id argument — and for an admin; an access token acts as an admin only with
// USERS_READ. Anyone else gets null on a nullable field (User.email) and
// FORBIDDEN on a non-null one (updateProfile). A User inside an AuthPayload
// is the caller's own: they just proved its credentials.
func selfOrAdminDirective(ctx context.Context, obj any, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc.Parent != nil && fc.Parent.Object == "AuthPayload" {
		return next(ctx)
	}
	nonNull := fc.Field.Definition != nil && fc.Field.Definition.Type.NonNull
	var target string
	if id, ok := fc.Args["id"].(string); ok {
		target = id
	} else if u, ok := obj.(*models.User); ok && u != nil {
		target = u.ID
	}
	v := auth.ViewerFrom(ctx)
	switch {
	case v.User != nil && target != "" && v.User.ID == target:
		return next(ctx)
	case v.User != nil && v.User.Role == models.RoleAdmin && v.Scopes.Has(models.ScopeUsersRead):
		return next(ctx)
	case !nonNull:
		return nil, nil
	case v.User == nil:
		return nil, v.Err
	}
	return nil, models.Forbidden("only the user themself or an admin may do this")
}
