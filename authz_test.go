package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

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

type profile struct {
	ID          string
	Username    string
	Email       *string
	DisplayName *string
}

// TestPolicy runs every rule of the schema's policy from the side of an
// anonymous client, a USER, an ADMIN, and personal access tokens with too
// few scopes (and with enough, where tokens are allowed at all).
func TestPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		admin := e.session("root", models.RoleAdmin)
		user := e.session("uma", models.RoleUser)
		other := e.session("otto", models.RoleUser)
		anon := actor{name: "anonymous"}
		userRead := e.pat(user, models.ScopeProfileRead)
		userWrite := e.pat(user, models.ScopeProfileWrite)
		adminRead := e.pat(admin, models.ScopeProfileRead)
		adminAll := e.pat(admin, models.ScopeProfileRead, models.ScopeProfileWrite, models.ScopeUsersRead)

		otherID := map[string]any{"id": other.user.ID}
		emailShown := func(want bool) func(t *testing.T, r gqlResponse) {
			return func(t *testing.T, r gqlResponse) {
				var p profile
				decode(t, r, "user", &p)
				if p.ID != other.user.ID || (p.Email != nil) != want {
					t.Fatalf("user(otto) = %+v, want email shown: %v", p, want)
				}
			}
		}
		ok := func(t *testing.T, r gqlResponse) {}

		type step struct {
			who          actor
			code, reason string // empty code: success
			check        func(*testing.T, gqlResponse)
		}
		tests := []struct {
			name  string
			query string
			vars  func() map[string]any
			steps []step
		}{
			{"me", meQuery, nil, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "", "", ok},
				{userRead, "", "", func(t *testing.T, r gqlResponse) {
					var p profile
					decode(t, r, "me", &p)
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
				{user, "", "", func(t *testing.T, r gqlResponse) {
					if string(r.Data["user"]) != "null" {
						t.Fatalf("user(unknown) = %s, want null", r.Data["user"])
					}
				}},
			}},
			{"updateProfile of another user", updateProfileMut, func() map[string]any {
				return map[string]any{"id": other.user.ID, "in": map[string]any{"displayName": "Otto"}}
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
				return map[string]any{"id": user.user.ID, "in": map[string]any{"displayName": "Uma"}}
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
			{"setRole", setRoleMut, func() map[string]any { return map[string]any{"id": other.user.ID, "role": "USER"} }, []step{
				{anon, "UNAUTHENTICATED", "missing_token", nil},
				{user, "FORBIDDEN", "", nil},
				{adminAll, "FORBIDDEN", "session_required", nil},
				{admin, "", "", ok},
			}},
			{"setActive", setActiveMut, func() map[string]any { return map[string]any{"id": other.user.ID, "active": true} }, []step{
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
					t.Run(s.who.name, func(t *testing.T) {
						var vars map[string]any
						if tt.vars != nil {
							vars = tt.vars()
						}
						r := e.do(s.who.header, tt.query, vars)
						if s.code != "" {
							wantError(t, r, s.code, s.reason)
							return
						}
						mustOK(t, r)
						s.check(t, r)
					})
				}
			})
		}
	})
}

func TestUpdateProfile(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		user := e.session("uma", models.RoleUser)
		admin := e.session("root", models.RoleAdmin)

		update := func(a actor, id string, in map[string]any) gqlResponse {
			return e.do(a.header, updateProfileMut, map[string]any{"id": id, "in": in})
		}
		r := update(user, user.user.ID, map[string]any{"email": " uma@new.example ", "displayName": "  Uma U. "})
		mustOK(t, r)
		var p profile
		decode(t, r, "updateProfile", &p)
		if p.Email == nil || *p.Email != "uma@new.example" || p.DisplayName == nil || *p.DisplayName != "Uma U." {
			t.Fatalf("updateProfile = %+v, want trimmed email and display name", p)
		}
		// Absent fields stay; an empty displayName clears it.
		mustOK(t, update(user, user.user.ID, map[string]any{}))
		r = e.do(user.header, meWithDisplayQuery, nil)
		decode(t, r, "me", &p)
		if *p.Email != "uma@new.example" || *p.DisplayName != "Uma U." {
			t.Fatalf("me after an empty update = %+v", p)
		}
		mustOK(t, update(user, user.user.ID, map[string]any{"displayName": ""}))
		decode(t, e.do(user.header, meWithDisplayQuery, nil), "me", &p)
		if p.DisplayName != nil {
			t.Fatalf("displayName after clearing = %q, want null", *p.DisplayName)
		}

		wantField(t, update(user, user.user.ID, map[string]any{"email": "not an address"}), "email")
		wantField(t, update(user, user.user.ID, map[string]any{"displayName": string(make([]byte, 101))}), "displayName")
		wantField(t, update(admin, "00000000-0000-0000-0000-000000000000", map[string]any{"displayName": "x"}), "id")
		// An admin's change shows in the user's own profile.
		mustOK(t, update(admin, user.user.ID, map[string]any{"displayName": "Set by admin"}))
		decode(t, e.do(user.header, meWithDisplayQuery, nil), "me", &p)
		if p.DisplayName == nil || *p.DisplayName != "Set by admin" {
			t.Fatalf("displayName = %v, want the admin's", p.DisplayName)
		}
	})
}

