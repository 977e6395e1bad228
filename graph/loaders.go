package graph

import (
	"context"

	"github.com/vikstrous/dataloadgen"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// loaders batch the row lookups of one operation: fields that need rows by
// key ask a loader, which fetches every key asked for at about the same time
// in one statement (no N+1 queries), and caches them for the operation.
type loaders struct {
	users *dataloadgen.Loader[string, *models.User]
}

type loadersKey struct{}

// withLoaders returns ctx with fresh loaders for one operation.
func withLoaders(ctx context.Context, st *store.Store) context.Context {
	l := &loaders{users: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*models.User, []error) {
		return fetchUsers(ctx, st, ids)
	})}
	return context.WithValue(ctx, loadersKey{}, l)
}

// loadersFrom returns the operation's loaders.
func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// fetchUsers loads users by id in one statement, in the order of ids; an
// unknown id gives a nil user.
func fetchUsers(ctx context.Context, st *store.Store, ids []string) ([]*models.User, []error) {
	found, err := st.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, []error{err}
	}
	byID := make(map[string]*models.User, len(found))
	for _, u := range found {
		byID[u.ID] = u
	}
	out := make([]*models.User, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}
