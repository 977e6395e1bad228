package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/internal/requestid"
	"github.com/ironclad-auth/ironclad/models"
)

const (
	auditIP    = "198.51.100.30"
	auditAgent = "audit-agent/1.0"
)

// wantEvent is what one flow must store: exactly one event of this type,
// with these ids ("" for none) and the client's IP and user agent.
type wantEvent struct {
	typ                  models.AuditType
	user, actor, session string
	details              map[string]any // entries the details must hold
	detailsAbsent        []string       // keys the details must not hold
}

// checkEvents fails unless got is exactly one event matching w (or none
// when w is nil).
func checkEvents(t *testing.T, flow string, got []*models.AuditEvent, w *wantEvent) {
	t.Helper()
	if w == nil {
		for _, ev := range got {
			t.Errorf("%s stored %s event %+v, want none", flow, ev.Type, ev)
		}
		return
	}
	if len(got) != 1 {
		types := []string{}
		for _, ev := range got {
			types = append(types, string(ev.Type))
		}
		t.Fatalf("%s stored events %v, want exactly one %s", flow, types, w.typ)
	}
	ev := got[0]
	session := apptest.Str(ev.SessionID)
	if w.session == "*" && session != "" {
		session = "*" // any session: the test checks which one itself
	}
	if ev.Type != w.typ || apptest.Str(ev.UserID) != w.user || apptest.Str(ev.ActorID) != w.actor || session != w.session {
		t.Errorf("%s event = type %s user %q actor %q session %q, want %s %q %q %q", flow, ev.Type,
			apptest.Str(ev.UserID), apptest.Str(ev.ActorID), apptest.Str(ev.SessionID), w.typ, w.user, w.actor, w.session)
	}
	if ev.IP != auditIP || ev.UserAgent != auditAgent {
		t.Errorf("%s event client = %q %q, want %q %q", flow, ev.IP, ev.UserAgent, auditIP, auditAgent)
	}
	d := ev.DetailsMap()
	for k, v := range w.details {
		if d[k] != v {
			t.Errorf("%s event details[%s] = %v, want %v (details %s)", flow, k, d[k], v, ev.Details)
		}
	}
	for _, k := range w.detailsAbsent {
		if _, ok := d[k]; ok {
			t.Errorf("%s event details hold %s: %s", flow, k, ev.Details)
		}
	}
}

