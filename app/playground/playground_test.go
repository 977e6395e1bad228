package playground_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/playground"
)

var opts = playground.Options{
	Title:          "Ironclad",
	Endpoint:       "/query",
	FetcherHeaders: map[string]string{"X-Requested-With": "graphiql"},
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// page is the served page, with what the tests look at.
type page struct {
	csp    string
	body   string
	urls   []string // every src and href
	config struct {
		Endpoint       string            `json:"endpoint"`
		FetcherHeaders map[string]string `json:"fetcherHeaders"`
		DefaultQuery   string            `json:"defaultQuery"`
		StyleNonce     string            `json:"styleNonce"`
	}
}

var (
	attrURL    = regexp.MustCompile(`\s(?:src|href)="([^"]*)"`)
	configJSON = regexp.MustCompile(`(?s)<script id="playground-config" type="application/json">(.*?)</script>`)
)

func loadPage(t *testing.T, h http.Handler) page {
	t.Helper()
	rec := get(t, h, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("GET / Content-Type = %q", ct)
	}
	p := page{csp: rec.Header().Get("Content-Security-Policy"), body: rec.Body.String()}
	for _, m := range attrURL.FindAllStringSubmatch(p.body, -1) {
		p.urls = append(p.urls, m[1])
	}
	m := configJSON.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("page has no config block:\n%s", p.body)
	}
	if err := json.Unmarshal([]byte(m[1]), &p.config); err != nil {
		t.Fatalf("config block: %v\n%s", err, m[1])
	}
	return p
}

func TestPageCSP(t *testing.T) {
	h := playground.Handler(opts)
	p := loadPage(t, h)
	if p.config.StyleNonce == "" {
		t.Fatal("config has no style nonce")
	}
	if want := playground.CSP(p.config.StyleNonce); p.csp != want {
		t.Fatalf("Content-Security-Policy = %q, want %q", p.csp, want)
	}
	for _, d := range []string{
		"default-src 'none'", "script-src 'self'", "style-src 'self' 'nonce-" + p.config.StyleNonce + "'",
		"img-src 'self' data:", "font-src 'self' data:", "connect-src 'self'",
		"base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
	} {
		if !strings.Contains(p.csp+";", d+";") {
			t.Errorf("CSP %q lacks %q", p.csp, d)
		}
	}
	if strings.Contains(p.csp, "unsafe") {
		t.Errorf("CSP %q allows unsafe sources", p.csp)
	}
	if again := loadPage(t, h); again.config.StyleNonce == p.config.StyleNonce {
		t.Fatal("two loads of the page share a nonce")
	}
	// The CSP forbids inline script: every script element loads a file,
	// but the config block, which is data.
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(p.body, -1) {
		if !strings.Contains(tag, ` src="`) && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("inline script %s", tag)
		}
	}
	if strings.Contains(p.body, " style=") {
		t.Error("page has a style attribute, which the CSP blocks")
	}
}

func TestPageAssetsAreServedFromTheBinary(t *testing.T) {
	h := playground.Handler(opts)
	p := loadPage(t, h)
	if len(p.urls) < 6 {
		t.Fatalf("page references %d URLs, want GraphiQL, React, ReactDOM and the page's own files: %q", len(p.urls), p.urls)
	}
	for _, u := range p.urls {
		if u == "data:," { // the empty favicon: no request at all
			continue
		}
		if strings.Contains(u, "://") || strings.HasPrefix(u, "//") || !strings.HasPrefix(u, playground.AssetsPath) {
			t.Errorf("page references %q, want a path under %s", u, playground.AssetsPath)
			continue
		}
		rec := get(t, h, u)
		want := "text/javascript; charset=utf-8"
		if strings.HasSuffix(u, ".css") {
			want = "text/css; charset=utf-8"
		}
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != want || rec.Body.Len() == 0 {
			t.Errorf("GET %s = %d, %q, %d bytes; want 200, %q", u, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), want)
		}
	}
}

func TestAssetCaching(t *testing.T) {
	h := playground.Handler(opts)
	for _, tc := range []struct {
		path, cacheControl string
	}{
		{"graphiql-4.1.2/graphiql.min.js", "public, max-age=31536000, immutable"},
		{"react-18.3.1/react.production.min.js", "public, max-age=31536000, immutable"},
		{"playground.js", "no-cache"}, // changes with Ironclad, under the same name
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := get(t, h, playground.AssetsPath+tc.path)
			if got := rec.Header().Get("Cache-Control"); rec.Code != http.StatusOK || got != tc.cacheControl {
				t.Fatalf("GET = %d, Cache-Control %q; want 200, %q", rec.Code, got, tc.cacheControl)
			}
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if again := get(t, h, playground.AssetsPath+tc.path, "If-None-Match", etag); again.Code != http.StatusNotModified {
				t.Fatalf("GET with If-None-Match = %d, want 304", again.Code)
			}
		})
	}
}

func TestLicencesAndUnknownPaths(t *testing.T) {
	h := playground.Handler(opts)
	for _, dir := range []string{"graphiql-4.1.2", "react-18.3.1", "react-dom-18.3.1"} {
		rec := get(t, h, playground.AssetsPath+dir+"/LICENSE")
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" ||
			!strings.Contains(rec.Body.String(), "MIT License") {
			t.Errorf("GET %s/LICENSE = %d, %q", dir, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	for _, path := range []string{"update.sh", "nope.js", "graphiql-4.1.2/", "", "../playground.go"} {
		if rec := get(t, h, playground.AssetsPath+path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s%s = %d, want 404", playground.AssetsPath, path, rec.Code)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", rec.Code)
	}
}

func TestStarterDocument(t *testing.T) {
	const cookieNote = "refreshToken works without an argument"
	for _, tc := range []struct {
		name       string
		cookieMode bool
	}{{"body mode", false}, {"cookie mode", true}} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.CookieMode = tc.cookieMode
			doc := loadPage(t, playground.Handler(o)).config.DefaultQuery
			if doc != playground.StarterDocument(tc.cookieMode) {
				t.Fatalf("page's default query differs from StarterDocument(%v)", tc.cookieMode)
			}
			for _, want := range []string{
				"mutation Login {", "login(username:", "accessToken",
				"query Me {", "me {",
				"Headers tab", `{"Authorization": "Bearer <accessToken>"}`,
				"mutation Refresh {",
			} {
				if !strings.Contains(doc, want) {
					t.Errorf("starter document lacks %q:\n%s", want, doc)
				}
			}
			if got := strings.Contains(doc, cookieNote); got != tc.cookieMode {
				t.Errorf("cookie-mode note present = %v, want %v:\n%s", got, tc.cookieMode, doc)
			}
			// In cookie mode the refresh token is not in the response, so the
			// document's Refresh sends none.
			if got := strings.Contains(doc, "refreshToken(refreshToken:"); got == tc.cookieMode {
				t.Errorf("Refresh passes an argument = %v in %s:\n%s", got, tc.name, doc)
			}
		})
	}
}

func TestFetcherConfig(t *testing.T) {
	p := loadPage(t, playground.Handler(opts))
	if p.config.Endpoint != "/query" {
		t.Errorf("endpoint = %q, want /query", p.config.Endpoint)
	}
	if got := p.config.FetcherHeaders["X-Requested-With"]; got != "graphiql" || len(p.config.FetcherHeaders) != 1 {
		t.Errorf("fetcher headers = %v, want X-Requested-With: graphiql", p.config.FetcherHeaders)
	}
	if p.config.DefaultQuery == "" {
		t.Error("no default query")
	}
}
