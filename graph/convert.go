package graph

import (
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
)

// authPayload converts an auth.Grant to its GraphQL shape.
func authPayload(g *auth.Grant) *model.AuthPayload {
	return &model.AuthPayload{
		AccessToken:      g.AccessToken,
		RefreshToken:     &g.RefreshToken,
		TokenType:        "Bearer",
		ExpiresIn:        int(g.AccessTTL.Seconds()),
		RefreshExpiresIn: int(g.RefreshTTL.Seconds()),
		User:             g.User,
	}
}
