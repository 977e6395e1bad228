package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

// TestAuthEvents: every auth event is a structured record with the user,
// session, client IP and user agent, and no log line holds a secret.
func TestAuthEvents(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.CreateUser("alice", apptest.Password, models.RoleUser)
		const pw, newPW = apptest.Password, "another secret passphrase"
		// call sends one operation from the same client, with authz when set.
		call := func(authz, query string, vars map[string]any) apptest.Response {
			return e.Send(apptest.Request{Query: query, Vars: vars, Authz: authz, RemoteAddr: "198.51.100.20:999", UserAgent: "events-agent"})
		}
		login := func() apptest.Payload {
			return apptest.Decode[apptest.Payload](t, call("", apptest.LoginMutation, map[string]any{"u": "alice", "p": pw}), "login")
		}

		a := login()
		a2 := apptest.Decode[apptest.Payload](t, call("", apptest.RefreshMutation, map[string]any{"t": a.RefreshToken}), "refreshToken")
		// Reuse, past any REFRESH_REUSE_GRACE (at most a minute).
		e.Clock.Advance(time.Minute)
		call("", apptest.RefreshMutation, map[string]any{"t": a.RefreshToken})
		b := login()
		call("", logoutMutation, map[string]any{"t": b.RefreshToken})
		c := login()
		d := login()
		call(apptest.Bearer(c.AccessToken), revokeSessionMutation, map[string]any{"id": apptest.SessionOf(t, d.AccessToken)})
		cp := apptest.Decode[apptest.Payload](t, call(apptest.Bearer(c.AccessToken), changePasswordMut, map[string]any{"c": pw, "n": newPW}), "changePassword")
		call(apptest.Bearer(c.AccessToken), logoutAllMutation, nil)
		for range 6 {
			call("", apptest.LoginMutation, map[string]any{"u": "alice", "p": "wrong " + pw})
		}

		wantSession := map[string]string{
			"login_succeeded":      apptest.SessionOf(t, a.AccessToken),
			"token_refreshed":      apptest.SessionOf(t, a.AccessToken),
			"refresh_token_reused": apptest.SessionOf(t, a.AccessToken),
			"logout":               apptest.SessionOf(t, b.AccessToken),
			"session_revoked":      apptest.SessionOf(t, d.AccessToken),
			"password_changed":     apptest.SessionOf(t, c.AccessToken),
			"logout_all":           apptest.SessionOf(t, c.AccessToken),
			"login_failed":         "",
			"login_rate_limited":   "",
		}
		seen := map[string]bool{}
		for _, rec := range e.Logs.Events(t) {
			ev, _ := rec["event"].(string)
			want, ok := wantSession[ev]
			if !ok || seen[ev] {
				continue
			}
			seen[ev] = true
			if rec["user_id"] != alice.ID && ev != "login_rate_limited" || rec["ip"] != "198.51.100.20" || rec["user_agent"] != "events-agent" {
				t.Errorf("%s record = %v, want user_id %s, ip and user agent", ev, rec, alice.ID)
			}
			if want != "" && rec["session_id"] != want {
				t.Errorf("%s record session_id = %v, want %s", ev, rec["session_id"], want)
			}
		}
		for ev := range wantSession {
			if !seen[ev] {
				t.Errorf("no %s event was logged", ev)
			}
		}

		logs := e.Logs.String()
		secrets := []string{pw, newPW, apptest.Secret}
		for _, p := range []apptest.Payload{a, a2, b, c, d, cp} {
			secrets = append(secrets, p.AccessToken, p.RefreshToken)
		}
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("logs contain a secret %.12q...", s)
			}
		}
	})
}
