package graph

import (
	"context"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityLimit refuses an operation whose complexity exceeds limit, with
// the message and code of gqlgen's extension.FixedComplexityLimit
// (COMPLEXITY_LIMIT_EXCEEDED), and remembers the complexity of operations
// that declare no variables: it then depends on the query text alone, and
// clients send the same few queries again and again, so walking the
// operation anew on every request would be work thrown away. Operations with
// variables are walked every time, since a variable may change a field's
// cost, and queries over maxCachedQuery are not remembered either.
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	known *lru.LRU[int] // operation name + query text → complexity
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*complexityLimit)(nil)

func newComplexityLimit(limit int) *complexityLimit {
	return &complexityLimit{limit: limit, known: lru.New[int](cacheEntries)}
}

func (*complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Doc.Operations.ForName(oc.OperationName)
	if op == nil {
		return nil // gqlgen answers an unknown operation itself
	}
	n, cached := 0, false
	key := ""
	if len(op.VariableDefinitions) == 0 && len(oc.RawQuery) <= maxCachedQuery {
		key = oc.OperationName + "\x00" + oc.RawQuery
		n, cached = c.known.Get(ctx, key)
	}
	if !cached {
		n = complexity.Calculate(ctx, c.es, op, oc.Variables)
		if key != "" {
			c.known.Add(ctx, key, n)
		}
	}
	if n > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", n, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}
