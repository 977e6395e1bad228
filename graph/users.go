package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Limits of the users query.
const (
	defaultFirst   = 20
	maxFirst       = 100
	maxSearchBytes = 320
	maxIDBytes     = 64
)

// listUsers runs the users query.
func listUsers(ctx context.Context, st *store.Store, first *int, after, search *string) (*model.UserConnection, error) {
	n := defaultFirst
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxFirst {
		return nil, models.BadField("first", fmt.Sprintf("first must be between 1 and %d", maxFirst))
	}
	var q string
	if search != nil {
		q = *search
	}
	if len(q) > maxSearchBytes {
		return nil, models.BadField("search", fmt.Sprintf("search must be at most %d bytes", maxSearchBytes))
	}
	var cur *store.UserCursor
	if after != nil && *after != "" {
		c, err := decodeCursor(*after)
		if err != nil {
			return nil, err
		}
		cur = c
	}
	var (
		users []*models.User
		more  bool
		total *int64
		err   error
	)
	if cur == nil && strings.TrimSpace(q) != "" && selects(ctx, "totalCount") {
		// The first page of a search with its count: one statement.
		var n64 int64
		users, more, n64, err = st.SearchUsersCounted(ctx, q, n)
		total = &n64
	} else {
		users, more, err = st.ListUsers(ctx, q, cur, n)
	}
	if err != nil {
		return nil, err
	}
	conn := &model.UserConnection{Edges: make([]*model.UserEdge, len(users)), PageInfo: &model.PageInfo{HasNextPage: more}, Search: q, Total: total}
	for i, u := range users {
		conn.Edges[i] = &model.UserEdge{Cursor: encodeCursor(u), Node: u}
	}
	if len(users) > 0 {
		end := conn.Edges[len(users)-1].Cursor
		conn.PageInfo.EndCursor = &end
	}
	return conn, nil
}

// selects reports whether the field being resolved selects the field
// name directly.
func selects(ctx context.Context, name string) bool {
	if graphql.GetFieldContext(ctx) == nil {
		return false
	}
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}

// loadUser returns the user with this id through the operation's loader, or
// nil when there is none.
func loadUser(ctx context.Context, id string) (*models.User, error) {
	if id == "" || len(id) > maxIDBytes {
		return nil, nil
	}
	l := loadersFrom(ctx)
	if l == nil {
		return nil, errors.New("graph: no loaders in context")
	}
	return l.users().Load(ctx, id)
}
