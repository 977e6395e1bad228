package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// BenchmarkLoginFlood is an attacker's cheapest request: a login with a
// wrong password past the limits, refused before any hashing. Each one
// stores a RATE_LIMITED audit event through the asynchronous writer; set
// against the same benchmark without the audit log, it shows what the
// writer costs a flood.
func BenchmarkLoginFlood(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := newBenchEnv(b, kind, func(c *app.Config) { c.HashParams = apptest.FastHash })
			benchLogin(e, "alice")
			body, _ := json.Marshal(map[string]any{"query": apptest.LoginMutation, "variables": map[string]any{"u": "alice", "p": "wrong"}})
			rp := replay{body: body}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.Handler.ServeHTTP(rec, rp.request())
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"errors"`) {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
