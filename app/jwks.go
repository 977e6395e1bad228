package app

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Discovery paths: where integrators find the public keys.
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// jwksHandler serves the public keys of the access tokens as an RFC 7517
// key set, cacheable for JWKS_MAX_AGE, with an ETag so a client's
// revalidation costs a 304. In HS256 mode there is nothing public: 404.
func (a *App) jwksHandler(w http.ResponseWriter, r *http.Request) {
	if !a.publishesKeys() {
		http.NotFound(w, r)
		return
	}
	body, err := a.Tokens.JWKS()
	if err != nil {
		a.Log.ErrorContext(r.Context(), "jwks", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(a.Config.JWKSMaxAge.Seconds())))
	h.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	w.Write(body)
}

// etagMatches reports whether an If-None-Match header names etag (RFC 9110
// weak comparison, or *).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// publishesKeys reports whether access tokens are signed asymmetrically.
func (a *App) publishesKeys() bool { return len(a.Tokens.PublicKeys()) > 0 }

// discoveryHandler serves a minimal OpenID Provider metadata document, so
// libraries that discover keys from the issuer find the JWKS.
func (a *App) discoveryHandler(w http.ResponseWriter, r *http.Request) {
	if !a.publishesKeys() {
		http.NotFound(w, r)
		return
	}
	algs := []string{}
	seen := map[string]bool{}
	for _, k := range a.Tokens.PublicKeys() {
		if !seen[k.Alg] {
			seen[k.Alg] = true
			algs = append(algs, k.Alg)
		}
	}
	doc := map[string]any{
		"issuer":                                a.Config.JWTIssuer,
		"jwks_uri":                              a.baseURL(r) + JWKSPath,
		"id_token_signing_alg_values_supported": algs,
		"token_endpoint_auth_methods_supported": []string{"none"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(a.Config.JWKSMaxAge.Seconds())))
	json.NewEncoder(w).Encode(doc)
}

// baseURL is the origin integrators reach this server at: the issuer when
// it is an http(s) URL, else the request's own scheme and host.
func (a *App) baseURL(r *http.Request) string {
	if iss := a.Config.JWTIssuer; strings.HasPrefix(iss, "https://") || strings.HasPrefix(iss, "http://") {
		return strings.TrimSuffix(iss, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// withPublicCORS opens next to every origin for GET, without credentials:
// the key set and discovery document are public, and browsers' verifiers
// fetch them cross-origin.
func withPublicCORS(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET")
			h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Add("Vary", "Origin")
		next(w, r)
	})
}
