package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// Deleting accounts and setting passwords, through the real handler, on two
// replicas of one database.

const (
	deleteUserMut      = `mutation($id: ID!) { deleteUser(id: $id) }`
	deleteMyAccountMut = `mutation($p: String!) { deleteMyAccount(password: $p) }`
	setPasswordMut     = `mutation($id: ID!, $p: String!) { setPassword(id: $id, newPassword: $p) }`
	meQuery            = `{ me { id } }`
)

// rowsOf counts the rows of table that belong to userID.
func rowsOf(t *testing.T, e *apptest.Env, table, userID string) int64 {
	t.Helper()
	var n int64
	if err := e.App.Store.DB().Raw("SELECT COUNT(*) FROM "+table+" WHERE user_id = ?", userID).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// wantTrue fails unless r answered field: true.
func wantTrue(t *testing.T, r apptest.Response, field string) {
	t.Helper()
	if v := apptest.Decode[bool](t, r, field); !v {
		t.Fatalf("%s = false; body %s", field, r.Body)
	}
}

// wantRefused fails unless the access token of a is refused on env.
func wantRefused(t *testing.T, env *apptest.Env, header string) {
	t.Helper()
	r := env.Do(header, meQuery, nil)
	if code, _ := r.Code(); code != "UNAUTHENTICATED" {
		t.Fatalf("me with the token of a deleted or reset user: %s", r.Body)
	}
}

// deleteUser: the user's sessions, refresh tokens and personal access tokens
// go with them, and the other replica refuses their access token and their
// personal token at once.
func TestDeleteUser(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind)
			admin := a.Session("root", models.RoleAdmin)
			victim := a.Session("victor", models.RoleUser)
			pat := a.PersonalToken(victim, models.ScopeProfileRead)
			second := a.Login("victor", apptest.Password)
			// b has read (and cached) the victim's identity.
			apptest.MustOK(t, b.Do(victim.Header, meQuery, nil))
			apptest.MustOK(t, b.Do(pat.Header, meQuery, nil))
			for _, table := range []string{"sessions", "refresh_tokens", "access_tokens"} {
				if rowsOf(t, a, table, victim.User.ID) == 0 {
					t.Fatalf("no %s rows before the deletion", table)
				}
			}

			// Not for a USER, nor unknown ids.
			apptest.WantError(t, a.Do(victim.Header, deleteUserMut, map[string]any{"id": admin.User.ID}), "FORBIDDEN", "")
			apptest.WantError(t, a.Do(admin.Header, deleteUserMut, map[string]any{"id": "no-such-id"}), "BAD_USER_INPUT", "")

			wantTrue(t, a.Do(admin.Header, deleteUserMut, map[string]any{"id": victim.User.ID}), "deleteUser")
			for _, env := range []*apptest.Env{a, b} {
				waitRefused(t, env, victim.Header)
				waitRefused(t, env, pat.Header)
				apptest.WantError(t, env.Refresh(second.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
			}
			for _, table := range []string{"sessions", "refresh_tokens", "access_tokens"} {
				if n := rowsOf(t, a, table, victim.User.ID); n != 0 {
					t.Errorf("%d %s rows remain", n, table)
				}
			}
			apptest.WantError(t, a.Do("", apptest.LoginMutation, map[string]any{"u": "victor", "p": apptest.Password}), "UNAUTHENTICATED", "invalid_credentials")
			// Deleting again: no such user.
			apptest.WantError(t, a.Do(admin.Header, deleteUserMut, map[string]any{"id": victim.User.ID}), "BAD_USER_INPUT", "")
		})
	}
}

// waitRefused polls until env refuses header: on Postgres the other replica
// hears of the change through LISTEN/NOTIFY, within moments.
func waitRefused(t *testing.T, env *apptest.Env, header string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := env.Do(header, meQuery, nil)
		if code, _ := r.Code(); code == "UNAUTHENTICATED" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token of a deleted user still works: %s", r.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The last active admin can be deleted neither by themself nor by anyone;
// once another admin exists, they can.
func TestDeleteLastAdmin(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		root := e.Session("root", models.RoleAdmin)
		r := e.Do(root.Header, deleteUserMut, map[string]any{"id": root.User.ID})
		apptest.WantError(t, r, "BAD_USER_INPUT", "")
		if r.Errors[0].Message != auth.ErrLastAdminDelete.Message {
			t.Errorf("message = %q", r.Errors[0].Message)
		}
		apptest.WantError(t, e.Do(root.Header, deleteMyAccountMut, map[string]any{"p": apptest.Password}), "BAD_USER_INPUT", "")
		// An inactive admin does not count as the other admin.
		idle := e.CreateUser("idle", apptest.Password, models.RoleAdmin)
		if _, err := e.App.Store.SetUserActive(context.Background(), idle.ID, false, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		apptest.WantError(t, e.Do(root.Header, deleteUserMut, map[string]any{"id": root.User.ID}), "BAD_USER_INPUT", "")
		// The inactive admin can be deleted; then, with a second active admin, root can go.
		wantTrue(t, e.Do(root.Header, deleteUserMut, map[string]any{"id": idle.ID}), "deleteUser")
		e.Session("second", models.RoleAdmin)
		wantTrue(t, e.Do(root.Header, deleteMyAccountMut, map[string]any{"p": apptest.Password}), "deleteMyAccount")
		wantRefused(t, e, root.Header)
	})
}

