package main

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// lastUsed returns the lastUsedAt of the user's only access token, read
// from the store (the session's access token may have expired meanwhile).
func lastUsed(t *testing.T, st *store.Store, userID string) *time.Time {
	t.Helper()
	toks, err := st.PersonalTokensOf(context.Background(), userID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("PersonalTokensOf() = %v, %v; want one token", toks, err)
	}
	return toks[0].LastUsedAt
}

func TestPersonalTokenAuthentication(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		user := e.session("uma", models.RoleUser)

		t.Run("revoked at once", func(t *testing.T) {
			tok := e.pat(user, models.ScopeProfileRead)
			mustOK(t, e.do(tok.header, meQuery, nil))
			var list []struct{ ID string }
			decode(t, e.do(user.header, personalTokensQuery, nil), "personalAccessTokens", &list)
			mustOK(t, e.do(user.header, revokeTokenMut, map[string]any{"id": list[0].ID}))
			wantError(t, e.do(tok.header, meQuery, nil), "UNAUTHENTICATED", "token_revoked")
		})

		t.Run("expired at once", func(t *testing.T) {
			r := e.do(user.header, `mutation { createPersonalAccessToken(name: "short", scopes: [PROFILE_READ], expiresIn: 120) { token } }`, nil)
			mustOK(t, r)
			var out struct{ Token string }
			decode(t, r, "createPersonalAccessToken", &out)
			mustOK(t, e.do(bearer(out.Token), meQuery, nil))
			e.clock.Advance(119 * time.Second)
			mustOK(t, e.do(bearer(out.Token), meQuery, nil))
			e.clock.Advance(time.Second)
			wantError(t, e.do(bearer(out.Token), meQuery, nil), "UNAUTHENTICATED", "token_expired")
		})

		t.Run("unknown or malformed", func(t *testing.T) {
			for _, h := range []string{"Bearer icl_", "Bearer icl_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer icl_short"} {
				wantError(t, e.do(h, meQuery, nil), "UNAUTHENTICATED", "invalid_token")
			}
		})

		t.Run("owner deactivated", func(t *testing.T) {
			owner := e.session("olga", models.RoleUser)
			tok := e.pat(owner, models.ScopeProfileRead)
			if _, err := st.SetUserActive(context.Background(), owner.user.ID, false, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			wantError(t, e.do(tok.header, meQuery, nil), "UNAUTHENTICATED", "user_inactive")
		})

		t.Run("a demoted admin's token loses USERS_READ", func(t *testing.T) {
			admin := e.session("root", models.RoleAdmin)
			e.session("spare", models.RoleAdmin) // so root is not the last admin
			tok := e.pat(admin, models.ScopeProfileRead, models.ScopeUsersRead)
			mustOK(t, e.do(tok.header, usersQuery, nil))
			if _, err := st.SetUserRole(context.Background(), admin.user.ID, models.RoleUser, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			wantError(t, e.do(tok.header, usersQuery, nil), "FORBIDDEN", "insufficient_scope")
			mustOK(t, e.do(tok.header, meQuery, nil))
		})
	})
}

// TestPersonalTokenLastUsedThrottled checks that lastUsedAt is written at
// most once a minute per token, on the test clock, across two replicas.
func TestPersonalTokenLastUsedThrottled(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := replicaPair(t, kind)
			user := a.session("uma", models.RoleUser)
			tok := a.pat(user, models.ScopeProfileRead)
			if got := lastUsed(t, a.app.store, user.user.ID); got != nil {
				t.Fatalf("lastUsedAt before any use = %v, want null", got)
			}

			first := a.clock.Now()
			mustOK(t, a.do(tok.header, meQuery, nil))
			writes := countStatements(t, b.app.store)
			steps := []struct {
				advance time.Duration
				env     *testEnv
				want    time.Time
			}{
				{30 * time.Second, b, first},                                        // within the minute: unchanged
				{29 * time.Second, a, first},                                        // 59 s: unchanged
				{time.Second, b, first.Add(time.Minute)},                            // a minute: written
				{10 * time.Second, a, first.Add(time.Minute)},                       // unchanged again
				{time.Hour, b, first.Add(time.Minute + 10*time.Second + time.Hour)}, // written
			}
			for i, s := range steps {
				a.clock.Advance(s.advance)
				mustOK(t, s.env.do(tok.header, meQuery, nil))
				if got := lastUsed(t, a.app.store, user.user.ID); got == nil || !got.Equal(s.want) {
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
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newTestEnv(t, st, nil)
		e.createUser("pat-owner", "correct horse battery", models.RoleUser)
		p := e.login("pat-owner", "correct horse battery")
		r := e.do(bearer(p.AccessToken), `mutation { createPersonalAccessToken(name: "all", scopes: [PROFILE_READ, PROFILE_WRITE]) { token } }`, nil)
		mustOK(t, r)
		var out struct{ Token string }
		decode(t, r, "createPersonalAccessToken", &out)
		for _, op := range []string{
			`{ sessions { id } }`,
			`mutation { logoutAll }`,
			`mutation { revokeSession(id: "x") }`,
			`mutation { changePassword(currentPassword: "correct horse battery", newPassword: "another fine passphrase") { accessToken } }`,
		} {
			r := e.do(bearer(out.Token), op, nil)
			if code, reason := r.code(); code != "FORBIDDEN" || reason != "session_required" {
				t.Errorf("%s with an access token: %s", op, r.Body)
			}
		}
		// The session itself was not touched.
		mustOK(t, e.do(bearer(p.AccessToken), meQuery, nil))
	})
}
