package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// A connection_init without a token, with a token the server never issued,
// or with an expired one is closed with 4401, as a request would be refused.
func TestLiveInitRefused(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.Session("alice", models.RoleUser)
		token := strings.TrimPrefix(alice.Header, "Bearer ")

		ws := e.MustDialWS(nil)
		ws.Init("")
		ws.WantClose(graph.CloseUnauthorized, "Unauthorized", 10*time.Second)

		ws = e.MustDialWS(nil)
		ws.Init(apptest.Bearer(apptest.OtherToken(token)))
		ws.WantClose(graph.CloseUnauthorized, "Unauthorized", 10*time.Second)

		ws = e.MustDialWS(nil)
		ws.Init("Basic " + token)
		ws.WantClose(graph.CloseUnauthorized, "Unauthorized", 10*time.Second)

		e.Clock.Advance(e.App.Config.AccessTTL + e.App.Config.JWTLeeway + time.Second)
		ws = e.MustDialWS(nil)
		ws.Init(alice.Header)
		ws.WantClose(graph.CloseUnauthorized, models.ReasonTokenExpired, 10*time.Second)
	})
}

// The socket lives as long as its access token: when exp (plus leeway)
// passes on the server's clock, it is closed with 4401 token_expired.
func TestLiveTokenExpiresDuringConnection(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.Session("alice", models.RoleUser)
		ws := e.MustDialWS(nil)
		ws.Connect(alice.Header)
		ws.Subscribe("1", apptest.SessionEventsSubscription, nil)
		// Still valid a second before the end: nothing happens.
		e.Clock.Advance(e.App.Config.AccessTTL + e.App.Config.JWTLeeway - time.Second)
		ws.Subscribe("2", apptest.MeQuery, nil)
		if m := ws.MustRead("next"); !strings.Contains(string(m.Payload), `"alice"`) {
			t.Fatalf("me over the socket: %s", m.Payload)
		}
		ws.MustRead("complete")
		e.Clock.Advance(time.Second)
		ws.WantClose(graph.CloseUnauthorized, models.ReasonTokenExpired, 10*time.Second)
	})
}

// A connection that sends no connection_init within 10 s (on the server's
// clock) is closed with 4408.
func TestLiveInitTimeout(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		ws := e.MustDialWS(nil)
		e.Clock.Advance(graph.DefaultInitTimeout)
		ws.WantClose(graph.CloseInitTimeout, "", 10*time.Second)
	})
}

