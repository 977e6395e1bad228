package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
)

// The profiler lives on its own listener: the API handler never serves it.
func TestPprofNotOnTheAPI(t *testing.T) {
	e := apptest.Open(t, "sqlite")
	if r := e.Serve(httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)); r.Status != http.StatusNotFound {
		t.Fatalf("GET /debug/pprof/ on the API = %d, want 404", r.Status)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := app.ServePprof(ctx, "127.0.0.1:0", e.App.Log); err != nil {
		t.Fatal(err)
	}
	var addr string
	for _, rec := range e.Logs.Records(t) {
		if rec["msg"] == "pprof listening" {
			addr, _ = rec["addr"].(string)
		}
	}
	if addr == "" {
		t.Fatal("ServePprof logged no listening address")
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/pprof/ on the profiler = %d, want 200", resp.StatusCode)
	}
}
