package graph

import (
	"context"
	"encoding/base64"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestCursorRoundTrip(t *testing.T) {
	u := &models.User{ID: "0b5e0c9e-8a57-4a43-9b52-1f7f4a1d7c01", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)}
	c, err := decodeCursor(encodeCursor(u))
	if err != nil || !c.CreatedAt.Equal(u.CreatedAt) || c.ID != u.ID {
		t.Fatalf("decodeCursor(encodeCursor(u)) = %+v, %v", c, err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, bad := range []string{"", "!!!", enc([]byte("u1|2026-01-02T03:04:05Z")), enc([]byte("u2|2026-01-02T03:04:05Z|id")),
		enc([]byte("u1|yesterday|id")), enc([]byte("u1|2026-01-02T03:04:05Z|")), string(make([]byte, 201))} {
		if _, err := decodeCursor(bad); err == nil || models.CodeOf(err) != models.CodeBadUserInput {
			t.Errorf("decodeCursor(%q) error = %v, want BAD_USER_INPUT", bad, err)
		}
	}
}

// TestUserLoaderBatches checks that lookups of several users in one
// operation cost one statement, and unknown ids give nil.
func TestUserLoaderBatches(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var ids []string
		for _, name := range []string{"ann", "bob", "cat"} {
			u := &models.User{Username: name, PasswordHash: "x"}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		var n atomic.Int64
		if err := st.DB().Callback().Query().After("gorm:query").Register("test:count", func(*gorm.DB) { n.Add(1) }); err != nil {
			t.Fatal(err)
		}
		ctx = withLoaders(ctx, st)
		keys := []string{ids[2], "missing", ids[0], ids[1]}
		users, err := loadersFrom(ctx).users().LoadAll(ctx, keys)
		if err != nil {
			t.Fatalf("LoadAll() error = %v", err)
		}
		if users[0].Username != "cat" || users[1] != nil || users[2].Username != "ann" || users[3].Username != "bob" {
			t.Fatalf("LoadAll() = %v, want cat, nil, ann, bob", users)
		}
		if got := n.Load(); got != 1 {
			t.Fatalf("LoadAll of 4 keys ran %d statements, want 1", got)
		}
		// Cached for the rest of the operation.
		if u, err := loadUser(ctx, ids[0]); err != nil || u.Username != "ann" || n.Load() != 1 {
			t.Fatalf("loadUser(cached) = %v, %v after %d statements", u, err, n.Load())
		}
	})
}