func TestRoleAndActiveChanges(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		admin := e.session("root", models.RoleAdmin)
		user := e.session("uma", models.RoleUser)

		// The last active admin can be neither demoted nor deactivated, even
		// by themself.
		wantError(t, e.do(admin.header, setRoleMut, map[string]any{"id": admin.user.ID, "role": "USER"}), "BAD_USER_INPUT", "")
		wantError(t, e.do(admin.header, setActiveMut, map[string]any{"id": admin.user.ID, "active": false}), "BAD_USER_INPUT", "")
		wantField(t, e.do(admin.header, setRoleMut, map[string]any{"id": "00000000-0000-0000-0000-000000000000", "role": "USER"}), "id")

		// Promote uma: now root may step down, and uma is the last admin.
		mustOK(t, e.do(admin.header, setRoleMut, map[string]any{"id": user.user.ID, "role": "ADMIN"}))
		mustOK(t, e.do(user.header, usersQuery, nil)) // the role applies to the next request
		mustOK(t, e.do(admin.header, setRoleMut, map[string]any{"id": admin.user.ID, "role": "USER"}))
		wantError(t, e.do(admin.header, usersQuery, nil), "FORBIDDEN", "")
		wantError(t, e.do(user.header, setActiveMut, map[string]any{"id": user.user.ID, "active": false}), "BAD_USER_INPUT", "")

		// Deactivating root ends all their sessions.
		rootPair := e.login("root", testPassword)
		mustOK(t, e.do(user.header, setActiveMut, map[string]any{"id": admin.user.ID, "active": false}))
		wantError(t, e.do(bearer(rootPair.AccessToken), meQuery, nil), "UNAUTHENTICATED", "user_inactive")
		wantError(t, e.refresh(rootPair.RefreshToken), "UNAUTHENTICATED", "user_inactive")
		// Reactivated, root logs in again, but the old sessions stay ended.
		mustOK(t, e.do(user.header, setActiveMut, map[string]any{"id": admin.user.ID, "active": true}))
		wantError(t, e.refresh(rootPair.RefreshToken), "UNAUTHENTICATED", "refresh_token_invalid")
		wantError(t, e.do(bearer(rootPair.AccessToken), meQuery, nil), "UNAUTHENTICATED", "session_revoked")
		e.login("root", testPassword)
	})
}

