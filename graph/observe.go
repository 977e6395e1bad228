package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ironclad-auth/ironclad/models"
)

// Observer is told the type, result and duration of each GraphQL request
// the executor answered, for metrics. Both labels come from small fixed
// sets: never the operation's name or anything else a client chooses. It is
// called on the request's goroutine once the response is written, so it
// must be cheap and safe for concurrent use.
type Observer interface {
	Operation(op OpType, result Result, d time.Duration)
}

// OpType is the type of a GraphQL operation.
type OpType uint8

// The operation types; OpUnknown when the request failed before an
// operation was chosen (a parse or validation error).
const (
	OpUnknown OpType = iota
	OpQuery
	OpMutation
	OpSubscription
	NumOpTypes // the number of types, for tables indexed by them
)

var opTypes = [NumOpTypes]string{"unknown", "query", "mutation", "subscription"}

// String returns the type's metric label value.
func (o OpType) String() string {
	if o < NumOpTypes {
		return opTypes[o]
	}
	return "unknown"
}

// Result is how a GraphQL request ended: ok without errors, otherwise by
// the code of its first error.
type Result uint8

// The results of a request.
const (
	ResultOK Result = iota
	ResultBadUserInput
	ResultUnauthenticated
	ResultForbidden
	ResultTooManyRequests
	ResultUnavailable
	ResultInternal
	ResultInvalidOperation // the document failed to parse, validate, or stay within the limits
	ResultOther
	NumResults // the number of results
)

var results = [NumResults]string{"ok", "bad_user_input", "unauthenticated", "forbidden", "too_many_requests",
	"service_unavailable", "internal_error", "invalid_operation", "error"}

// String returns the result's metric label value.
func (r Result) String() string {
	if r < NumResults {
		return results[r]
	}
	return "error"
}

// operationOf returns the type of the operation ctx executes.
func operationOf(ctx context.Context) OpType {
	if !graphql.HasOperationContext(ctx) {
		return OpUnknown
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil {
		return OpUnknown
	}
	switch oc.Operation.Operation {
	case ast.Query:
		return OpQuery
	case ast.Mutation:
		return OpMutation
	case ast.Subscription:
		return OpSubscription
	}
	return OpUnknown
}

// resultOf classifies a response by its first error's code.
func resultOf(errs gqlerror.List) Result {
	if len(errs) == 0 {
		return ResultOK
	}
	code, _ := errs[0].Extensions["code"].(string)
	switch models.Code(code) {
	case models.CodeBadUserInput:
		return ResultBadUserInput
	case models.CodeUnauthenticated:
		return ResultUnauthenticated
	case models.CodeForbidden:
		return ResultForbidden
	case models.CodeTooManyRequests:
		return ResultTooManyRequests
	case models.CodeServiceUnavailable:
		return ResultUnavailable
	case models.CodeInternal:
		return ResultInternal
	case models.CodeBadRequest, "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",
		"COMPLEXITY_LIMIT_EXCEEDED", "PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_NOT_SUPPORTED":
		return ResultInvalidOperation
	}
	return ResultOther
}
