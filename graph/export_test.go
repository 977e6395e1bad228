package graph

import (
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// UseGqlgenPOST makes handlers built from now on use gqlgen's own POST
// transport (on) or Ironclad's (off), to compare the two.
func UseGqlgenPOST(on bool) {
	if on {
		newPOST = func() graphql.Transport { return transport.POST{} }
	} else {
		newPOST = func() graphql.Transport { return postTransport{} }
	}
}