// deleteMyAccount checks the password like a login: a wrong one is login's
// error and counts against the login limit; a personal access token cannot
// delete the account.
func TestDeleteMyAccount(t *testing.T) {
	oneFailure := func(c *app.Config) { c.LoginPerUser = auth.Limit{Max: 2, Window: time.Hour} }
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.Session("root", models.RoleAdmin)
		u := e.Session("ursula", models.RoleUser)
		pat := e.PersonalToken(u, models.ScopeProfileRead, models.ScopeProfileWrite)
		apptest.WantError(t, e.Do(pat.Header, deleteMyAccountMut, map[string]any{"p": apptest.Password}), "FORBIDDEN", "session_required")
		apptest.WantError(t, e.Do("", deleteMyAccountMut, map[string]any{"p": apptest.Password}), "UNAUTHENTICATED", "missing_token")
		apptest.WantField(t, e.Do(u.Header, deleteMyAccountMut, map[string]any{"p": ""}), "password")

		apptest.WantError(t, e.Do(u.Header, deleteMyAccountMut, map[string]any{"p": "wrong password"}), "UNAUTHENTICATED", "invalid_credentials")
		// The failure counted like a login's: the next wrong login reaches the limit of 2.
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "ursula", "p": "wrong again"}), "UNAUTHENTICATED", "invalid_credentials")
		r := e.Do(u.Header, deleteMyAccountMut, map[string]any{"p": apptest.Password})
		if code, _ := r.Code(); code != "TOO_MANY_REQUESTS" {
			t.Fatalf("deleteMyAccount over the login limit: %s", r.Body)
		}
		// Once the window has passed, the right password deletes the account.
		e.Clock.Advance(time.Hour + time.Second)
		u.Header = apptest.Bearer(e.Login("ursula", apptest.Password).AccessToken)
		wantTrue(t, e.Do(u.Header, deleteMyAccountMut, map[string]any{"p": apptest.Password}), "deleteMyAccount")
		wantRefused(t, e, u.Header)
		wantRefused(t, e, pat.Header)
		if _, err := e.App.Store.UserByID(context.Background(), u.User.ID); err == nil {
			t.Error("the user still exists")
		}
	}, oneFailure)
}

// setPassword: the rules of register on newPassword, every session of the
// user ends on both replicas, the new password logs in and the old does not;
// personal access tokens stay.
func TestSetPassword(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind)
			admin := a.Session("root", models.RoleAdmin)
			u := a.Session("paula", models.RoleUser)
			pat := a.PersonalToken(u, models.ScopeProfileRead)
			refresh := a.Login("paula", apptest.Password).RefreshToken
			apptest.MustOK(t, b.Do(u.Header, meQuery, nil))

			apptest.WantError(t, a.Do(u.Header, setPasswordMut, map[string]any{"id": u.User.ID, "p": "new password 123"}), "FORBIDDEN", "")
			for _, bad := range []string{"short", "password123", "paula"} {
				apptest.WantField(t, a.Do(admin.Header, setPasswordMut, map[string]any{"id": u.User.ID, "p": bad}), "newPassword")
			}
			apptest.WantError(t, a.Do(admin.Header, setPasswordMut, map[string]any{"id": "nobody", "p": "new password 123"}), "BAD_USER_INPUT", "")
			apptest.MustOK(t, b.Do(u.Header, meQuery, nil)) // refused attempts changed nothing

			wantTrue(t, a.Do(admin.Header, setPasswordMut, map[string]any{"id": u.User.ID, "p": "new password 123"}), "setPassword")
			for _, env := range []*apptest.Env{a, b} {
				waitRefused(t, env, u.Header)
				if code, _ := env.Refresh(refresh).Code(); code != "UNAUTHENTICATED" {
					t.Errorf("the refresh token survived setPassword")
				}
				apptest.MustOK(t, env.Do(pat.Header, meQuery, nil))
			}
			apptest.WantError(t, a.Do("", apptest.LoginMutation, map[string]any{"u": "paula", "p": apptest.Password}), "UNAUTHENTICATED", "invalid_credentials")
			b.Login("paula", "new password 123")
			apptest.MustOK(t, a.Do(admin.Header, meQuery, nil)) // the admin's own session is untouched
		})
	}
}
