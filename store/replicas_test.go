package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/internal/testclock"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// Replicas of one deployment, each a real handler on its own Store over one
// shared database: what one changes, the other stops serving from its
// identity cache.

// TestChangesReachOtherReplicas: two handlers on two Stores sharing one
// database both serve me from their identity caches; a revocation,
// deactivation or deletion made through the second is refused by the second
// at once and by the first as soon as it hears of the change (Postgres:
// LISTEN/NOTIFY; SQLite: the Stores of one process share invalidations).
func TestChangesReachOtherReplicas(t *testing.T) {
	ctx := context.Background()
	testNow := testclock.Start // the clock of both handlers below, never moved
	cases := []struct {
		name   string
		change func(t *testing.T, st *store.Store, u *models.User, sessionID string)
		reason string
	}{
		{"session revoked", func(t *testing.T, st *store.Store, _ *models.User, sid string) {
			if _, err := st.RevokeSession(ctx, sid, testNow); err != nil {
				t.Fatal(err)
			}
		}, "session_revoked"},
		{"user deactivated", func(t *testing.T, st *store.Store, u *models.User, _ string) {
			if _, err := st.SetUserActive(ctx, u.ID, false, testNow); err != nil {
				t.Fatal(err)
			}
		}, "user_inactive"},
		{"user deleted", func(t *testing.T, st *store.Store, u *models.User, _ string) {
			if err := st.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
		}, "user_inactive"},
	}
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind)
			events := invalidations(a.App.Store)

			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					u := a.CreateUser("replica"+string(rune('a'+i)), apptest.Password, models.RoleUser)
					p := a.Login(u.Username, apptest.Password)
					authz := apptest.Bearer(p.AccessToken)
					apptest.MustOK(t, a.Do(authz, apptest.MeQuery, nil)) // cached on a
					apptest.MustOK(t, b.Do(authz, apptest.MeQuery, nil)) // cached on b

					tc.change(t, b.App.Store, u, apptest.SessionOf(t, p.AccessToken))
					apptest.WantError(t, b.Do(authz, apptest.MeQuery, nil), "UNAUTHENTICATED", tc.reason)
					// a refuses once it has applied an invalidation of this
					// user or session; earlier ones (the login's own) are
					// skipped by checking after each.
					awaitRefused(t, events, u.ID, func() bool {
						_, reason := a.Do(authz, apptest.MeQuery, nil).Code()
						return reason == tc.reason
					})
				})
			}
		})
	}
}

// awaitRefused waits for invalidations touching userID (or any session)
// until refused reports true after one of them. The bound only keeps a
// broken build from hanging; nothing here measures time.
func awaitRefused(t *testing.T, events <-chan store.IdentityEvent, userID string, refused func() bool) {
	t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-events:
			if ev.Change.UserID != "" && ev.Change.UserID != userID {
				continue
			}
			if refused() {
				return
			}
		case <-timeout.C:
			t.Fatal("the other replica never refused the token")
		}
	}
}

// TestRoleChangeReachesOtherReplicas: an admin demoted through one replica
// loses admin fields on that replica at once and on the other as soon as it
// hears of the change, although both had the admin's identity cached.
func TestRoleChangeReachesOtherReplicas(t *testing.T) {
	const usersQuery = `{ users(first: 1) { totalCount } }`
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			a, b := apptest.Pair(t, kind)
			events := invalidations(a.App.Store)

			a.CreateUser("keeper", apptest.Password, models.RoleAdmin) // the last-admin guard needs another
			u := a.CreateUser("demoted", apptest.Password, models.RoleAdmin)
			authz := apptest.Bearer(a.Login("demoted", apptest.Password).AccessToken)
			apptest.MustOK(t, a.Do(authz, usersQuery, nil)) // cached on a
			apptest.MustOK(t, b.Do(authz, usersQuery, nil)) // cached on b

			if _, err := b.App.Store.SetUserRole(ctx, u.ID, models.RoleUser, b.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			if code, _ := b.Do(authz, usersQuery, nil).Code(); code != "FORBIDDEN" {
				t.Fatalf("the replica that demoted still serves admin fields (code %q)", code)
			}
			awaitRefused(t, events, u.ID, func() bool {
				code, _ := a.Do(authz, usersQuery, nil).Code()
				return code == "FORBIDDEN"
			})
			apptest.MustOK(t, a.Do(authz, apptest.MeQuery, nil)) // still logged in, as a USER
		})
	}
}

// invalidations returns the identity-cache invalidations st applies from
// now on, for a test to wait on.
func invalidations(st *store.Store) <-chan store.IdentityEvent {
	events := make(chan store.IdentityEvent, 1000)
	st.SetIdentityObserver(func(ev store.IdentityEvent) {
		if ev.Kind == store.EventInvalidated {
			events <- ev
		}
	})
	return events
}
