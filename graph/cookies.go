package graph

import (
	"context"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
)

// deliver returns the GraphQL payload of a grant. In cookie mode the refresh
// token goes into the HttpOnly cookie and the body's field is null, so page
// script never holds it.
func (r *Resolver) deliver(ctx context.Context, g *auth.Grant) *model.AuthPayload {
	p := authPayload(g)
	if r.Cookies.Enabled() {
		r.Cookies.SetRefresh(ctx, g.RefreshToken, g.RefreshTTL)
		p.RefreshToken = nil
	}
	return p
}

// presentedRefresh returns the refresh token an operation acts on: its
// argument, or else (cookie mode only) the request's cookie.
func (r *Resolver) presentedRefresh(ctx context.Context, arg *string) (token string, fromCookie bool, err error) {
	if arg != nil {
		return *arg, false, nil
	}
	if !r.Cookies.Enabled() {
		return "", false, models.BadField("refreshToken", "refreshToken is required")
	}
	token, err = r.Cookies.RefreshToken(ctx)
	return token, err == nil, err
}
