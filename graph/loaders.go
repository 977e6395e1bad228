package graph

import (
	"context"
	"sync"

	"github.com/vikstrous/dataloadgen"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// loaders batch the row lookups of one operation: fields that need rows by
// key ask a loader, which fetches every key asked for at about the same time
// in one statement (no N+1 queries), and caches them for the operation.
// Each loader is built on first use: most operations (me, login) need none.
type loaders struct {
	st        *store.Store
	usersOnce sync.Once
	userL     *dataloadgen.Loader[string, *models.User]
}

type loadersKey struct{}

// withLoaders returns ctx with fresh loaders for one operation.
func withLoaders(ctx context.Context, st *store.Store) context.Context {
	return context.WithValue(ctx, loadersKey{}, &loaders{st: st})
}

// users returns the operation's loader of users by id.
func (l *loaders) users() *dataloadgen.Loader[string, *models.User] {
	l.usersOnce.Do(func() {
		l.userL = dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*models.User, []error) {
			return fetchUsers(ctx, l.st, ids)
		})
	})
	return l.userL
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
