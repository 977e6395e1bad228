package app_test

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// trustProxy trusts the proxy at 203.0.113.7 (TRUSTED_PROXIES).
func trustProxy(c *app.Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}
}

// linesOf returns the log records naming request id.
func linesOf(t *testing.T, e *apptest.Env, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range e.Logs.Records(t) {
		if rec["request_id"] == id {
			out = append(out, rec)
		}
	}
	return out
}

// Each request gets a new id, returned in X-Request-Id and named by every
// line logged for it: the access line and the auth event alike.
func TestRequestIDInResponseAndEveryLogLine(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		vars := map[string]any{"u": "alice", "p": "wrong password!"}
		r1 := e.Do("", apptest.LoginMutation, vars)
		r2 := e.Do("", apptest.LoginMutation, vars)
		id1, id2 := r1.Header.Get(app.RequestIDHeader), r2.Header.Get(app.RequestIDHeader)
		if !generatedID.MatchString(id1) || !generatedID.MatchString(id2) || id1 == id2 {
			t.Fatalf("X-Request-Id = %q, %q, want two different 32-hex ids", id1, id2)
		}
		lines := linesOf(t, e, id1)
		var msgs []string
		for _, l := range lines {
			msgs = append(msgs, l["msg"].(string))
		}
		if len(lines) != 2 || msgs[0] != "login failed" || msgs[1] != "request" {
			t.Fatalf("log lines of request %s = %q, want [login failed request]", id1, msgs)
		}
		// Every line of a request names it: none is left without an id.
		for _, rec := range e.Logs.Records(t) {
			if rec["request_id"] == nil {
				t.Errorf("log line without request_id: %v", rec)
			}
		}
	})
}

// A proxy listed in TRUSTED_PROXIES passes its id on; anyone else's header,
// and a malformed one even from the proxy, is replaced by a new id.
func TestIncomingRequestID(t *testing.T) {
	const proxy, client = "203.0.113.7:4000", "198.51.100.9:5000"
	tests := []struct {
		name, remote, header string
		kept                 bool
	}{
		{name: "trusted proxy", remote: proxy, header: "haproxy-7F000001:1F90_0A0B-42", kept: true},
		{name: "trusted proxy uuid", remote: proxy, header: "0b7c3c5e-2d7e-4f7e-9a43-0d2a4c8e5f11", kept: true},
		{name: "untrusted peer", remote: client, header: "chosen-by-client"},
		{name: "too long", remote: proxy, header: strings.Repeat("a", 129)},
		{name: "space", remote: proxy, header: "two words"},
		{name: "quote", remote: proxy, header: `a"b`},
		{name: "newline escape", remote: proxy, header: "a\\nb"},
		{name: "non-ascii", remote: proxy, header: "idé"},
	}
	e := apptest.Open(t, "sqlite", trustProxy)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Send(apptest.Request{Query: apptest.MeQuery, RemoteAddr: tt.remote,
				Header: map[string]string{app.RequestIDHeader: tt.header}})
			got := r.Header.Get(app.RequestIDHeader)
			if tt.kept {
				if got != tt.header {
					t.Fatalf("X-Request-Id = %q, want the proxy's %q", got, tt.header)
				}
			} else if !generatedID.MatchString(got) {
				t.Fatalf("X-Request-Id = %q, want a new 32-hex id in place of %q", got, tt.header)
			}
			if n := len(linesOf(t, e, got)); n != 1 {
				t.Fatalf("%d access lines name %q, want 1", n, got)
			}
		})
	}
	// Without TRUSTED_PROXIES nobody is trusted, not even that address.
	plain := apptest.Open(t, "sqlite")
	r := plain.Send(apptest.Request{Query: apptest.MeQuery, RemoteAddr: proxy,
		Header: map[string]string{app.RequestIDHeader: "haproxy-1"}})
	if got := r.Header.Get(app.RequestIDHeader); !generatedID.MatchString(got) {
		t.Fatalf("X-Request-Id without TRUSTED_PROXIES = %q, want a new id", got)
	}
}
