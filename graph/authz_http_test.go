package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// The policy of the schema (the @auth directives and the resolvers' own
// checks), seen through the real HTTP handler.

const (
	userQuery           = `query($id: ID!) { user(id: $id) { id username email displayName } }`
	usersQuery          = `query($first: Int, $after: String, $search: String) { users(first: $first, after: $after, search: $search) { totalCount edges { cursor node { id username email } } pageInfo { hasNextPage endCursor } } }`
	updateProfileMut    = `mutation($id: ID!, $in: ProfileInput!) { updateProfile(id: $id, input: $in) { id email displayName } }`
	setRoleMut          = `mutation($id: ID!, $role: Role!) { setRole(id: $id, role: $role) { id role } }`
	setActiveMut        = `mutation($id: ID!, $active: Boolean!) { setActive(id: $id, active: $active) { id } }`
	createTokenMut      = `mutation { createPersonalAccessToken(name: "x", scopes: [PROFILE_READ]) { token } }`
	personalTokensQuery = `{ personalAccessTokens { id name scopes createdAt lastUsedAt expiresAt } }`
	revokeTokenMut      = `mutation($id: ID!) { revokePersonalAccessToken(id: $id) }`
	meWithDisplayQuery  = `{ me { id email displayName } }`
)

// TestPolicy runs every rule of the schema's policy from the side of an
// anonymous client, a USER, an ADMIN, and personal access tokens with too
// few scopes (and with enough, where tokens are allowed at all).
func TestPolicy(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		user := e.Session("uma", models.RoleUser)
		other := e.Session("otto", models.RoleUser)
		anon := apptest.Actor{Name: "anonymous"}
		// Each token's subtests are named after its scopes.
		pat := func(a apptest.Actor, scopes ...models.Scope) apptest.Actor {
			tok := e.PersonalToken(a, scopes...)
			tok.Name = fmt.Sprintf("%s token %v", a.Name, scopes)
			return tok
		}
		userRead := pat(user, models.ScopeProfileRead)
		userWrite := pat(user, models.ScopeProfileWrite)
		adminRead := pat(admin, models.ScopeProfileRead)
		adminAll := pat(admin, models.ScopeProfileRead, models.ScopeProfileWrite, models.ScopeUsersRead)

		otherID := map[string]any{"id": other.User.ID}
		emailShown := func(want bool) func(t *testing.T, r apptest.Response) {
			return func(t *testing.T, r apptest.Response) {
				var p models.User
				apptest.Into(t, r, "user", &p)
				if p.ID != other.User.ID || (p.Email != nil) != want {
					t.Fatalf("user(otto) = %+v, want email shown: %v", p, want)
				}
			}
		}
		ok := func(t *testing.T, r apptest.Response) {}

		type step struct {
			who          apptest.Actor
			code, reason string // empty code: success
			check        func(*testing.T, apptest.Response)
		}
		tests := []struct {
			name  string
			query string
			vars  func() map[string]any
			steps []step
		}{
			{"me", apptest.MeQuery, nil, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "", "", ok},
				{userRead, "", "", func(t *testing.T, r apptest.Response) {
					var p models.User
					apptest.Into(t, r, "me", &p)
					if p.Email == nil || *p.Email != "uma@example.com" {
						t.Fatalf("me by token = %+v, want own email", p)
					}
				}},
				{userWrite, "FORBIDDEN", "insufficient_scope", nil},
			}},
			{"user: other's email", userQuery, func() map[string]any { return otherID }, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "", "", emailShown(false)},
				{userRead, "", "", emailShown(false)},
				{userWrite, "FORBIDDEN", "insufficient_scope", nil},
				{admin, "", "", emailShown(true)},
				{adminRead, "", "", emailShown(false)}, // an admin's token needs USERS_READ to act as admin
				{adminAll, "", "", emailShown(true)},
				{other, "", "", emailShown(true)},
			}},
			{"user: no such user is null", userQuery, func() map[string]any { return map[string]any{"id": "00000000-0000-0000-0000-000000000000"} }, []step{
				{user, "", "", func(t *testing.T, r apptest.Response) {
					if string(r.Data["user"]) != "null" {
						t.Fatalf("user(unknown) = %s, want null", r.Data["user"])
					}
				}},
			}},
			{"updateProfile of another user", updateProfileMut, func() map[string]any {
				return map[string]any{"id": other.User.ID, "in": map[string]any{"displayName": "Otto"}}
			}, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "FORBIDDEN", "", nil},
				{userRead, "FORBIDDEN", "insufficient_scope", nil},
				{userWrite, "FORBIDDEN", "", nil},
				{adminRead, "FORBIDDEN", "insufficient_scope", nil},
				{admin, "", "", ok},
				{adminAll, "", "", ok},
			}},
			{"updateProfile of oneself", updateProfileMut, func() map[string]any {
				return map[string]any{"id": user.User.ID, "in": map[string]any{"displayName": "Uma"}}
			}, []step{
				{userRead, "FORBIDDEN", "insufficient_scope", nil},
				{user, "", "", ok},
				{userWrite, "", "", ok},
			}},
			{"users", usersQuery, nil, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "FORBIDDEN", "", nil},
				{userRead, "FORBIDDEN", "insufficient_scope", nil},
				{adminRead, "FORBIDDEN", "insufficient_scope", nil},
				{admin, "", "", ok},
				{adminAll, "", "", ok},
			}},
			{"setRole", setRoleMut, func() map[string]any { return map[string]any{"id": other.User.ID, "role": "USER"} }, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "FORBIDDEN", "", nil},
				{adminAll, "FORBIDDEN", "session_required", nil},
				{admin, "", "", ok},
			}},
			{"setActive", setActiveMut, func() map[string]any { return map[string]any{"id": other.User.ID, "active": true} }, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "FORBIDDEN", "", nil},
				{adminAll, "FORBIDDEN", "session_required", nil},
				{admin, "", "", ok},
			}},
			{"createPersonalAccessToken", createTokenMut, nil, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{userRead, "FORBIDDEN", "session_required", nil},
				{adminAll, "FORBIDDEN", "session_required", nil},
				{user, "", "", ok},
			}},
			{"personalAccessTokens", personalTokensQuery, nil, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{userRead, "FORBIDDEN", "session_required", nil},
				{adminAll, "FORBIDDEN", "session_required", nil},
				{user, "", "", ok},
			}},
			{"revokePersonalAccessToken", revokeTokenMut, func() map[string]any { return map[string]any{"id": "x"} }, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{userRead, "FORBIDDEN", "session_required", nil},
				{adminAll, "FORBIDDEN", "session_required", nil},
				{user, "", "", ok},
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, s := range tt.steps {
					t.Run(s.who.Name, func(t *testing.T) {
						var vars map[string]any
						if tt.vars != nil {
							vars = tt.vars()
						}
						r := e.Do(s.who.Header, tt.query, vars)
						if s.code != "" {
							apptest.WantError(t, r, s.code, s.reason)
							return
						}
						apptest.MustOK(t, r)
						s.check(t, r)
					})
				}
			})
		}
	})
}

