package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// longQuery is a valid query whose text is over maxCachedQuery (a comment
// pads it).
func longQuery() string {
	return "# " + strings.Repeat("x", maxCachedQuery) + "\n{ __typename }"
}

func TestQueryCachesKeepOnlyShortQueries(t *testing.T) {
	ctx := context.Background()
	docs := newQueryCache()
	docs.Add(ctx, "{ __typename }", &ast.QueryDocument{})
	docs.Add(ctx, longQuery(), &ast.QueryDocument{})
	if _, ok := docs.Get(ctx, "{ __typename }"); !ok {
		t.Error("a short query was not cached")
	}
	if _, ok := docs.Get(ctx, longQuery()); ok {
		t.Error("a query over maxCachedQuery was cached")
	}

	c := newComplexityLimit(200)
	if err := c.Validate(NewExecutableSchema(Config{})); err != nil {
		t.Fatal(err)
	}
	if err := complexityOf(t, c, longQuery(), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.known.Get(ctx, "\x00"+longQuery()); ok {
		t.Error("the complexity of a query over maxCachedQuery was remembered")
	}
}

// postAPQ sends query (omitted when empty) with its persisted-query hash.
func postAPQ(t *testing.T, h http.Handler, query, hash string) response {
	t.Helper()
	params := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		params["query"] = query
	}
	_, _, r := postParams(t, h, params)
	return r
}

// Automatic persisted queries: a short query registered once is then
// answered from its hash alone; a query over maxCachedQuery runs but is not
// kept, so its hash alone asks the client for the text again.
func TestPersistedQueriesKeepOnlyShortQueries(t *testing.T) {
	h := NewHandler(&Resolver{}, Options{})
	for _, tc := range []struct {
		name, query string
		kept        bool
	}{
		{"short", "{ __typename }", true},
		{"over maxCachedQuery", longQuery(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := sha256.Sum256([]byte(tc.query))
			hash := hex.EncodeToString(sum[:])
			if r := postAPQ(t, h, tc.query, hash); len(r.Errors) != 0 {
				t.Fatalf("registering: %+v", r.Errors)
			}
			r := postAPQ(t, h, "", hash)
			switch {
			case tc.kept && len(r.Errors) != 0:
				t.Fatalf("hash alone: %+v", r.Errors)
			case !tc.kept && (len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "PERSISTED_QUERY_NOT_FOUND"):
				t.Fatalf("hash alone of an uncached query: %+v, want PERSISTED_QUERY_NOT_FOUND", r.Errors)
			}
		})
	}
}