// TestAuditEventsOfEveryFlow: each flow, through the real handler, stores
// exactly its audit event, naming the right user, actor and session with
// the client's IP and user agent; flows that change nothing store none;
// no event holds a secret.
func TestAuditEventsOfEveryFlow(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.CreateUser("alice", apptest.Password, models.RoleUser)
		admin := e.CreateUser("root", apptest.Password, models.RoleAdmin)
		const newPW = "another secret passphrase"
		secrets := []string{apptest.Password, newPW}
		call := func(authz, query string, vars map[string]any) apptest.Response {
			return e.Send(apptest.Request{Query: query, Vars: vars, Authz: authz, RemoteAddr: auditIP + ":4321", UserAgent: auditAgent})
		}
		login := func(user, pw string) apptest.Payload {
			p := apptest.Decode[apptest.Payload](t, call("", apptest.LoginMutation, map[string]any{"u": user, "p": pw}), "login")
			secrets = append(secrets, p.AccessToken, p.RefreshToken)
			return p
		}
		// step runs one flow and checks what it stored.
		step := func(flow string, w *wantEvent, do func()) {
			t.Helper()
			before := e.AuditEvents(t)
			do()
			checkEvents(t, flow, e.AuditSince(t, before), w)
		}

		var a apptest.Payload
		step("login", &wantEvent{typ: models.AuditLoginSucceeded, user: alice.ID, session: "*"}, func() { a = login("alice", apptest.Password) })
		aSession := apptest.SessionOf(t, a.AccessToken)
		// The store names the session it opened.
		if evs := e.AuditEvents(t); apptest.Str(evs[len(evs)-1].SessionID) != aSession {
			t.Errorf("login event session = %q, want %q", apptest.Str(evs[len(evs)-1].SessionID), aSession)
		}
		step("wrong password", &wantEvent{typ: models.AuditLoginFailed, user: alice.ID, details: map[string]any{"reason": "wrong_password"}}, func() {
			apptest.WantError(t, call("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong " + apptest.Password}), "UNAUTHENTICATED", "invalid_credentials")
		})
		step("unknown user", &wantEvent{typ: models.AuditLoginFailed, details: map[string]any{"reason": "unknown_user"}, detailsAbsent: []string{"username"}}, func() {
			apptest.WantError(t, call("", apptest.LoginMutation, map[string]any{"u": "mallory", "p": apptest.Password}), "UNAUTHENTICATED", "invalid_credentials")
		})

		var a2 apptest.Payload
		step("refresh", nil, func() {
			a2 = apptest.Decode[apptest.Payload](t, call("", apptest.RefreshMutation, map[string]any{"t": a.RefreshToken}), "refreshToken")
			secrets = append(secrets, a2.AccessToken, a2.RefreshToken)
		})
		e.Clock.Advance(time.Minute) // past REFRESH_REUSE_GRACE
		step("refresh token reuse", &wantEvent{typ: models.AuditRefreshReuse, user: alice.ID, session: aSession}, func() {
			apptest.WantError(t, call("", apptest.RefreshMutation, map[string]any{"t": a.RefreshToken}), "UNAUTHENTICATED", "refresh_token_reused")
		})
		step("reuse of a revoked session", nil, func() {
			apptest.WantError(t, call("", apptest.RefreshMutation, map[string]any{"t": a.RefreshToken}), "UNAUTHENTICATED", "refresh_token_invalid")
		})

		b := login("alice", apptest.Password)
		step("logout", &wantEvent{typ: models.AuditLoggedOut, user: alice.ID, session: apptest.SessionOf(t, b.AccessToken)}, func() {
			apptest.MustOK(t, call("", logoutMutation, map[string]any{"t": b.RefreshToken}))
		})
		step("logout again", nil, func() { apptest.MustOK(t, call("", logoutMutation, map[string]any{"t": b.RefreshToken})) })
		step("logout of an unknown token", nil, func() { apptest.MustOK(t, call("", logoutMutation, map[string]any{"t": "no-such-token"})) })

		c, d := login("alice", apptest.Password), login("alice", apptest.Password)
		cSession, dSession := apptest.SessionOf(t, c.AccessToken), apptest.SessionOf(t, d.AccessToken)
		step("revokeSession", &wantEvent{typ: models.AuditSessionRevoked, user: alice.ID, session: dSession, details: map[string]any{"by_session_id": cSession}}, func() {
			if !apptest.Decode[bool](t, call(apptest.Bearer(c.AccessToken), revokeSessionMutation, map[string]any{"id": dSession}), "revokeSession") {
				t.Fatal("revokeSession = false")
			}
		})
		step("revokeSession of an ended session", nil, func() {
			apptest.MustOK(t, call(apptest.Bearer(c.AccessToken), revokeSessionMutation, map[string]any{"id": dSession}))
		})

		step("changePassword, wrong current password", &wantEvent{typ: models.AuditLoginFailed, user: alice.ID, session: cSession,
			details: map[string]any{"reason": "wrong_current_password"}}, func() {
			apptest.WantError(t, call(apptest.Bearer(c.AccessToken), changePasswordMut, map[string]any{"c": "not " + apptest.Password, "n": newPW}), "UNAUTHENTICATED", "invalid_credentials")
		})
		step("changePassword", &wantEvent{typ: models.AuditPasswordChanged, user: alice.ID, session: cSession}, func() {
			cp := apptest.Decode[apptest.Payload](t, call(apptest.Bearer(c.AccessToken), changePasswordMut, map[string]any{"c": apptest.Password, "n": newPW}), "changePassword")
			secrets = append(secrets, cp.AccessToken, cp.RefreshToken)
		})

		var tokenID, token string
		step("createPersonalAccessToken", &wantEvent{typ: models.AuditPersonalTokenCreate, user: alice.ID, session: cSession, details: map[string]any{"name": "ci"}}, func() {
			r := call(apptest.Bearer(c.AccessToken), `mutation { createPersonalAccessToken(name: "ci", scopes: [PROFILE_READ]) { token personalAccessToken { id } } }`, nil)
			out := apptest.Decode[model.NewPersonalAccessToken](t, r, "createPersonalAccessToken")
			tokenID, token = out.PersonalAccessToken.ID, out.Token
			secrets = append(secrets, token)
		})
		if evs := e.AuditEvents(t); evs[len(evs)-1].DetailsMap()["token_id"] != tokenID {
			t.Errorf("PERSONAL_TOKEN_CREATED details = %s, want token_id %s", evs[len(evs)-1].Details, tokenID)
		}
		revokePAT := `mutation($id: ID!) { revokePersonalAccessToken(id: $id) }`
		step("revokePersonalAccessToken", &wantEvent{typ: models.AuditPersonalTokenRevoke, user: alice.ID, session: cSession, details: map[string]any{"token_id": tokenID}}, func() {
			if !apptest.Decode[bool](t, call(apptest.Bearer(c.AccessToken), revokePAT, map[string]any{"id": tokenID}), "revokePersonalAccessToken") {
				t.Fatal("revokePersonalAccessToken = false")
			}
		})
		step("revokePersonalAccessToken again", nil, func() {
			apptest.MustOK(t, call(apptest.Bearer(c.AccessToken), revokePAT, map[string]any{"id": tokenID}))
		})

		root := login("root", apptest.Password)
		rootSession := apptest.SessionOf(t, root.AccessToken)
		step("setRole", &wantEvent{typ: models.AuditRoleChanged, user: alice.ID, actor: admin.ID, session: rootSession, details: map[string]any{"role": "ADMIN"}}, func() {
			apptest.MustOK(t, call(apptest.Bearer(root.AccessToken), `mutation($id: ID!) { setRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": alice.ID}))
		})
		step("setActive", &wantEvent{typ: models.AuditActiveChanged, user: alice.ID, actor: admin.ID, session: rootSession, details: map[string]any{"active": false}}, func() {
			apptest.MustOK(t, call(apptest.Bearer(root.AccessToken), `mutation($id: ID!) { setActive(id: $id, active: false) { id } }`, map[string]any{"id": alice.ID}))
		})
		step("login of an inactive user", &wantEvent{typ: models.AuditLoginFailed, user: alice.ID, details: map[string]any{"reason": "inactive"}}, func() {
			apptest.WantError(t, call("", apptest.LoginMutation, map[string]any{"u": "alice", "p": newPW}), "UNAUTHENTICATED", "invalid_credentials")
		})

		step("logoutAll", &wantEvent{typ: models.AuditLoggedOutAll, user: admin.ID, session: rootSession}, func() {
			apptest.MustOK(t, call(apptest.Bearer(root.AccessToken), logoutAllMutation, nil))
		})

		// Rate limiting: the sixth failure in a row for one username.
		e.CreateUser("bob", apptest.Password, models.RoleUser)
		for range auth.DefaultPerUser.Max {
			call("", apptest.LoginMutation, map[string]any{"u": "bob", "p": "wrong"})
		}
		step("rate-limited login", &wantEvent{typ: models.AuditRateLimited, details: map[string]any{"limit": "user"}}, func() {
			code, _ := call("", apptest.LoginMutation, map[string]any{"u": "bob", "p": apptest.Password}).Code()
			if code != "TOO_MANY_REQUESTS" {
				t.Fatalf("sixth login code = %q, want TOO_MANY_REQUESTS", code)
			}
		})

		// Accounts: an admin sets a password, deletes an account; a user deletes their own.
		carol := e.CreateUser("carol", apptest.Password, models.RoleUser)
		root = login("root", apptest.Password)
		rootSession = apptest.SessionOf(t, root.AccessToken)
		step("setPassword", &wantEvent{typ: models.AuditPasswordChanged, user: carol.ID, actor: admin.ID, session: rootSession, details: map[string]any{"by": "admin"}}, func() {
			apptest.MustOK(t, call(apptest.Bearer(root.AccessToken), `mutation($id: ID!, $p: String!) { setPassword(id: $id, newPassword: $p) }`, map[string]any{"id": carol.ID, "p": newPW}))
		})
		step("deleteUser", &wantEvent{typ: models.AuditAccountDeleted, user: carol.ID, actor: admin.ID, session: rootSession, details: map[string]any{"by": "admin"}}, func() {
			apptest.MustOK(t, call(apptest.Bearer(root.AccessToken), `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": carol.ID}))
		})
		dave := e.CreateUser("dave", apptest.Password, models.RoleUser)
		dv := login("dave", apptest.Password)
		step("deleteMyAccount", &wantEvent{typ: models.AuditAccountDeleted, user: dave.ID, actor: dave.ID, session: apptest.SessionOf(t, dv.AccessToken), details: map[string]any{"by": "self"}}, func() {
			apptest.MustOK(t, call(apptest.Bearer(dv.AccessToken), `mutation($p: String!) { deleteMyAccount(password: $p) }`, map[string]any{"p": apptest.Password}))
		})

		for _, ev := range e.AuditEvents(t) {
			text := strings.Join([]string{ev.Details, ev.IP, ev.UserAgent, apptest.Str(ev.UserID), apptest.Str(ev.ActorID), apptest.Str(ev.SessionID)}, " ")
			for _, s := range secrets {
				if s != "" && strings.Contains(text, s) {
					t.Errorf("%s event holds a secret: %s", ev.Type, text)
				}
			}
		}
	})
}

