package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

func TestCORS(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		const site, evil = "https://app.example.com", "https://evil.example"
		preflight := func(e *apptest.Env, origin string) apptest.Response {
			req := httptest.NewRequest(http.MethodOptions, app.GraphQLPath, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "apollo-require-preflight,authorization,content-type,x-requested-with") // sorted, as browsers send it
			return e.Serve(req)
		}
		post := func(e *apptest.Env, origin string) apptest.Response {
			return e.Send(apptest.Request{Query: apptest.MeQuery, Header: map[string]string{"Origin": origin}})
		}

		t.Run("listed origin", func(t *testing.T) {
			e := apptest.New(t, st, nil, func(c *app.Config) { c.CORSAllowedOrigins = []string{site, "http://localhost:5173"} })
			res := preflight(e, site)
			h := res.Header
			if res.Status/100 != 2 || h.Get("Access-Control-Allow-Origin") != site || h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Fatalf("preflight: %d %v", res.Status, h)
			}
			if h.Get("Access-Control-Max-Age") != "600" {
				t.Fatalf("preflight Max-Age = %q, want 600", h.Get("Access-Control-Max-Age"))
			}
			allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"authorization", "content-type", "x-requested-with", "apollo-require-preflight"} {
				if !strings.Contains(allowed, want) {
					t.Fatalf("Access-Control-Allow-Headers %q lacks %s", allowed, want)
				}
			}
			r := post(e, site)
			if r.Header.Get("Access-Control-Allow-Origin") != site || r.Header.Get("Access-Control-Allow-Credentials") != "true" ||
				!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Www-Authenticate") ||
				!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
				t.Fatalf("POST from %s: %v", site, r.Header)
			}
		})

		t.Run("unlisted origin", func(t *testing.T) {
			e := apptest.New(t, st, nil, func(c *app.Config) { c.CORSAllowedOrigins = []string{site} })
			for _, h := range []http.Header{preflight(e, evil).Header, post(e, evil).Header} {
				if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
					t.Fatalf("unlisted origin granted access: %v", h)
				}
			}
		})

		t.Run("no origins configured", func(t *testing.T) {
			e := apptest.New(t, st, nil)
			for _, h := range []http.Header{preflight(e, site).Header, post(e, site).Header} {
				if h.Get("Access-Control-Allow-Origin") != "" {
					t.Fatalf("cross-origin access granted without CORS_ALLOWED_ORIGINS: %v", h)
				}
			}
		})
	})
}