// TestLastAdminGuardUnderRace has two admins demote or deactivate each other
// at the same time, many times over, from two stores sharing a database (two
// replicas): one always remains.
func TestLastAdminGuardUnderRace(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := replicaPair(t, kind)
			x := a.session("xena", models.RoleAdmin)
			y := a.session("yuri", models.RoleAdmin)

			for round := range 10 {
				mut, vars := setRoleMut, func(id string) map[string]any { return map[string]any{"id": id, "role": "USER"} }
				if round%2 == 1 {
					mut, vars = setActiveMut, func(id string) map[string]any { return map[string]any{"id": id, "active": false} }
				}
				results := make(chan gqlResponse, 2)
				start := make(chan struct{})
				go func() { <-start; results <- a.do(x.header, mut, vars(y.user.ID)) }()
				go func() { <-start; results <- b.do(y.header, mut, vars(x.user.ID)) }()
				close(start)
				r1, r2 := <-results, <-results
				wins := 0
				for _, r := range []gqlResponse{r1, r2} {
					if len(r.Errors) == 0 {
						wins++
					}
				}
				if wins != 1 {
					t.Fatalf("round %d: %d of 2 concurrent demotions succeeded, want 1:\n%s\n%s", round, wins, r1.Body, r2.Body)
				}
				// Restore both admins for the next round, through the store.
				for _, id := range []string{x.user.ID, y.user.ID} {
					if _, err := a.app.store.SetUserActive(context.Background(), id, true, a.clock.Now()); err != nil {
						t.Fatal(err)
					}
					if _, err := a.app.store.SetUserRole(context.Background(), id, models.RoleAdmin, a.clock.Now()); err != nil {
						t.Fatal(err)
					}
				}
				// Deactivation ended the loser's sessions: log both in again.
				x.header = bearer(a.login("xena", testPassword).AccessToken)
				y.header = bearer(a.login("yuri", testPassword).AccessToken)
			}
		})
	}
}

func TestPersonalTokenList(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		user := e.session("uma", models.RoleUser)
		other := e.session("otto", models.RoleUser)

		r := e.do(user.header, `mutation { createPersonalAccessToken(name: " deploy bot ", scopes: [PROFILE_WRITE, PROFILE_READ, PROFILE_READ], expiresIn: 3600) { token personalAccessToken { id name scopes createdAt lastUsedAt expiresAt } } }`, nil)
		mustOK(t, r)
		var created struct {
			Token               string
			PersonalAccessToken json.RawMessage
		}
		decode(t, r, "createPersonalAccessToken", &created)
		if len(created.Token) != 47 || created.Token[:4] != "icl_" {
			t.Fatalf("token = %q, want icl_ and 43 base64url characters", created.Token)
		}
		var tok struct {
			ID, Name   string
			Scopes     []string
			CreatedAt  string
			LastUsedAt *string
			ExpiresAt  *string
		}
		if err := json.Unmarshal(created.PersonalAccessToken, &tok); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e.logs.String(), created.Token) || strings.Contains(e.logs.String(), created.Token[4:]) {
			t.Fatal("the logs contain the access token")
		}
		if tok.Name != "deploy bot" || len(tok.Scopes) != 2 || tok.Scopes[0] != "PROFILE_READ" || tok.ExpiresAt == nil || tok.LastUsedAt != nil {
			t.Fatalf("accessToken = %+v", tok)
		}

		r = e.do(user.header, personalTokensQuery, nil)
		mustOK(t, r)
		if want := `"id":"` + tok.ID + `"`; !strings.Contains(string(r.Data["personalAccessTokens"]), want) || strings.Contains(r.Body, created.Token) || strings.Contains(r.Body, "icl_") {
			t.Fatalf("personalAccessTokens = %s, want the token's record without the token", r.Data["personalAccessTokens"])
		}
		mustOK(t, e.do(other.header, personalTokensQuery, nil))
		if r := e.do(other.header, personalTokensQuery, nil); string(r.Data["personalAccessTokens"]) != "[]" {
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
				r := e.do(user.header, tt.query, nil)
				if tt.field != "" {
					wantField(t, r, tt.field)
					return
				}
				wantError(t, r, tt.code, "")
			})
		}

		// Revoking: only one's own, once.
		revoke := func(a actor) string {
			r := e.do(a.header, revokeTokenMut, map[string]any{"id": tok.ID})
			mustOK(t, r)
			return string(r.Data["revokePersonalAccessToken"])
		}
		if got := revoke(other); got != "false" {
			t.Fatalf("revoke by another user = %s, want false", got)
		}
		mustOK(t, e.do(bearer(created.Token), meQuery, nil))
		if got := revoke(user); got != "true" {
			t.Fatalf("revoke = %s, want true", got)
		}
		if got := revoke(user); got != "false" {
			t.Fatalf("second revoke = %s, want false", got)
		}
		if r := e.do(user.header, personalTokensQuery, nil); string(r.Data["personalAccessTokens"]) != "[]" {
			t.Fatalf("personalAccessTokens after revoke = %s, want []", r.Data["personalAccessTokens"])
		}
	})
}