// TestAuditRequestID: an event stores the request id of its request in its
// details.
func TestAuditRequestID(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		u := e.CreateUser("alice", apptest.Password, models.RoleUser)
		ctx := requestid.With(context.Background(), "req-login-1")
		if _, err := e.App.Auth.Login(ctx, "alice", apptest.Password); err != nil {
			t.Fatal(err)
		}
		if _, err := e.App.Auth.Login(requestid.With(context.Background(), "req-failed-2"), "alice", "wrong"); err == nil {
			t.Fatal("wrong password logged in")
		}
		// A request without an id stores none.
		if _, err := e.App.Auth.Login(context.Background(), "alice", apptest.Password); err != nil {
			t.Fatal(err)
		}
		evs := e.AuditEvents(t)
		want := []struct {
			typ models.AuditType
			id  any
		}{{models.AuditLoginSucceeded, "req-login-1"}, {models.AuditLoginFailed, "req-failed-2"}, {models.AuditLoginSucceeded, nil}}
		if len(evs) != len(want) {
			t.Fatalf("got %d events, want %d", len(evs), len(want))
		}
		for i, w := range want {
			if evs[i].Type != w.typ || evs[i].DetailsMap()["request_id"] != w.id || apptest.Str(evs[i].UserID) != u.ID {
				t.Errorf("event %d = %s %s, want %s with request_id %v", i, evs[i].Type, evs[i].Details, w.typ, w.id)
			}
		}
	})
}

