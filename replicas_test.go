package main

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestChangesReachOtherReplicas: two handlers on two Stores sharing one
// database both serve me from their identity caches; a revocation,
// deactivation or deletion made through the second is refused by the second
// at once and by the first as soon as it hears of the change (Postgres:
// LISTEN/NOTIFY; SQLite: the Stores of one process share invalidations).
func TestChangesReachOtherReplicas(t *testing.T) {
	ctx := context.Background()
	testNow := newClock().Now() // the clock of both handlers below
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
			a, b := replicaPair(t, kind)
			events := invalidations(a.app.store)

			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					u := a.createUser("replica"+string(rune('a'+i)), "correct horse battery", models.RoleUser)
					p := a.login(u.Username, "correct horse battery")
					authz := bearer(p.AccessToken)
					mustOK(t, a.do(authz, meQuery, nil)) // cached on a
					mustOK(t, b.do(authz, meQuery, nil)) // cached on b

					tc.change(t, b.app.store, u, sessionOf(t, p.AccessToken))
					wantError(t, b.do(authz, meQuery, nil), "UNAUTHENTICATED", tc.reason)
					// a refuses once it has applied an invalidation of this
					// user or session; earlier ones (the login's own) are
					// skipped by checking after each.
					awaitRefused(t, events, u.ID, func() bool {
						_, reason := a.do(authz, meQuery, nil).code()
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
			a, b := replicaPair(t, kind)
			events := invalidations(a.app.store)

			a.createUser("keeper", "correct horse battery", models.RoleAdmin) // the last-admin guard needs another
			u := a.createUser("demoted", "correct horse battery", models.RoleAdmin)
			authz := bearer(a.login("demoted", "correct horse battery").AccessToken)
			mustOK(t, a.do(authz, usersQuery, nil)) // cached on a
			mustOK(t, b.do(authz, usersQuery, nil)) // cached on b

			if _, err := b.app.store.SetUserRole(ctx, u.ID, models.RoleUser, b.clock.Now()); err != nil {
				t.Fatal(err)
			}
			if code, _ := b.do(authz, usersQuery, nil).code(); code != "FORBIDDEN" {
				t.Fatalf("the replica that demoted still serves admin fields (code %q)", code)
			}
			awaitRefused(t, events, u.ID, func() bool {
				code, _ := a.do(authz, usersQuery, nil).code()
				return code == "FORBIDDEN"
			})
			mustOK(t, a.do(authz, meQuery, nil)) // still logged in, as a USER
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