func TestUpdateProfile(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		user := e.Session("uma", models.RoleUser)
		admin := e.Session("root", models.RoleAdmin)

		update := func(a apptest.Actor, id string, in map[string]any) apptest.Response {
			return e.Do(a.Header, updateProfileMut, map[string]any{"id": id, "in": in})
		}
		r := update(user, user.User.ID, map[string]any{"email": " uma@new.example ", "displayName": "  Uma U. "})
		apptest.MustOK(t, r)
		var p models.User
		apptest.Into(t, r, "updateProfile", &p)
		if p.Email == nil || *p.Email != "uma@new.example" || p.DisplayName == nil || *p.DisplayName != "Uma U." {
			t.Fatalf("updateProfile = %+v, want trimmed email and display name", p)
		}
		// Absent fields stay; an empty displayName clears it.
		apptest.MustOK(t, update(user, user.User.ID, map[string]any{}))
		r = e.Do(user.Header, meWithDisplayQuery, nil)
		apptest.Into(t, r, "me", &p)
		if *p.Email != "uma@new.example" || *p.DisplayName != "Uma U." {
			t.Fatalf("me after an empty update = %+v", p)
		}
		apptest.MustOK(t, update(user, user.User.ID, map[string]any{"displayName": ""}))
		apptest.Into(t, e.Do(user.Header, meWithDisplayQuery, nil), "me", &p)
		if p.DisplayName != nil {
			t.Fatalf("displayName after clearing = %q, want null", *p.DisplayName)
		}

		apptest.WantField(t, update(user, user.User.ID, map[string]any{"email": "not an address"}), "email")
		apptest.WantField(t, update(user, user.User.ID, map[string]any{"displayName": string(make([]byte, 101))}), "displayName")
		apptest.WantField(t, update(admin, "00000000-0000-0000-0000-000000000000", map[string]any{"displayName": "x"}), "id")
		// An admin's change shows in the user's own profile.
		apptest.MustOK(t, update(admin, user.User.ID, map[string]any{"displayName": "Set by admin"}))
		apptest.Into(t, e.Do(user.Header, meWithDisplayQuery, nil), "me", &p)
		if p.DisplayName == nil || *p.DisplayName != "Set by admin" {
			t.Fatalf("displayName = %v, want the admin's", p.DisplayName)
		}
	})
}

