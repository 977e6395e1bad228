package auth_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestReuseGrace covers REFRESH_REUSE_GRACE with two handlers sharing one
// database, as two replicas would.
func TestReuseGrace(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			grace := func(cfg *app.Config) { cfg.ReuseGrace = 10 * time.Second }
			a, b := apptest.Pair(t, kind, grace)
			a.CreateUser("alice", apptest.Password, models.RoleUser)

			t.Run("same successor within the window, from either replica", func(t *testing.T) {
				p0 := a.Login("alice", apptest.Password)
				p1 := a.Refresh(p0.RefreshToken).Payload(t, "refreshToken")
				a.Clock.Advance(9 * time.Second)
				for name, env := range map[string]*apptest.Env{"same handler": a, "second handler": b} {
					r := env.Refresh(p0.RefreshToken)
					apptest.MustOK(t, r)
					again := r.Payload(t, "refreshToken")
					if again.RefreshToken != p1.RefreshToken {
						t.Errorf("%s: refresh within the window gave another refresh token, want the same successor", name)
					}
					if again.AccessToken == p1.AccessToken || again.RefreshExpiresIn > p1.RefreshExpiresIn {
						t.Errorf("%s: want a fresh access token and the successor's remaining lifetime", name)
					}
					apptest.MustOK(t, env.Do(apptest.Bearer(again.AccessToken), apptest.MeQuery, nil))
				}
				// The successor is the session's current token and rotates normally.
				apptest.MustOK(t, b.Refresh(p1.RefreshToken))
			})

			t.Run("older than the previous token is reuse", func(t *testing.T) {
				p0 := a.Login("alice", apptest.Password)
				p1 := a.Refresh(p0.RefreshToken).Payload(t, "refreshToken")
				p2 := b.Refresh(p1.RefreshToken).Payload(t, "refreshToken")
				apptest.WantError(t, a.Refresh(p0.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
				apptest.WantError(t, a.Do(apptest.Bearer(p2.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
				apptest.WantError(t, a.Refresh(p2.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
			})

			t.Run("older than the previous token is reuse, even after a rotation by a replica without grace", func(t *testing.T) {
				// A rolling change of REFRESH_REUSE_GRACE: the next rotation
				// happens on a replica that keeps nothing, so the first
				// token's kept successor is not cleared by it.
				off := apptest.New(t, b.App.Store, a.Clock, func(cfg *app.Config) { cfg.ReuseGrace = 0 })
				p0 := a.Login("alice", apptest.Password)
				p1 := a.Refresh(p0.RefreshToken).Payload(t, "refreshToken")
				p2 := off.Refresh(p1.RefreshToken).Payload(t, "refreshToken")
				apptest.WantError(t, a.Refresh(p0.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
				apptest.WantError(t, a.Do(apptest.Bearer(p2.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
			})

			t.Run("after the window is reuse", func(t *testing.T) {
				p0 := a.Login("alice", apptest.Password)
				p1 := a.Refresh(p0.RefreshToken).Payload(t, "refreshToken")
				a.Clock.Advance(10 * time.Second)
				apptest.WantError(t, b.Refresh(p0.RefreshToken), "UNAUTHENTICATED", "refresh_token_reused")
				apptest.WantError(t, a.Do(apptest.Bearer(p1.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
			})

			t.Run("parallel refreshes of one token all get the same successor", func(t *testing.T) {
				p0 := a.Login("alice", apptest.Password)
				const n = 10
				results := apptest.RefreshConcurrently([]*apptest.Env{a, b}, p0.RefreshToken, n)
				seen := map[string]bool{}
				for _, r := range results {
					apptest.MustOK(t, r)
					seen[r.Payload(t, "refreshToken").RefreshToken] = true
				}
				if len(seen) != 1 {
					t.Fatalf("%d parallel refreshes gave %d different refresh tokens, want 1", n, len(seen))
				}
			})

			t.Run("the successor is not stored in plain text", func(t *testing.T) {
				p0 := a.Login("alice", apptest.Password)
				p1 := a.Refresh(p0.RefreshToken).Payload(t, "refreshToken")
				var kept [][]byte
				if err := a.App.Store.DB().Raw("SELECT successor_sealed FROM refresh_tokens WHERE successor_sealed IS NOT NULL").Scan(&kept).Error; err != nil {
					t.Fatal(err)
				}
				if len(kept) == 0 {
					t.Fatal("no sealed successor stored")
				}
				for _, k := range kept {
					if bytes.Contains(k, []byte(p1.RefreshToken)) {
						t.Fatal("the successor refresh token is stored in plain text")
					}
				}
			})
		})
	}
}
