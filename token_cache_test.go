package main

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestCachedPersonalTokenStillChecked: once an access token has verified (and
// sits in the cache of verified tokens), every later request is still
// refused as soon as its session ends or its user is deactivated, and once
// it expires by the injected clock.
func TestCachedPersonalTokenStillChecked(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		end    func(t *testing.T, e *testEnv, u *models.User, p payload)
		reason string
	}{
		{"logout", func(t *testing.T, e *testEnv, _ *models.User, p payload) {
			if ok := decodeOK[bool](t, e.do("", logoutMutation, map[string]any{"t": p.RefreshToken}), "logout"); !ok {
				t.Fatal("logout = false")
			}
		}, "session_revoked"},
		{"logoutAll", func(t *testing.T, e *testEnv, _ *models.User, p payload) {
			mustOK(t, e.do(bearer(p.AccessToken), logoutAllMutation, nil))
		}, "session_revoked"},
		{"deactivated", func(t *testing.T, e *testEnv, u *models.User, _ payload) {
			if _, err := e.app.store.SetUserActive(ctx, u.ID, false, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, "user_inactive"},
		{"expired", func(t *testing.T, e *testEnv, _ *models.User, _ payload) {
			e.clock.Advance(e.app.cfg.AccessTTL + time.Minute)
		}, "token_expired"},
	}
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u := e.createUser("cached"+string(rune('a'+i)), pw, models.RoleUser)
				p := e.login(u.Username, pw)
				authz := bearer(p.AccessToken)
				for range 3 { // the first verifies and caches, the others hit
					mustOK(t, e.do(authz, meQuery, nil))
				}
				tc.end(t, e, u, p)
				for range 2 {
					wantError(t, e.do(authz, meQuery, nil), "UNAUTHENTICATED", tc.reason)
				}
			})
		}
	})
}
