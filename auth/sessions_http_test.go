package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/internal/testclock"
	"github.com/ironclad-auth/ironclad/models"
)

func TestLogout(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		a := e.Login("alice", apptest.Password)
		b := e.Login("alice", apptest.Password)
		apptest.MustOK(t, e.Do(apptest.Bearer(a.AccessToken), apptest.MeQuery, nil))

		if ok := apptest.Decode[bool](t, e.Do("", logoutMutation, map[string]any{"t": a.RefreshToken}), "logout"); !ok {
			t.Fatal("logout = false, want true")
		}
		// The session's access token is refused on the very next request.
		apptest.WantError(t, e.Do(apptest.Bearer(a.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
		apptest.WantError(t, e.Refresh(a.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		// The other session lives on.
		apptest.MustOK(t, e.Do(apptest.Bearer(b.AccessToken), apptest.MeQuery, nil))

		for name, tok := range map[string]string{
			"the same token again": a.RefreshToken,
			"an unknown token":     apptest.OtherToken(b.RefreshToken),
			"an empty token":       "",
			"an access token":      b.AccessToken,
			"an over-long token":   strings.Repeat("x", 5000),
		} {
			if ok := apptest.Decode[bool](t, e.Do("", logoutMutation, map[string]any{"t": tok}), "logout"); !ok {
				t.Errorf("logout(%s) = false, want true", name)
			}
		}
		apptest.MustOK(t, e.Do(apptest.Bearer(b.AccessToken), apptest.MeQuery, nil))
		if n := e.Logs.Count(t, "logout"); n != 1 {
			t.Errorf("%d logout events, want 1 (only the session that ended)", n)
		}

		// A rotated token still names its session: logging out with it ends it.
		r := e.Refresh(b.RefreshToken)
		b2 := r.Payload(t, "refreshToken")
		apptest.Decode[bool](t, e.Do("", logoutMutation, map[string]any{"t": b.RefreshToken}), "logout")
		apptest.WantError(t, e.Do(apptest.Bearer(b2.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
	})
}

func TestLogoutAll(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		e.CreateUser("bob", apptest.Password, models.RoleUser)
		mine := []apptest.Payload{e.Login("alice", apptest.Password), e.Login("alice", apptest.Password), e.Login("alice", apptest.Password)}
		bob := e.Login("bob", apptest.Password)

		apptest.WantError(t, e.Do("", logoutAllMutation, nil), "UNAUTHENTICATED", "missing_token")
		if n := apptest.Decode[int](t, e.Do(apptest.Bearer(mine[0].AccessToken), logoutAllMutation, nil), "logoutAll"); n != 3 {
			t.Fatalf("logoutAll = %d, want 3", n)
		}
		for _, p := range mine {
			apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
			apptest.WantError(t, e.Refresh(p.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		}
		apptest.MustOK(t, e.Do(apptest.Bearer(bob.AccessToken), apptest.MeQuery, nil))
		// Logging in again starts afresh.
		again := e.Login("alice", apptest.Password)
		if n := apptest.Decode[int](t, e.Do(apptest.Bearer(again.AccessToken), logoutAllMutation, nil), "logoutAll"); n != 1 {
			t.Fatalf("second logoutAll = %d, want 1", n)
		}
	})
}

func TestRevokeSession(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		e.CreateUser("bob", apptest.Password, models.RoleUser)
		cur := e.Login("alice", apptest.Password)
		other := e.Login("alice", apptest.Password)
		bob := e.Login("bob", apptest.Password)
		revoke := func(id string) bool {
			t.Helper()
			return apptest.Decode[bool](t, e.Do(apptest.Bearer(cur.AccessToken), revokeSessionMutation, map[string]any{"id": id}), "revokeSession")
		}

		apptest.WantError(t, e.Do("", revokeSessionMutation, map[string]any{"id": apptest.SessionOf(t, other.AccessToken)}), "UNAUTHENTICATED", "missing_token")
		// Another user's session behaves like an unknown one, and survives.
		if revoke(apptest.SessionOf(t, bob.AccessToken)) {
			t.Error("revokeSession(another user's session) = true, want false")
		}
		apptest.MustOK(t, e.Do(apptest.Bearer(bob.AccessToken), apptest.MeQuery, nil))
		apptest.MustOK(t, e.Refresh(bob.RefreshToken))
		for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", strings.Repeat("z", 500)} {
			if revoke(id) {
				t.Errorf("revokeSession(%.20q) = true, want false", id)
			}
		}

		if !revoke(apptest.SessionOf(t, other.AccessToken)) {
			t.Fatal("revokeSession(own other session) = false, want true")
		}
		apptest.WantError(t, e.Do(apptest.Bearer(other.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
		apptest.WantError(t, e.Refresh(other.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		if revoke(apptest.SessionOf(t, other.AccessToken)) {
			t.Error("revokeSession(already ended) = true, want false")
		}
		apptest.MustOK(t, e.Do(apptest.Bearer(cur.AccessToken), apptest.MeQuery, nil))

		// The current session can end itself.
		if !revoke(apptest.SessionOf(t, cur.AccessToken)) {
			t.Fatal("revokeSession(current) = false, want true")
		}
		apptest.WantError(t, e.Do(apptest.Bearer(cur.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
	})
}

func TestSessionsQuery(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		e.CreateUser("bob", apptest.Password, models.RoleUser)
		login := func(rq apptest.Request, user string) apptest.Payload {
			t.Helper()
			rq.Query, rq.Vars = apptest.LoginMutation, map[string]any{"u": user, "p": apptest.Password}
			return apptest.Decode[apptest.Payload](t, e.Send(rq), "login")
		}
		laptop := login(apptest.Request{RemoteAddr: "198.51.100.1:5000", UserAgent: "laptop"}, "alice")
		e.Clock.Advance(time.Minute)
		phone := login(apptest.Request{RemoteAddr: "198.51.100.2:5000", UserAgent: "phone"}, "alice")
		gone := login(apptest.Request{}, "alice")
		login(apptest.Request{}, "bob")
		apptest.Decode[bool](t, e.Do("", logoutMutation, map[string]any{"t": gone.RefreshToken}), "logout")

		// The phone refreshes from elsewhere: the list shows the last refresh.
		e.Clock.Advance(time.Minute)
		phone = apptest.Decode[apptest.Payload](t, e.Send(apptest.Request{
			Query: apptest.RefreshMutation, Vars: map[string]any{"t": phone.RefreshToken},
			RemoteAddr: "[2001:db8::7]:443", UserAgent: "phone/2",
		}), "refreshToken")

		apptest.WantError(t, e.Do("", sessionsQuery, nil), "UNAUTHENTICATED", "missing_token")
		list := apptest.Decode[[]model.Session](t, e.Do(apptest.Bearer(laptop.AccessToken), sessionsQuery, nil), "sessions")
		if len(list) != 2 {
			t.Fatalf("sessions = %+v, want the phone and the laptop", list)
		}
		p, l := list[0], list[1]
		start := testclock.Start
		if p.ID != apptest.SessionOf(t, phone.AccessToken) || p.Current || str(p.UserAgent) != "phone/2" || str(p.IP) != "2001:db8::7" ||
			!p.LastUsedAt.Equal(start.Add(2*time.Minute)) || !p.CreatedAt.Equal(start.Add(time.Minute)) {
			t.Errorf("phone session = %+v, want phone/2 from 2001:db8::7, last used after 2 minutes, not current", p)
		}
		if l.ID != apptest.SessionOf(t, laptop.AccessToken) || !l.Current || str(l.UserAgent) != "laptop" || str(l.IP) != "198.51.100.1" {
			t.Errorf("laptop session = %+v, want the current one, laptop from 198.51.100.1", l)
		}
		if want := start.Add(7 * 24 * time.Hour); !l.ExpiresAt.Equal(want) {
			t.Errorf("laptop expiresAt = %v, want %v (its refresh token's expiry)", l.ExpiresAt, want)
		}
	})
}

func TestVerifyToken(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		alice := e.CreateUser("alice", apptest.Password, models.RoleUser)
		gus := e.CreateUser("gus", apptest.Password, models.RoleUser)
		live := e.Login("alice", apptest.Password)
		rotated := e.Login("alice", apptest.Password)
		successor := e.Refresh(rotated.RefreshToken).Payload(t, "refreshToken")
		ended := e.Login("alice", apptest.Password)
		apptest.Decode[bool](t, e.Do("", logoutMutation, map[string]any{"t": ended.RefreshToken}), "logout")
		inactive := e.Login("gus", apptest.Password)
		if _, err := e.App.Store.SetUserActive(context.Background(), gus.ID, false, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		expiring := e.Login("alice", apptest.Password)
		now := e.Clock.Now()

		check := func(name, token string, valid bool, reason, typ, subject string) {
			t.Helper()
			r := e.Do("", verifyTokenMutation, map[string]any{"t": token})
			info := apptest.Decode[model.TokenInfo](t, r, "verifyToken")
			if info.Valid != valid || str(info.Reason) != reason || str(info.TokenType) != typ || str(info.Subject) != subject {
				t.Errorf("verifyToken(%s) = valid %v reason %s type %s subject %s; want %v %s %s %s",
					name, info.Valid, str(info.Reason), str(info.TokenType), str(info.Subject), valid, reason, typ, subject)
			}
			if (subject != "<nil>") != (info.ExpiresAt != nil) {
				t.Errorf("verifyToken(%s) expiresAt = %v, want one exactly for authentic tokens", name, info.ExpiresAt)
			}
		}
		check("live access", live.AccessToken, true, "<nil>", "access", alice.ID)
		check("live refresh", live.RefreshToken, true, "<nil>", "refresh", alice.ID)
		check("rotated refresh", rotated.RefreshToken, false, "refresh_token_reused", "refresh", alice.ID)
		check("ended session's access", ended.AccessToken, false, "session_revoked", "access", alice.ID)
		check("ended session's refresh", ended.RefreshToken, false, "session_revoked", "refresh", alice.ID)
		check("inactive user's access", inactive.AccessToken, false, "user_inactive", "access", gus.ID)
		check("inactive user's refresh", inactive.RefreshToken, false, "user_inactive", "refresh", gus.ID)
		check("unknown refresh", apptest.OtherToken(live.RefreshToken), false, "invalid_token", "<nil>", "<nil>")
		check("garbage", "garbage", false, "invalid_token", "<nil>", "<nil>")
		check("malformed jwt", "a.b.c", false, "invalid_token", "<nil>", "<nil>")
		check("empty", "", false, "invalid_token", "<nil>", "<nil>")
		check("huge", strings.Repeat("a.", 5000), false, "invalid_token", "<nil>", "<nil>")

		info := apptest.Decode[model.TokenInfo](t, e.Do("", verifyTokenMutation, map[string]any{"t": live.AccessToken}), "verifyToken")
		if info.ExpiresAt == nil || !info.ExpiresAt.Equal(now.Add(5*time.Minute)) {
			t.Errorf("access expiresAt = %v, want %v", info.ExpiresAt, now.Add(5*time.Minute))
		}
		e.Clock.Advance(10 * time.Minute)
		check("expired access", expiring.AccessToken, false, "token_expired", "access", alice.ID)
		e.Clock.Advance(7 * 24 * time.Hour)
		check("expired refresh", expiring.RefreshToken, false, "refresh_token_expired", "refresh", alice.ID)

		// Inspecting a rotated token is not reuse: its successor still works.
		e.Clock.Advance(-7*24*time.Hour - 10*time.Minute)
		apptest.MustOK(t, e.Refresh(successor.RefreshToken))
	})
}

func TestChangePassword(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("alice", apptest.Password, models.RoleUser)
		e.CreateUser("bob", apptest.Password, models.RoleUser)
		cur := e.Login("alice", apptest.Password)
		other := e.Login("alice", apptest.Password)
		bob := e.Login("bob", apptest.Password)
		const pw, newPW = apptest.Password, "a brand new passphrase"
		change := func(authz, current, next string) apptest.Response {
			t.Helper()
			return e.Do(authz, changePasswordMut, map[string]any{"c": current, "n": next})
		}

		apptest.WantError(t, change("", pw, newPW), "UNAUTHENTICATED", "missing_token")
		apptest.WantError(t, change(apptest.Bearer(cur.AccessToken), "wrong password", newPW), "UNAUTHENTICATED", "invalid_credentials")
		for name, tc := range map[string]struct{ current, next, field string }{
			"new too short":     {pw, "short", "newPassword"},
			"new over 1024":     {pw, strings.Repeat("p", 1025), "newPassword"},
			"current empty":     {"", newPW, "currentPassword"},
			"current over 1024": {strings.Repeat("p", 1025), newPW, "currentPassword"},
		} {
			r := change(apptest.Bearer(cur.AccessToken), tc.current, tc.next)
			apptest.WantError(t, r, "BAD_USER_INPUT", "")
			if f := r.Fields()[0]; f != tc.field {
				t.Errorf("%s: field = %v, want %s", name, f, tc.field)
			}
		}
		// Nothing changed so far.
		apptest.MustOK(t, e.Do(apptest.Bearer(other.AccessToken), apptest.MeQuery, nil))

		fresh := apptest.Decode[apptest.Payload](t, change(apptest.Bearer(cur.AccessToken), pw, newPW), "changePassword")
		if apptest.SessionOf(t, fresh.AccessToken) != apptest.SessionOf(t, cur.AccessToken) {
			t.Error("changePassword started a new session; want a fresh pair for the current one")
		}
		// Every other session ends at once.
		apptest.WantError(t, e.Do(apptest.Bearer(other.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
		apptest.WantError(t, e.Refresh(other.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		// The current session survives with its new pair; its old refresh token does not.
		apptest.MustOK(t, e.Do(apptest.Bearer(cur.AccessToken), apptest.MeQuery, nil))
		apptest.MustOK(t, e.Do(apptest.Bearer(fresh.AccessToken), apptest.MeQuery, nil))
		apptest.WantError(t, e.Refresh(cur.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		apptest.MustOK(t, e.Refresh(fresh.RefreshToken))
		// Other users are untouched; the old password is gone.
		apptest.MustOK(t, e.Do(apptest.Bearer(bob.AccessToken), apptest.MeQuery, nil))
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "alice", "p": pw}), "UNAUTHENTICATED", "invalid_credentials")
		e.Login("alice", newPW)
	})
}