// Every flow that ends a session — logout with its refresh token,
// logoutAll, revokeSession, changePassword (other sessions), setActive
// (false) — delivers SESSION_ENDED and then closes with 4403 the socket of
// that session held by the OTHER replica, within a second.
func TestLiveSessionEndsOnOtherReplica(t *testing.T) {
	flows := []struct {
		name string
		end  func(t *testing.T, a *apptest.Env, actor, admin string, victim apptest.Payload)
	}{
		{"logout", func(t *testing.T, a *apptest.Env, _, _ string, victim apptest.Payload) {
			apptest.MustOK(t, a.Do("", `mutation($t: String) { logout(refreshToken: $t) }`, map[string]any{"t": victim.RefreshToken}))
		}},
		{"logoutAll", func(t *testing.T, a *apptest.Env, actor, _ string, _ apptest.Payload) {
			apptest.MustOK(t, a.Do(actor, `mutation { logoutAll }`, nil))
		}},
		{"revokeSession", func(t *testing.T, a *apptest.Env, actor, _ string, victim apptest.Payload) {
			r := a.Do(actor, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": apptest.SessionOf(t, victim.AccessToken)})
			if apptest.MustOK(t, r); string(r.Data["revokeSession"]) != "true" {
				t.Fatalf("revokeSession: %s", r.Body)
			}
		}},
		{"changePassword", func(t *testing.T, a *apptest.Env, actor, _ string, _ apptest.Payload) {
			apptest.MustOK(t, a.Do(actor, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }`,
				map[string]any{"c": apptest.Password, "n": "another horse battery"}))
		}},
		{"setActive", func(t *testing.T, a *apptest.Env, _, admin string, victim apptest.Payload) {
			apptest.MustOK(t, a.Do(admin, `mutation($id: ID!) { setActive(id: $id, active: false) { id } }`, map[string]any{"id": victim.User.ID}))
		}},
	}
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			for _, f := range flows {
				t.Run(f.name, func(t *testing.T) {
					a, b := apptest.Pair(t, kind)
					admin := a.Session("admin", models.RoleAdmin)
					a.CreateUser("bob", apptest.Password, models.RoleUser)
					actor := a.Login("bob", apptest.Password)  // the device acting
					victim := b.Login("bob", apptest.Password) // the device signed out
					ws := b.MustDialWS(nil)
					ws.Connect(apptest.Bearer(victim.AccessToken))
					ws.Subscribe("1", apptest.SessionEventsSubscription, nil)
					waitSubscribed(t, b, 1)

					f.end(t, a, apptest.Bearer(actor.AccessToken), admin.Header, victim)
					ev := ws.WantEvent("SESSION_ENDED", apptest.LiveDeadline)
					if ev.SessionID == nil || *ev.SessionID != apptest.SessionOf(t, victim.AccessToken) {
						t.Fatalf("SESSION_ENDED names session %v, want the socket's", ev.SessionID)
					}
					ws.WantClose(graph.CloseForbidden, "", apptest.LiveDeadline)
				})
			}
		})
	}
}

// waitSubscribed waits until e's replica holds n subscriptions to
// sessionEvents, so that a change made next cannot come before them.
func waitSubscribed(t *testing.T, e *apptest.Env, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.App.Live.Subscriptions() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions after 10 s, want %d", e.App.Live.Subscriptions(), n)
		}
		<-time.After(time.Millisecond) // polling a condition, not waiting for an outcome
	}
}

// The other events: a new sign-in (with its user agent and IP), a profile
// change and a role change reach the account's sockets on the other
// replica, which stay open.
func TestLiveAccountEvents(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind)
			admin := a.Session("admin", models.RoleAdmin)
			bob := b.Session("bob", models.RoleUser)
			ws := b.MustDialWS(nil)
			ws.Connect(bob.Header)
			ws.Subscribe("1", apptest.SessionEventsSubscription, nil)
			waitSubscribed(t, b, 1)

			r := a.Send(apptest.Request{Query: apptest.LoginMutation, Vars: map[string]any{"u": "bob", "p": apptest.Password},
				UserAgent: "Firefox on the other laptop", RemoteAddr: "198.51.100.7:4444"})
			apptest.MustOK(t, r)
			other := r.Payload(t, "login")
			ev := ws.WantEvent("OTHER_SESSION_STARTED", apptest.LiveDeadline)
			if ev.SessionID == nil || *ev.SessionID != apptest.SessionOf(t, other.AccessToken) ||
				ev.UserAgent == nil || *ev.UserAgent != "Firefox on the other laptop" || ev.IP == nil || *ev.IP != "198.51.100.7" {
				t.Fatalf("OTHER_SESSION_STARTED = %+v", ev)
			}

			apptest.MustOK(t, a.Do(bob.Header, `mutation($id: ID!) { updateProfile(id: $id, input: {displayName: "Bobby"}) { id } }`, map[string]any{"id": bob.User.ID}))
			ws.WantEvent("PROFILE_CHANGED", apptest.LiveDeadline)

			apptest.MustOK(t, a.Do(admin.Header, `mutation($id: ID!) { setRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": bob.User.ID}))
			ws.WantEvent("ROLE_CHANGED", apptest.LiveDeadline)

			// Still open, and operations over it see the new role.
			ws.Subscribe("2", `{ me { role } }`, nil)
			if m := ws.MustRead("next"); !strings.Contains(string(m.Payload), `"ADMIN"`) {
				t.Fatalf("me after the role change: %s", m.Payload)
			}
		})
	}
}

// In cookie mode a handshake may rely on the refresh cookie alone, from the
// server's own origin or a CORS origin; any other Origin is refused with
// 403 before upgrading.
func TestLiveOriginInCookieMode(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		r := e.Send(apptest.Request{Query: apptest.LoginMutation, Vars: map[string]any{"u": "alice", "p": apptest.Password}})
		apptest.MustOK(t, r)
		cookie := e.WantRefreshCookie(t, r, true)
		withCookie := func(origin string) http.Header {
			h := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
			if origin != "" {
				h.Set("Origin", origin)
			}
			return h
		}

		_, res, err := e.DialWS(withCookie("https://evil.example"))
		if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin: err %v, response %v; want 403 before upgrading", err, res)
		}
		// A token does not make a foreign origin acceptable either.
		_, res, err = e.DialWS(http.Header{"Origin": {"http://localhost.evil.example"}})
		if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin without cookie: err %v, response %v", err, res)
		}

		for _, origin := range []string{"https://app.example.com", e.URL(), ""} {
			ws := e.MustDialWS(withCookie(origin))
			ws.Connect("") // no Authorization: the cookie authenticates
			ws.Subscribe("1", `{ me { username } }`, nil)
			if m := ws.MustRead("next"); !strings.Contains(string(m.Payload), `"alice"`) {
				t.Fatalf("origin %q: me over a cookie socket: %s", origin, m.Payload)
			}
		}

		// Without the cookie and without a token: 4401.
		ws := e.MustDialWS(http.Header{"Origin": {"https://app.example.com"}})
		ws.Init("")
		ws.WantClose(graph.CloseUnauthorized, "Unauthorized", 10*time.Second)
	}, apptest.CookieMode, func(c *app.Config) { c.CORSAllowedOrigins = []string{"https://app.example.com"} })
}

