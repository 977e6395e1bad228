package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// The documents of personal-access-token management.
const (
	patTokensQuery    = `{ personalAccessTokens { id name scopes createdAt lastUsedAt expiresAt } }`
	patRevokeMutation = `mutation($id: ID!) { revokePersonalAccessToken(id: $id) }`
	patUsersQuery     = `query($first: Int, $after: String, $search: String) { users(first: $first, after: $after, search: $search) { totalCount edges { cursor node { id username email } } pageInfo { hasNextPage endCursor } } }`
)

// patLastUsed returns the lastUsedAt of the user's only personal access
// token, read from the store (the session's access token may have expired
// meanwhile).
func patLastUsed(t *testing.T, st *store.Store, userID string) *time.Time {
	t.Helper()
	toks, err := st.PersonalTokensOf(context.Background(), userID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("PersonalTokensOf() = %v, %v; want one token", toks, err)
	}
	return toks[0].LastUsedAt
}

func TestPersonalTokenAuthentication(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		st := e.App.Store
		user := e.Session("uma", models.RoleUser)

		t.Run("revoked at once", func(t *testing.T) {
			tok := e.PersonalToken(user, models.ScopeProfileRead)
			apptest.MustOK(t, e.Do(tok.Header, apptest.MeQuery, nil))
			list := apptest.Decode[[]models.PersonalToken](t, e.Do(user.Header, patTokensQuery, nil), "personalAccessTokens")
			if len(list) != 1 {
				t.Fatalf("personalAccessTokens = %d tokens, want 1", len(list))
			}
			apptest.MustOK(t, e.Do(user.Header, patRevokeMutation, map[string]any{"id": list[0].ID}))
			apptest.WantError(t, e.Do(tok.Header, apptest.MeQuery, nil), "UNAUTHENTICATED", "token_revoked")
		})

		t.Run("expired at once", func(t *testing.T) {
			r := e.Do(user.Header, `mutation { createPersonalAccessToken(name: "short", scopes: [PROFILE_READ], expiresIn: 120) { token } }`, nil)
			out := apptest.Decode[model.NewPersonalAccessToken](t, r, "createPersonalAccessToken")
			apptest.MustOK(t, e.Do(apptest.Bearer(out.Token), apptest.MeQuery, nil))
			e.Clock.Advance(119 * time.Second)
			apptest.MustOK(t, e.Do(apptest.Bearer(out.Token), apptest.MeQuery, nil))
			e.Clock.Advance(time.Second)
			apptest.WantError(t, e.Do(apptest.Bearer(out.Token), apptest.MeQuery, nil), "UNAUTHENTICATED", "token_expired")
		})

		t.Run("unknown or malformed", func(t *testing.T) {
			for _, h := range []string{"Bearer icl_", "Bearer icl_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer icl_short"} {
				apptest.WantError(t, e.Do(h, apptest.MeQuery, nil), "UNAUTHENTICATED", "invalid_token")
			}
		})

		t.Run("owner deactivated", func(t *testing.T) {
			owner := e.Session("olga", models.RoleUser)
			tok := e.PersonalToken(owner, models.ScopeProfileRead)
			if _, err := st.SetUserActive(context.Background(), owner.User.ID, false, e.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			apptest.WantError(t, e.Do(tok.Header, apptest.MeQuery, nil), "UNAUTHENTICATED", "user_inactive")
		})

		t.Run("a demoted admin's token loses USERS_READ", func(t *testing.T) {
			admin := e.Session("root", models.RoleAdmin)
			e.Session("spare", models.RoleAdmin) // so root is not the last admin
			tok := e.PersonalToken(admin, models.ScopeProfileRead, models.ScopeUsersRead)
			apptest.MustOK(t, e.Do(tok.Header, patUsersQuery, nil))
			if _, err := st.SetUserRole(context.Background(), admin.User.ID, models.RoleUser, e.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			apptest.WantError(t, e.Do(tok.Header, patUsersQuery, nil), "FORBIDDEN", "insufficient_scope")
			apptest.MustOK(t, e.Do(tok.Header, apptest.MeQuery, nil))
		})
	})
}

// TestPersonalTokenLastUsedThrottled checks that lastUsedAt is written at
// most once a minute per token, on the test clock, across two replicas.
func TestPersonalTokenLastUsedThrottled(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind)
			user := a.Session("uma", models.RoleUser)
			tok := a.PersonalToken(user, models.ScopeProfileRead)
			if got := patLastUsed(t, a.App.Store, user.User.ID); got != nil {
				t.Fatalf("lastUsedAt before any use = %v, want null", got)
			}

			first := a.Clock.Now()
			apptest.MustOK(t, a.Do(tok.Header, apptest.MeQuery, nil))
			writes := apptest.CountStatements(t, b.App.Store)
			steps := []struct {
				advance time.Duration
				env     *apptest.Env
				want    time.Time
			}{
				{30 * time.Second, b, first},                                        // within the minute: unchanged
				{29 * time.Second, a, first},                                        // 59 s: unchanged
				{time.Second, b, first.Add(time.Minute)},                            // a minute: written
				{10 * time.Second, a, first.Add(time.Minute)},                       // unchanged again
				{time.Hour, b, first.Add(time.Minute + 10*time.Second + time.Hour)}, // written
			}
			for i, s := range steps {
				a.Clock.Advance(s.advance)
				apptest.MustOK(t, s.env.Do(tok.Header, apptest.MeQuery, nil))
				if got := patLastUsed(t, a.App.Store, user.User.ID); got == nil || !got.Equal(s.want) {
					t.Fatalf("step %d: lastUsedAt = %v, want %v", i, got, s.want)
				}
			}
			// Replica b served three requests; it wrote twice, and read the
			// token once per request: five statements in all.
			if n := writes.Load(); n != 5 {
				t.Fatalf("replica b ran %d statements for 3 token requests, want 3 reads + 2 writes", n)
			}
		})
	}
}

// Session management and password changes need a login, whatever a
// personal access token's scopes.
func TestPersonalTokenCannotManageSessions(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("pat-owner", apptest.Password, models.RoleUser)
		p := e.Login("pat-owner", apptest.Password)
		r := e.Do(apptest.Bearer(p.AccessToken), `mutation { createPersonalAccessToken(name: "all", scopes: [PROFILE_READ, PROFILE_WRITE]) { token } }`, nil)
		out := apptest.Decode[model.NewPersonalAccessToken](t, r, "createPersonalAccessToken")
		for _, op := range []string{
			`{ sessions { id } }`,
			`mutation { logoutAll }`,
			`mutation { revokeSession(id: "x") }`,
			`mutation { changePassword(currentPassword: "correct horse battery", newPassword: "another fine passphrase") { accessToken } }`,
		} {
			r := e.Do(apptest.Bearer(out.Token), op, nil)
			if code, reason := r.Code(); code != "FORBIDDEN" || reason != "session_required" {
				t.Errorf("%s with an access token: %s", op, r.Body)
			}
		}
		// The session itself was not touched.
		apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil))
	})
}
