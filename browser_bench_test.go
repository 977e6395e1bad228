package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// BenchmarkBrowserModes measures what cookie mode and the 401 mapping add to
// an authenticated me query; "body mode, application/json" is the baseline.
func BenchmarkBrowserModes(b *testing.B) {
	modes := []struct {
		name   string
		cookie bool
		accept string
		token  bool
		status int
	}{
		{"body mode, application/json", false, "application/json", true, 200},
		{"cookie mode, application/json", true, "application/json", true, 200},
		{"cookie mode, graphql-response+json", true, acceptGraphQLResponse, true, 200},
		{"cookie mode, graphql-response+json, no token (401)", true, acceptGraphQLResponse, false, 401},
	}
	for i, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			h, token := benchServer(b, fmt.Sprintf("bench-%d", i), m.cookie)
			body, _ := json.Marshal(map[string]any{"query": meQuery})
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", m.accept)
				if m.token {
					req.Header.Set("Authorization", bearer(token))
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != m.status {
					b.Fatalf("status %d, want %d: %s", rec.Code, m.status, rec.Body)
				}
			}
		})
	}
}

// benchServer returns the real handler on an in-memory SQLite database and
// an access token of a user in it.
func benchServer(b *testing.B, name string, cookie bool) (http.Handler, string) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "file:/"+name+"?vfs=memdb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"JWT_SECRET": testSecret, "DATA_DIR": b.TempDir()}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	cfg.HashParams = fastHash
	cfg.RefreshTokenCookie = cookie
	a, err := newApp(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.auth.CreateUser(ctx, auth.NewUser{Username: "bench", Password: "correct horse battery", Role: models.RoleUser}); err != nil {
		b.Fatal(err)
	}
	g, err := a.auth.Login(ctx, "bench", "correct horse battery", auth.Client{})
	if err != nil {
		b.Fatal(err)
	}
	return newHandler(a), g.AccessToken
}
