package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// complexityOf runs c on query (with vars) the way gqlgen's executor does
// after parsing and validation.
func complexityOf(t *testing.T, c *complexityLimit, query string, vars map[string]any) *gqlerror.Error {
	t.Helper()
	parsed, errs := gqlparser.LoadQuery(NewExecutableSchema(Config{}).Schema(), query)
	if len(errs) > 0 {
		t.Fatalf("parse %q: %v", query, errs)
	}
	oc := &graphql.OperationContext{RawQuery: query, Doc: parsed, Variables: vars}
	oc.Operation = parsed.Operations.ForName("")
	return c.MutateOperationContext(context.Background(), oc)
}

func aliasedMe(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " m%d: me { id }", i)
	}
	b.WriteString(" }")
	return b.String()
}

func TestComplexityLimitRemembersOperationsWithoutVariables(t *testing.T) {
	c := newComplexityLimit(20)
	if err := c.Validate(NewExecutableSchema(Config{})); err != nil {
		t.Fatal(err)
	}
	small, big := aliasedMe(3), aliasedMe(30)
	for range 2 { // the second time from the cache, with the same answer
		if err := complexityOf(t, c, small, nil); err != nil {
			t.Fatalf("3 fields: %v", err)
		}
		err := complexityOf(t, c, big, nil)
		if err == nil || err.Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" || !strings.Contains(err.Message, "exceeds the limit of 20") {
			t.Fatalf("30 fields: %v", err)
		}
	}
	if n, ok := c.known.Get(context.Background(), "\x00"+big); !ok || n != 60 {
		t.Fatalf("remembered complexity of 30 aliased me { id } = %d, %v; want 60", n, ok)
	}

	// An operation with variables is walked every time and not remembered.
	withVars := `query($n: Int) { users(first: $n) { totalCount } }`
	_ = complexityOf(t, c, withVars, map[string]any{"n": 5})
	if _, ok := c.known.Get(context.Background(), "\x00"+withVars); ok {
		t.Fatal("an operation with variables was remembered")
	}
}
