package app_test

import (
	"context"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestRedisHungIsNotOnTheCriticalPath: with REDIS_URL pointing at a Redis
// that never answers, login, refresh, logout and logoutAll all succeed,
// and their invalidations wait in the publish queue rather than in the
// requests.
func TestRedisHungIsNotOnTheCriticalPath(t *testing.T) {
	url := storetest.HungRedis(t)
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			dsn, _ := storetest.OpenDSN(t, kind)
			cfg := apptest.Config(t, map[string]string{"REDIS_URL": url})
			st, err := store.OpenWith(context.Background(), dsn, app.StoreOptions(cfg, nil))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			e := apptest.New(t, st, nil, func(c *app.Config) { c.RedisURL = url })
			e.CreateUser("rhea", apptest.Password, models.RoleUser)
			p := e.Login("rhea", apptest.Password)
			r := e.Refresh(p.RefreshToken)
			apptest.MustOK(t, r)
			next := r.Payload(t, "refreshToken")
			apptest.MustOK(t, e.Do("", `mutation($t: String!) { logout(refreshToken: $t) }`, map[string]any{"t": next.RefreshToken}))
			other := e.Login("rhea", apptest.Password)
			apptest.MustOK(t, e.Do(apptest.Bearer(other.AccessToken), `mutation { logoutAll }`, nil))
			if n := st.PendingPublishes(); n < 2 {
				t.Fatalf("PendingPublishes() = %d, want the invalidations still waiting for the hung Redis", n)
			}
		})
	}
}