func TestRoleAndActiveChanges(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		admin := e.Session("root", models.RoleAdmin)
		user := e.Session("uma", models.RoleUser)

		// The last active admin can be neither demoted nor deactivated, even
		// by themself.
		apptest.WantError(t, e.Do(admin.Header, setRoleMut, map[string]any{"id": admin.User.ID, "role": "USER"}), "BAD_USER_INPUT", "")
		apptest.WantError(t, e.Do(admin.Header, setActiveMut, map[string]any{"id": admin.User.ID, "active": false}), "BAD_USER_INPUT", "")
		apptest.WantField(t, e.Do(admin.Header, setRoleMut, map[string]any{"id": "00000000-0000-0000-0000-000000000000", "role": "USER"}), "id")

		// Promote uma: now root may step down, and uma is the last admin.
		apptest.MustOK(t, e.Do(admin.Header, setRoleMut, map[string]any{"id": user.User.ID, "role": "ADMIN"}))
		apptest.MustOK(t, e.Do(user.Header, usersQuery, nil)) // the role applies to the next request
		apptest.MustOK(t, e.Do(admin.Header, setRoleMut, map[string]any{"id": admin.User.ID, "role": "USER"}))
		apptest.WantError(t, e.Do(admin.Header, usersQuery, nil), "FORBIDDEN", "")
		apptest.WantError(t, e.Do(user.Header, setActiveMut, map[string]any{"id": user.User.ID, "active": false}), "BAD_USER_INPUT", "")

		// Deactivating root ends all their sessions.
		rootPair := e.Login("root", apptest.Password)
		apptest.MustOK(t, e.Do(user.Header, setActiveMut, map[string]any{"id": admin.User.ID, "active": false}))
		apptest.WantError(t, e.Do(apptest.Bearer(rootPair.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "user_inactive")
		apptest.WantError(t, e.Refresh(rootPair.RefreshToken), "UNAUTHENTICATED", "user_inactive")
		// Reactivated, root logs in again, but the old sessions stay ended.
		apptest.MustOK(t, e.Do(user.Header, setActiveMut, map[string]any{"id": admin.User.ID, "active": true}))
		apptest.WantError(t, e.Refresh(rootPair.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		apptest.WantError(t, e.Do(apptest.Bearer(rootPair.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
		e.Login("root", apptest.Password)
	})
}

// TestLastAdminGuardUnderRace has two admins demote or deactivate each other
// at the same time, many times over, from two stores sharing a database (two
// replicas): one always remains.
func TestLastAdminGuardUnderRace(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind)
			x := a.Session("xena", models.RoleAdmin)
			y := a.Session("yuri", models.RoleAdmin)

			for round := range 10 {
				mut, vars := setRoleMut, func(id string) map[string]any { return map[string]any{"id": id, "role": "USER"} }
				if round%2 == 1 {
					mut, vars = setActiveMut, func(id string) map[string]any { return map[string]any{"id": id, "active": false} }
				}
				results := make(chan apptest.Response, 2)
				start := make(chan struct{})
				go func() { <-start; results <- a.Do(x.Header, mut, vars(y.User.ID)) }()
				go func() { <-start; results <- b.Do(y.Header, mut, vars(x.User.ID)) }()
				close(start)
				r1, r2 := <-results, <-results
				wins := 0
				for _, r := range []apptest.Response{r1, r2} {
					if len(r.Errors) == 0 {
						wins++
					}
				}
				if wins != 1 {
					t.Fatalf("round %d: %d of 2 concurrent demotions succeeded, want 1:\n%s\n%s", round, wins, r1.Body, r2.Body)
				}
				// Restore both admins for the next round, through the store.
				for _, id := range []string{x.User.ID, y.User.ID} {
					if _, err := a.App.Store.SetUserActive(context.Background(), id, true, a.Clock.Now()); err != nil {
						t.Fatal(err)
					}
					if _, err := a.App.Store.SetUserRole(context.Background(), id, models.RoleAdmin, a.Clock.Now()); err != nil {
						t.Fatal(err)
					}
				}
				// Deactivation ended the loser's sessions: log both in again.
				x.Header = apptest.Bearer(a.Login("xena", apptest.Password).AccessToken)
				y.Header = apptest.Bearer(a.Login("yuri", apptest.Password).AccessToken)
			}
		})
	}
}

func TestPersonalTokenList(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		user := e.Session("uma", models.RoleUser)
		other := e.Session("otto", models.RoleUser)

		r := e.Do(user.Header, `mutation { createPersonalAccessToken(name: " deploy bot ", scopes: [PROFILE_WRITE, PROFILE_READ, PROFILE_READ], expiresIn: 3600) { token personalAccessToken { id name scopes createdAt lastUsedAt expiresAt } } }`, nil)
		created := apptest.Decode[model.NewPersonalAccessToken](t, r, "createPersonalAccessToken")
		if len(created.Token) != 47 || created.Token[:4] != "icl_" {
			t.Fatalf("token = %q, want icl_ and 43 base64url characters", created.Token)
		}
		tok := created.PersonalAccessToken
		if tok == nil {
			t.Fatalf("createPersonalAccessToken returned no personalAccessToken: %s", r.Body)
		}
		if strings.Contains(e.Logs.String(), created.Token) || strings.Contains(e.Logs.String(), created.Token[4:]) {
			t.Fatal("the logs contain the access token")
		}
		if tok.Name != "deploy bot" || len(tok.Scopes) != 2 || tok.Scopes[0] != models.ScopeProfileRead || tok.ExpiresAt == nil || tok.LastUsedAt != nil {
			t.Fatalf("personalAccessToken = %+v", *tok)
		}

		r = e.Do(user.Header, personalTokensQuery, nil)
		apptest.MustOK(t, r)
		if want := `"id":"` + tok.ID + `"`; !strings.Contains(string(r.Data["personalAccessTokens"]), want) || strings.Contains(r.Body, created.Token) || strings.Contains(r.Body, "icl_") {
			t.Fatalf("personalAccessTokens = %s, want the token's record without the token", r.Data["personalAccessTokens"])
		}
		apptest.MustOK(t, e.Do(other.Header, personalTokensQuery, nil))
		if r := e.Do(other.Header, personalTokensQuery, nil); string(r.Data["personalAccessTokens"]) != "[]" {
			t.Fatalf("another user's personalAccessTokens = %s, want []", r.Data["personalAccessTokens"])
		}

		bad := []struct {
			name, query, field string
			code               string
		}{
			{"no name", `mutation { createPersonalAccessToken(name: " ", scopes: [PROFILE_READ]) { token } }`, "name", "BAD_USER_INPUT"},
			{"no scopes", `mutation { createPersonalAccessToken(name: "x", scopes: []) { token } }`, "scopes", "BAD_USER_INPUT"},
			{"expiresIn too short", `mutation { createPersonalAccessToken(name: "x", scopes: [PROFILE_READ], expiresIn: 59) { token } }`, "expiresIn", "BAD_USER_INPUT"},
			{"expiresIn too long", `mutation { createPersonalAccessToken(name: "x", scopes: [PROFILE_READ], expiresIn: 40000000) { token } }`, "expiresIn", "BAD_USER_INPUT"},
			{"a scope the role lacks", `mutation { createPersonalAccessToken(name: "x", scopes: [USERS_READ]) { token } }`, "", "FORBIDDEN"},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Do(user.Header, tt.query, nil)
				if tt.field != "" {
					apptest.WantField(t, r, tt.field)
					return
				}
				apptest.WantError(t, r, tt.code, "")
			})
		}

		// Revoking: only one's own, once.
		revoke := func(a apptest.Actor) string {
			r := e.Do(a.Header, revokeTokenMut, map[string]any{"id": tok.ID})
			apptest.MustOK(t, r)
			return string(r.Data["revokePersonalAccessToken"])
		}
		if got := revoke(other); got != "false" {
			t.Fatalf("revoke by another user = %s, want false", got)
		}
		apptest.MustOK(t, e.Do(apptest.Bearer(created.Token), apptest.MeQuery, nil))
		if got := revoke(user); got != "true" {
			t.Fatalf("revoke = %s, want true", got)
		}
		if got := revoke(user); got != "false" {
			t.Fatalf("second revoke = %s, want false", got)
		}
		if r := e.Do(user.Header, personalTokensQuery, nil); string(r.Data["personalAccessTokens"]) != "[]" {
			t.Fatalf("personalAccessTokens after revoke = %s, want []", r.Data["personalAccessTokens"])
		}
	})
}
