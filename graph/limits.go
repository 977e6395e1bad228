package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ironclad-auth/ironclad/models"
)

// credentialFields are the root fields that check or hash a secret. An
// operation may hold at most one of them, so aliases cannot multiply password
// guesses: the operation is refused before anything runs, so no password is
// hashed.
var credentialFields = map[string]bool{"login": true, "refreshToken": true, "register": true, "changePassword": true,
	// Mail tokens are secrets too, and each reset request sends a mail.
	"requestPasswordReset": true, "resetPassword": true, "verifyEmail": true, "sendVerificationEmail": true}

// oneCredentialField refuses operations selecting more than one credential
// field, counting aliases and fragments.
type oneCredentialField struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = oneCredentialField{}

func (oneCredentialField) ExtensionName() string                   { return "OneCredentialField" }
func (oneCredentialField) Validate(graphql.ExecutableSchema) error { return nil }
func (oneCredentialField) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	// Every credential field is a mutation: queries need no walk.
	if oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return nil
	}
	n := 0
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, nil) {
		if credentialFields[f.Name] {
			n++
		}
	}
	if n > 1 {
		return &gqlerror.Error{
			Message:    "an operation may contain at most one login, refreshToken, register, changePassword, requestPasswordReset, resetPassword, verifyEmail or sendVerificationEmail field",
			Extensions: map[string]any{"code": string(models.CodeBadUserInput)},
		}
	}
	return nil
}
