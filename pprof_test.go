package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestPprofAddr(t *testing.T) {
	cases := []struct {
		name, value, want, wantErr string
	}{
		{name: "unset", value: "", want: ""},
		{name: "ipv4 loopback", value: "127.0.0.1:6060", want: "127.0.0.1:6060"},
		{name: "ipv6 loopback", value: "[::1]:6060", want: "[::1]:6060"},
		{name: "localhost", value: "localhost:6060", want: "localhost:6060"},
		{name: "all interfaces", value: ":6060", wantErr: "PPROF_ADDR"},
		{name: "public address", value: "0.0.0.0:6060", wantErr: "PPROF_ADDR"},
		{name: "other host", value: "10.0.0.5:6060", wantErr: "PPROF_ADDR"},
		{name: "no port", value: "127.0.0.1", wantErr: "PPROF_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(mapEnv(map[string]string{"PPROF_ADDR": tc.value}))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig(PPROF_ADDR=%q) error = %v, want one naming %s", tc.value, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig(PPROF_ADDR=%q) error = %v", tc.value, err)
			}
			if c.PprofAddr != tc.want {
				t.Fatalf("PprofAddr = %q, want %q", c.PprofAddr, tc.want)
			}
		})
	}
}

// The profiler lives on its own listener: the API handler never serves it.
func TestPprofNotOnTheAPI(t *testing.T) {
	env := newTestEnv(t, storetest.Open(t, "sqlite"), nil)
	rec := httptest.NewRecorder()
	env.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /debug/pprof/ on the API = %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	pprofHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/ on the profiler = %d, want 200", rec.Code)
	}
}
