package app_test

import (
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

// TestRefreshStatements pins the shape of one refresh that the write floor
// of `go run ./bench -scale` copies (bench/floor.go): with the default
// REFRESH_REUSE_GRACE, one read (the token with its session and user) and
// four writes in one transaction (the session, the old token, the other
// tokens' kept successors, the new token). A change here must change the
// floor too.
func TestRefreshStatements(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		p := e.Login("alice", apptest.Password)
		n := apptest.CountStatements(t, e.App.Store)
		before := n.Load()
		r := e.Refresh(p.RefreshToken)
		apptest.MustOK(t, r)
		if got := n.Load() - before; got != 5 {
			t.Errorf("one refresh ran %d statements, want 5 (bench/floor.go copies that shape)", got)
		}
	})
}
