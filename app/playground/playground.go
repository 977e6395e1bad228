// Package playground serves Ironclad's GraphQL playground: GraphiQL, its
// React runtime and a small start-up script, all embedded in the binary, so
// the page works without internet access and under a Content-Security-Policy
// that admits nothing but the server itself.
package playground

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// AssetsPath is the path prefix under which the page's scripts and styles
// are served.
const AssetsPath = "/playground/assets/"

// Versions of the third-party assets; assets/update.sh fetches them from the
// npm registry and pins the same numbers.
const (
	graphiqlVersion = "4.1.2"
	reactVersion    = "18.3.1"
)

// Paths of the assets the page loads, relative to AssetsPath. A folder named
// after a package and its version holds files that never change, so
// browsers may keep them for a year.
const (
	graphiqlCSS = "graphiql-" + graphiqlVersion + "/graphiql.min.css"
	graphiqlJS  = "graphiql-" + graphiqlVersion + "/graphiql.min.js"
	reactJS     = "react-" + reactVersion + "/react.production.min.js"
	reactDOMJS  = "react-dom-" + reactVersion + "/react-dom.production.min.js"
	pageCSS     = "playground.css"
	pageJS      = "playground.js"
)

//go:embed assets/playground.js assets/playground.css assets/graphiql-* assets/react-*
var assetFiles embed.FS

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// contentTypes maps the extensions of the embedded files to their media
// types; a file of any other kind is not served. The server sends nosniff,
// so a script served under another type would not run.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	"":     "text/plain; charset=utf-8", // LICENSE
}

// Options configure the playground.
type Options struct {
	Title    string // the page title
	Endpoint string // the GraphQL endpoint, a path on this server
	// FetcherHeaders go with every operation the playground sends, without
	// showing in its Headers tab.
	FetcherHeaders map[string]string
	// CookieMode says the refresh token travels in an HttpOnly cookie
	// (REFRESH_TOKEN_COOKIE=true); the starter document then says so.
	CookieMode bool
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
	immutable   bool
}

// handler serves the page and its assets.
type handler struct {
	opts   Options
	config config
	assets map[string]asset // by path under AssetsPath
}

// config is what the start-up script reads from the page: the page carries
// it as a JSON data block, which the CSP does not treat as script.
type config struct {
	Endpoint       string            `json:"endpoint"`
	FetcherHeaders map[string]string `json:"fetcherHeaders"`
	DefaultQuery   string            `json:"defaultQuery"`
	// StyleNonce lets GraphiQL's dialogs add the one <style> element they
	// need (their scroll lock) under the page's style-src.
	StyleNonce string `json:"styleNonce"`
}

// Handler returns the playground: the page at "/" and its assets under
// AssetsPath. Mount it on both ("GET /{$}" and "GET "+AssetsPath).
func Handler(opts Options) http.Handler {
	h := &handler{
		opts: opts,
		config: config{
			Endpoint:       opts.Endpoint,
			FetcherHeaders: opts.FetcherHeaders,
			DefaultQuery:   StarterDocument(opts.CookieMode),
		},
		assets: map[string]asset{},
	}
	err := fs.WalkDir(assetFiles, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assetFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		rel := strings.TrimPrefix(p, "assets/")
		h.assets[rel] = asset{
			body:        body,
			contentType: contentTypes[path.Ext(rel)],
			etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
			immutable:   strings.Contains(rel, "/"), // inside a folder named after a package and its version
		}
		return nil
	})
	if err != nil {
		panic("playground: read embedded assets: " + err.Error()) // the build embedded them: cannot happen
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" {
		h.servePage(w, r)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, AssetsPath)
	a, found := h.assets[rel]
	if !ok || !found || a.contentType == "" {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	if a.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// Unversioned files change with Ironclad: revalidate by ETag.
		hd.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// pageData fills page.html.
type pageData struct {
	Title                                   string
	Config                                  config
	GraphiqlCSS, PageCSS                    string
	ReactJS, ReactDOMJS, GraphiqlJS, PageJS string
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	nonce := rand.Text() // 130 random bits, new on every load
	cfg := h.config
	cfg.StyleNonce = nonce
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, pageData{
		Title:       h.opts.Title,
		Config:      cfg,
		GraphiqlCSS: AssetsPath + graphiqlCSS,
		PageCSS:     AssetsPath + pageCSS,
		ReactJS:     AssetsPath + reactJS,
		ReactDOMJS:  AssetsPath + reactDOMJS,
		GraphiqlJS:  AssetsPath + graphiqlJS,
		PageJS:      AssetsPath + pageJS,
	})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", CSP(nonce))
	hd.Set("Cache-Control", "no-store") // a fresh nonce on every load
	if r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}

// CSP returns the Content-Security-Policy of the page: scripts, styles,
// images, fonts and requests from this server only (the fonts and icons
// GraphiQL inlines as data: URLs aside), plus the one <style> element that
// carries nonce. No inline script runs, and the page cannot be framed.
func CSP(nonce string) string {
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self' 'nonce-" + nonce + "'",
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// StarterDocument returns the document a new playground tab opens on: how
// to log in and call an authenticated query, with the refresh-cookie note of
// cookie mode when cookieMode is set.
func StarterDocument(cookieMode bool) string {
	var b strings.Builder
	b.WriteString(`# Welcome to the Ironclad playground.
#
# 1. Put your username and password in Login below and run it (the ▶ button,
#    or Ctrl-Enter with the cursor inside it).
# 2. Copy accessToken from the response, open the Headers tab under this
#    editor and write:
#
#      {"Authorization": "Bearer <accessToken>"}
#
# 3. Run Me: it answers with your account. An access token lives a few
#    minutes (ACCESS_TOKEN_TTL); run Refresh for a new one, then update the
#    header.
`)
	refresh := `mutation Refresh {
  refreshToken(refreshToken: "<refreshToken from Login>") {
    accessToken
    refreshToken
    expiresIn
  }
}
`
	if cookieMode {
		b.WriteString(`#
# Cookie mode is on (REFRESH_TOKEN_COOKIE=true): Login puts the refresh token
# in an HttpOnly cookie instead of the response, and the browser sends it
# back for you. This page adds the CSRF header such requests need, so
# refreshToken works without an argument.
`)
		refresh = `mutation Refresh {
  refreshToken {
    accessToken
    expiresIn
  }
}
`
	}
	b.WriteString(`
mutation Login {
  login(username: "your username", password: "your password") {
    accessToken
    refreshToken
    expiresIn
    user {
      id
      username
      role
    }
  }
}

query Me {
  me {
    id
    username
    email
    role
    lastLoginAt
  }
}

`)
	b.WriteString(refresh)
	return b.String()
}
