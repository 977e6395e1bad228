package app_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

// Counting a me request allocates nothing: the same handler allocates as
// much per request with the metrics on as with them off.
func TestMetricsAllocateNothingPerMe(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a quiet heap")
	}
	allocs := func(mutate ...func(*app.Config)) float64 {
		e := apptest.Open(t, "sqlite", mutate...)
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		p := e.Login("alice", apptest.Password)
		req := apptest.Request{Query: apptest.MeQuery, Authz: apptest.Bearer(p.AccessToken)}
		serve := func() {
			rec := httptest.NewRecorder()
			e.Handler.ServeHTTP(rec, req.HTTP(t))
			if rec.Code != http.StatusOK {
				t.Fatalf("me: %d %s", rec.Code, rec.Body)
			}
		}
		serve() // fill the caches
		return testing.AllocsPerRun(200, serve)
	}
	off := allocs()
	on := allocs(func(c *app.Config) { c.MetricsAddr = "127.0.0.1:0" })
	t.Logf("allocations per me: %v off, %v on", off, on)
	if on > off {
		t.Fatalf("me allocates %v times with metrics on, %v with them off: counting must not allocate", on, off)
	}
}
