package app_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/app/playground"
	"github.com/ironclad-auth/ironclad/auth"
)

// The playground through the whole handler chain: mounted only with
// PLAYGROUND, self-contained, and in step with cookie mode.
func TestPlaygroundPage(t *testing.T) {
	const cookieNote = "refreshToken works without an argument"
	assetRef := regexp.MustCompile(`\s(?:src|href)="(` + regexp.QuoteMeta(playground.AssetsPath) + `[^"]+)"`)
	for _, tc := range []struct {
		name   string
		mutate func(*app.Config)
	}{{"body mode", func(*app.Config) {}}, {"cookie mode", apptest.CookieMode}} {
		t.Run(tc.name, func(t *testing.T) {
			e := apptest.Open(t, "sqlite", tc.mutate)
			page := e.Serve(httptest.NewRequest(http.MethodGet, "/", nil))
			if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET / = %d, %q", page.Status, page.Header.Get("Content-Type"))
			}
			if csp := page.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; script-src 'self';") {
				t.Fatalf("Content-Security-Policy = %q", csp)
			}
			if !strings.Contains(page.Body, `"X-Requested-With":"graphiql"`) || auth.CSRFHeaders[0] != "X-Requested-With" {
				t.Fatal("the page's fetcher lacks the CSRF header")
			}
			if got, want := strings.Contains(page.Body, cookieNote), e.App.Config.RefreshTokenCookie; got != want {
				t.Fatalf("cookie-mode note on the page = %v, want %v", got, want)
			}
			refs := assetRef.FindAllStringSubmatch(page.Body, -1)
			if len(refs) < 6 {
				t.Fatalf("page references %d assets: %q", len(refs), refs)
			}
			for _, ref := range refs {
				r := e.Serve(httptest.NewRequest(http.MethodGet, ref[1], nil))
				ct := r.Header.Get("Content-Type")
				if r.Status != http.StatusOK || !(strings.HasPrefix(ct, "text/javascript") || strings.HasPrefix(ct, "text/css")) {
					t.Errorf("GET %s = %d, %q", ref[1], r.Status, ct)
				}
				// The server's default no-store must not reach GraphiQL's
				// megabyte of versioned script.
				if strings.Contains(ref[1], "/graphiql-") && !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
					t.Errorf("GET %s Cache-Control = %q, want immutable", ref[1], r.Header.Get("Cache-Control"))
				}
			}
		})
	}

	t.Run("off", func(t *testing.T) {
		e := apptest.Open(t, "sqlite", func(c *app.Config) { c.Playground = false })
		for _, path := range []string{"/", playground.AssetsPath + "playground.js"} {
			if r := e.Serve(httptest.NewRequest(http.MethodGet, path, nil)); r.Status != http.StatusNotFound {
				t.Errorf("GET %s = %d with the playground off, want 404", path, r.Status)
			}
		}
	})
}
