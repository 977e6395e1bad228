package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

// The documents that end sessions.
const (
	cacheLogoutMutation    = `mutation($t: String!) { logout(refreshToken: $t) }`
	cacheLogoutAllMutation = `mutation { logoutAll }`
)

// TestCachedAccessTokenStillChecked: once an access token has verified (and
// sits in the cache of verified tokens), every later request is still
// refused as soon as its session ends or its user is deactivated, and once
// it expires by the injected clock.
func TestCachedAccessTokenStillChecked(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		end    func(t *testing.T, e *apptest.Env, u *models.User, p apptest.Payload)
		reason string
	}{
		{"logout", func(t *testing.T, e *apptest.Env, _ *models.User, p apptest.Payload) {
			if ok := apptest.Decode[bool](t, e.Do("", cacheLogoutMutation, map[string]any{"t": p.RefreshToken}), "logout"); !ok {
				t.Fatal("logout = false")
			}
		}, "session_revoked"},
		{"logoutAll", func(t *testing.T, e *apptest.Env, _ *models.User, p apptest.Payload) {
			apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), cacheLogoutAllMutation, nil))
		}, "session_revoked"},
		{"deactivated", func(t *testing.T, e *apptest.Env, u *models.User, _ apptest.Payload) {
			if _, err := e.App.Store.SetUserActive(ctx, u.ID, false, e.Clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, "user_inactive"},
		{"expired", func(t *testing.T, e *apptest.Env, _ *models.User, _ apptest.Payload) {
			e.Clock.Advance(e.App.Config.AccessTTL + time.Minute)
		}, "token_expired"},
	}
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u := e.CreateUser("cached"+string(rune('a'+i)), apptest.Password, models.RoleUser)
				p := e.Login(u.Username, apptest.Password)
				authz := apptest.Bearer(p.AccessToken)
				for range 3 { // the first verifies and caches, the others hit
					apptest.MustOK(t, e.Do(authz, apptest.MeQuery, nil))
				}
				tc.end(t, e, u, p)
				for range 2 {
					apptest.WantError(t, e.Do(authz, apptest.MeQuery, nil), "UNAUTHENTICATED", tc.reason)
				}
			})
		}
	})
}
