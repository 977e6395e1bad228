package app

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"

	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/internal/requestid"
)

// RequestIDHeader carries a request's id, in the request from a trusted
// proxy and in every response.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an incoming id: UUIDs, HAProxy's unique-id and
// AWS trace ids all fit.
const maxRequestIDLen = 128

// withRequestID gives each request an id: the X-Request-Id of a trusted
// proxy (TRUSTED_PROXIES) when it is well formed, so that the proxy's logs
// and ours name the request alike, or else a new random one. Anyone else's
// header is ignored: a client must not be able to put what it likes into
// our logs, nor make two requests look like one. The id goes into the
// request's context (requestid.With), where the log handler finds it, and
// back to the client in X-Request-Id.
func withRequestID(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if id == "" || !validRequestID(id) || !auth.TrustedPeer(r.RemoteAddr, trusted) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(requestid.With(r.Context(), id)))
	})
}

// validRequestID reports whether id is short and made only of characters
// safe in a header, a log line and a query: letters, digits and - _ . : / + =.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}