// TestAuditNotWrittenForFailedChanges: a change that fails stores no event.
func TestAuditNotWrittenForFailedChanges(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		alice := e.Session("alice", models.RoleUser)
		before := e.AuditEvents(t)
		// The last admin cannot be demoted or deactivated: refused inside
		// the transaction, after the event was prepared.
		apptest.WantError(t, e.Do(admin.Header, `mutation($id: ID!) { setRole(id: $id, role: USER) { id } }`, map[string]any{"id": admin.User.ID}), "BAD_USER_INPUT", "")
		apptest.WantError(t, e.Do(admin.Header, `mutation($id: ID!) { setActive(id: $id, active: false) { id } }`, map[string]any{"id": admin.User.ID}), "BAD_USER_INPUT", "")
		// An unknown user.
		apptest.WantField(t, e.Do(admin.Header, `mutation($id: ID!) { setRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": "no-such-user"}), "id")
		// A user asking for an admin's change.
		apptest.WantError(t, e.Do(alice.Header, `mutation($id: ID!) { setRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": alice.User.ID}), "FORBIDDEN", "")
		// Unknown or other users' sessions and tokens.
		apptest.MustOK(t, e.Do(alice.Header, revokeSessionMutation, map[string]any{"id": apptest.SessionOf(t, strings.TrimPrefix(admin.Header, "Bearer "))}))
		apptest.MustOK(t, e.Do(alice.Header, `mutation { revokePersonalAccessToken(id: "nope") }`, nil))
		checkEvents(t, "refused changes", e.AuditSince(t, before), nil)
	})
}

// TestAuditWriterFullBufferDropsWithoutBlocking: with the writer held (as a
// stalled database would hold it), failed logins keep being answered at
// once; the buffer keeps exactly its size, the rest are dropped and
// counted; released, the buffered events are stored.
func TestAuditWriterFullBufferDropsWithoutBlocking(t *testing.T) {
	const size, logins = 3, 8
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		release := e.App.Audit.Hold()
		defer release()
		for i := range logins {
			// Distinct unknown usernames: no per-username limit is reached.
			r := e.Do("", apptest.LoginMutation, map[string]any{"u": "ghost" + string(rune('a'+i)), "p": "whatever"})
			apptest.WantError(t, r, "UNAUTHENTICATED", "invalid_credentials")
		}
		if got := e.App.Audit.Pending(); got != size {
			t.Errorf("Pending() = %d, want the buffer's size %d", got, size)
		}
		if got := e.App.Audit.Dropped(); got != logins-size {
			t.Errorf("Dropped() = %d, want %d", got, logins-size)
		}
		release()
		evs := e.AuditEvents(t) // flushes
		if len(evs) != size {
			t.Fatalf("stored %d events, want %d", len(evs), size)
		}
		for _, ev := range evs {
			if ev.Type != models.AuditLoginFailed {
				t.Errorf("stored %s, want LOGIN_FAILED", ev.Type)
			}
		}
		if e.App.Audit.Written() != size || e.App.Audit.Failed() != 0 {
			t.Errorf("Written() = %d, Failed() = %d; want %d, 0", e.App.Audit.Written(), e.App.Audit.Failed(), size)
		}
		if !strings.Contains(e.Logs.String(), "audit buffer full") {
			t.Errorf("no warning about dropped audit events in the log")
		}
	}, func(c *app.Config) { c.AuditBuffer = size })
}

// TestAuditWriterCloseWrites: closing the writer (App.Close, at shutdown)
// stores what it holds; after Close, events are dropped and counted.
func TestAuditWriterCloseWrites(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		release := e.App.Audit.Hold()
		for range 2 {
			e.Do("", apptest.LoginMutation, map[string]any{"u": "ghost", "p": "whatever"})
		}
		release()
		if err := e.App.Audit.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.App.Audit.Pending() != 0 || e.App.Audit.Written() != 2 {
			t.Fatalf("after Close: Pending() = %d, Written() = %d; want 0, 2", e.App.Audit.Pending(), e.App.Audit.Written())
		}
		if e.App.Audit.Add(&models.AuditEvent{Type: models.AuditLoginFailed, At: e.Clock.Now()}) || e.App.Audit.Dropped() != 1 {
			t.Errorf("Add after Close accepted, or Dropped() = %d, want 1", e.App.Audit.Dropped())
		}
		if n := len(e.AuditEvents(t)); n != 2 {
			t.Errorf("stored %d events, want 2", n)
		}
	})
}
