package auth_test

import (
	"fmt"
	"testing"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
)

func TestClientIPAndTrustedProxies(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, untrusted *apptest.Env) {
		st := untrusted.App.Store
		proxied := apptest.New(t, st, nil, func(c *app.Config) {
			var err error
			if c.TrustedProxies, err = auth.ParseTrustedProxies("10.0.0.0/8, 192.0.2.10"); err != nil {
				t.Fatal(err)
			}
		})
		untrusted.CreateUser("alice", apptest.Password, models.RoleUser)
		// client is a login from remoteAddr with X-Forwarded-For xff, when set.
		client := func(remoteAddr, xff string) apptest.Request {
			rq := apptest.Request{RemoteAddr: remoteAddr}
			if xff != "" {
				rq.Header = map[string]string{"X-Forwarded-For": xff}
			}
			return rq
		}
		seenIP := func(e *apptest.Env, rq apptest.Request) string {
			t.Helper()
			rq.Query, rq.Vars = apptest.LoginMutation, map[string]any{"u": "alice", "p": apptest.Password}
			p := apptest.Decode[apptest.Payload](t, e.Send(rq), "login")
			for _, s := range apptest.Decode[[]model.Session](t, e.Do(apptest.Bearer(p.AccessToken), sessionsQuery, nil), "sessions") {
				if s.Current {
					return str(s.IP)
				}
			}
			t.Fatal("no current session")
			return ""
		}
		tests := []struct {
			name string
			env  *apptest.Env
			rq   apptest.Request
			want string
		}{
			{"X-Forwarded-For from an untrusted peer is ignored", untrusted, client("198.51.100.4:1000", "203.0.113.1"), "198.51.100.4"},
			{"a peer outside TRUSTED_PROXIES is not a proxy", proxied, client("198.51.100.4:1000", "203.0.113.1"), "198.51.100.4"},
			{"a trusted proxy's X-Forwarded-For names the client", proxied, client("10.1.2.3:1000", "203.0.113.1"), "203.0.113.1"},
			{"trusted hops are skipped right to left; a spoofed left part is ignored", proxied, client("10.1.2.3:1000", "1.1.1.1, 203.0.113.2, 10.9.9.9"), "203.0.113.2"},
			{"a single trusted address", proxied, client("192.0.2.10:1000", "203.0.113.3"), "203.0.113.3"},
			{"garbage stops at the last trusted hop", proxied, client("10.1.2.3:1000", "203.0.113.1, not-an-ip"), "10.1.2.3"},
			{"a trusted peer without the header", proxied, client("10.1.2.3:1000", ""), "10.1.2.3"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := seenIP(tt.env, tt.rq); got != tt.want {
					t.Errorf("session IP = %q, want %q", got, tt.want)
				}
			})
		}

		// Spoofing X-Forwarded-For does not escape the per-IP limit.
		e := apptest.New(t, st, nil, func(c *app.Config) { c.LoginPerIP.Max = 3 })
		login := func(rq apptest.Request, user, password string) apptest.Response {
			rq.Query, rq.Vars = apptest.LoginMutation, map[string]any{"u": user, "p": password}
			return e.Send(rq)
		}
		for i := range 3 {
			apptest.WantError(t, login(client("198.51.100.77:1", fmt.Sprintf("203.0.113.%d", i)), fmt.Sprintf("u%d", i), "guess"),
				"UNAUTHENTICATED", "invalid_credentials")
		}
		apptest.WantError(t, login(client("198.51.100.77:1", "203.0.113.99"), "alice", apptest.Password), "TOO_MANY_REQUESTS", "")
	})
}
