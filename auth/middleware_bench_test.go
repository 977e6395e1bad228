package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// BenchmarkMiddleware measures the middleware alone: reading the header,
// verifying the access token and loading the identity (user and session),
// with a handler that only asks for the viewer.
func BenchmarkMiddleware(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			st := storetest.Open(b, kind)
			now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
			tk, err := NewTokens(TokenConfig{Secret: testSecret, AccessTTL: 5 * time.Minute}, now)
			if err != nil {
				b.Fatal(err)
			}
			svc := NewService(st, tk, NewHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second),
				Options{RefreshTTL: time.Hour, SessionMaxAge: 24 * time.Hour, Now: now}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			ctx := context.Background()
			u := &models.User{Username: "alice", PasswordHash: "x"}
			if err := st.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			sess := &models.Session{UserID: u.ID, CreatedAt: now(), ExpiresAt: now().Add(time.Hour)}
			if err := st.CreateSession(ctx, sess, &models.RefreshToken{TokenHash: hashOpaqueToken("r"), ExpiresAt: now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			token, _, err := tk.IssueAccess(u.ID, sess.ID, u.Role)
			if err != nil {
				b.Fatal(err)
			}
			h := svc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if v := ViewerFrom(r.Context()); v.User == nil {
					b.Errorf("viewer error = %v", v.Err)
				}
			}))
			req := httptest.NewRequest(http.MethodPost, "/query", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
