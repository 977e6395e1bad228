package graph

// The bounded query caches: the parsed-query cache and the persisted-query
// (APQ) cache keep only query texts up to maxCachedQuery (8 KiB), the bound
// the complexity cache (complexity.go) applies too.

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
)

// maxCachedQuery is the longest query text the per-replica caches keep
// (parsed queries, persisted queries, complexities). Applications send a
// few short queries over and over; a request body may hold up to 1 MiB, and
// without this bound a client could pin a thousand such queries (a
// gigabyte) in each cache. Longer queries still run, parsed every time.
const maxCachedQuery = 8 << 10

// cacheEntries is how many queries each of those caches holds.
const cacheEntries = 1000

// boundedCache is an LRU that declines entries fits refuses.
type boundedCache[T any] struct {
	*lru.LRU[T]
	fits func(key string, value T) bool
}

var _ graphql.Cache[string] = boundedCache[string]{}

func (c boundedCache[T]) Add(ctx context.Context, key string, value T) {
	if c.fits(key, value) {
		c.LRU.Add(ctx, key, value)
	}
}

// newQueryCache caches parsed documents keyed by their query text.
func newQueryCache() boundedCache[*ast.QueryDocument] {
	return boundedCache[*ast.QueryDocument]{
		LRU:  lru.New[*ast.QueryDocument](cacheEntries),
		fits: func(query string, _ *ast.QueryDocument) bool { return len(query) <= maxCachedQuery },
	}
}

// newPersistedQueryCache caches persisted queries (APQ) by hash. A longer
// query is not remembered: its hash alone then answers
// PERSISTED_QUERY_NOT_FOUND, and Apollo clients resend the text.
func newPersistedQueryCache() boundedCache[string] {
	return boundedCache[string]{
		LRU:  lru.New[string](cacheEntries),
		fits: func(_, query string) bool { return len(query) <= maxCachedQuery },
	}
}