// At most WS_MAX_PER_USER sockets per user on a replica: the next is closed
// with 4429 at connection_init; closing one makes room.
func TestLivePerUserCap(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.Session("alice", models.RoleUser)
		bob := e.Session("bob", models.RoleUser)
		var open []*apptest.WS
		for range 2 {
			ws := e.MustDialWS(nil)
			ws.Connect(alice.Header)
			open = append(open, ws)
		}
		ws := e.MustDialWS(nil)
		ws.Init(alice.Header)
		ws.WantClose(graph.CloseTooManyPerUser, "too_many_connections", 10*time.Second)

		// Another user is not affected.
		e.MustDialWS(nil).Connect(bob.Header)

		_ = open[0].Conn.Close(websocket.StatusNormalClosure, "")
		deadline := time.Now().Add(10 * time.Second)
		for {
			ws := e.MustDialWS(nil)
			ws.Init(alice.Header)
			m, err := ws.Read(10 * time.Second)
			if err == nil && m.Type == "connection_ack" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no room after closing a socket: %v %v", m, err)
			}
		}
	}, func(c *app.Config) { c.WSMaxPerUser = 2 })
}

// Handshakes not yet authenticated are capped per client IP: the next is
// refused with 429 before upgrading.
func TestLivePendingPerIPCap(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		for range graph.DefaultMaxPendingPerIP {
			e.MustDialWS(nil)
		}
		_, res, err := e.DialWS(nil)
		if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("handshake over the cap: err %v, response %v; want 429", err, res)
		}
	})
}

// A personal access token over the socket is limited to its scopes:
// sessionEvents (for sessions only) and fields of scopes it lacks are
// refused, fields of its scopes answer.
func TestLivePersonalToken(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.Session("alice", models.RoleUser)
		pat := e.PersonalToken(alice, models.ScopeProfileWrite)
		ws := e.MustDialWS(nil)
		ws.Connect(pat.Header)

		ws.Subscribe("1", `{ me { username } }`, nil)
		wantCode(t, ws.MustRead("next"), "FORBIDDEN", models.ReasonInsufficientScope)
		ws.MustRead("complete")

		ws.Subscribe("2", apptest.SessionEventsSubscription, nil)
		m, err := ws.Read(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == "next" {
			wantCode(t, m, "FORBIDDEN", models.ReasonSessionRequired)
		} else if m.Type != "error" || !strings.Contains(string(m.Payload), models.ReasonSessionRequired) {
			t.Fatalf("sessionEvents with a personal access token: %s %s", m.Type, m.Payload)
		}

		reader := e.PersonalToken(alice, models.ScopeProfileRead)
		ws = e.MustDialWS(nil)
		ws.Connect(reader.Header)
		ws.Subscribe("1", `{ me { username } }`, nil)
		if m := ws.MustRead("next"); !strings.Contains(string(m.Payload), `"alice"`) {
			t.Fatalf("me with PROFILE_READ: %s", m.Payload)
		}
	})
}

func wantCode(t *testing.T, m apptest.Message, code, reason string) {
	t.Helper()
	if !strings.Contains(string(m.Payload), `"code":"`+code+`"`) || !strings.Contains(string(m.Payload), `"reason":"`+reason+`"`) {
		t.Fatalf("want %s %s, got %s %s", code, reason, m.Type, m.Payload)
	}
}

// Drain closes every socket with 1001 so clients reconnect elsewhere, and
// refuses new handshakes.
func TestLiveDrainClosesSockets(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.Session("alice", models.RoleUser)
		ws := e.MustDialWS(nil)
		ws.Connect(alice.Header)
		ws.Subscribe("1", apptest.SessionEventsSubscription, nil)
		e.App.Drain()
		ws.WantClose(int(websocket.StatusGoingAway), "", 10*time.Second)
		_, res, err := e.DialWS(nil)
		if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("handshake while draining: %v %v", err, res)
		}
	})
}
