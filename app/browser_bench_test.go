package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store"
)

// BenchmarkBrowserModes measures what cookie mode and the 401 mapping add to
// an authenticated me query; "body mode, application/json" is the baseline.
func BenchmarkBrowserModes(b *testing.B) {
	const graphQLResponse = "application/graphql-response+json"
	modes := []struct {
		name   string
		cookie bool
		accept string
		token  bool
		status int
	}{
		{"body mode, application/json", false, "application/json", true, 200},
		{"cookie mode, application/json", true, "application/json", true, 200},
		{"cookie mode, graphql-response+json", true, graphQLResponse, true, 200},
		{"cookie mode, graphql-response+json, no token (401)", true, graphQLResponse, false, 401},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			// The real handler on an in-memory SQLite database, and a user
			// logged in to it.
			e := newBenchEnv(b, store.DialectSQLite, func(c *app.Config) { c.RefreshTokenCookie = m.cookie })
			token := benchLogin(e, "bench").AccessToken
			body, _ := json.Marshal(map[string]any{"query": apptest.MeQuery})
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, app.GraphQLPath, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", m.accept)
				if m.token {
					req.Header.Set("Authorization", apptest.Bearer(token))
				}
				rec := httptest.NewRecorder()
				e.Handler.ServeHTTP(rec, req)
				if rec.Code != m.status {
					b.Fatalf("status %d, want %d: %s", rec.Code, m.status, rec.Body)
				}
			}
		})
	}
}
