package graph_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/models"
)

// BenchmarkGraphQLFloor is the GraphQL floor of `go run ./bench` in
// process: Ironclad's GraphQL handler answering me for one constant active
// user (no token, no database, no HTTP connection), on gqlgen's POST
// transport and on Ironclad's (transport.go), for allocations per request:
//
//	go test -run '^$' -bench GraphQLFloor -benchmem ./graph/
func BenchmarkGraphQLFloor(b *testing.B) {
	viewer := auth.Viewer{
		User:      &models.User{ID: "7f9c2ba4-e88f-4b1a-9f4e-0c1d2e3f4a5b", Username: "bench000", Role: models.RoleUser, Active: true, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		SessionID: "00000000-0000-4000-8000-000000000000",
		Scopes:    models.RoleScopes(models.RoleUser),
	}
	const body = `{"query":"{ me { id username email role createdAt lastLoginAt } }"}`
	for _, c := range []struct {
		name   string
		gqlgen bool
	}{{"gqlgen-POST", true}, {"ironclad-POST", false}} {
		b.Run(c.name, func(b *testing.B) {
			graph.UseGqlgenPOST(c.gqlgen)
			defer graph.UseGqlgenPOST(false)
			h := graph.NewHandler(&graph.Resolver{Log: slog.New(slog.DiscardHandler)}, graph.Options{})
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r.WithContext(auth.WithViewer(r.Context(), viewer)))
				if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "errors") {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
