// Package requestid carries the id of the request being served through its
// context, so that every log line and audit event of one request can name it.
// The HTTP layer (app) assigns the id; everything below only reads it.
package requestid

import "context"

type ctxKey struct{}

// With returns a context that carries id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request id ctx carries, or "" outside a request.
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}
