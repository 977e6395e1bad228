package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// auditCount returns how many audit events are stored.
func auditCount(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Model(&models.AuditEvent{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func ptr(s string) *string { return &s }

// TestAuditInTransaction: an event passed with WithAudit commits with its
// change and only with it: a failing change stores no event, and an event
// that cannot be stored undoes its change.
func TestAuditInTransaction(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		sess, _, _ := mustSession(t, s, u, t0.Add(threeDays))
		ev := func() *models.AuditEvent {
			return &models.AuditEvent{At: t0, Type: models.AuditLoggedOut, UserID: &u.ID, SessionID: &sess.ID}
		}

		// The change fails (no such session of this user): no event.
		if ok, err := s.RevokeUserSession(store.WithAudit(ctx, ev()), "someone-else", sess.ID, t0); ok || err != nil {
			t.Fatalf("RevokeUserSession(other user) = %v, %v", ok, err)
		}
		if _, err := s.ChangePassword(store.WithAudit(ctx, ev()), u.ID, "no-such-session", "$argon2id$new",
			&models.RefreshToken{TokenHash: hashOf("x"), ExpiresAt: t0.Add(time.Hour)}, t0); err == nil {
			t.Fatal("ChangePassword(unknown session) succeeded")
		}
		if _, err := s.SetUserRole(store.WithAudit(ctx, ev()), "no-such-user", models.RoleAdmin, t0); err == nil {
			t.Fatal("SetUserRole(unknown user) succeeded")
		}
		if n := auditCount(t, s); n != 0 {
			t.Fatalf("%d events stored by failed changes, want 0", n)
		}

		// The event cannot be stored (no type): the session stays live.
		if _, err := s.RevokeSession(store.WithAudit(ctx, &models.AuditEvent{At: t0}), sess.ID, t0); err == nil {
			t.Fatal("RevokeSession with an invalid event succeeded")
		}
		if live, err := s.UserSessions(ctx, u.ID, t0); err != nil || len(live) != 1 {
			t.Fatalf("after the failed revocation: %d live sessions, %v; want 1", len(live), err)
		}

		// The change succeeds: exactly one event, once, even if the context
		// is used again.
		actx := store.WithAudit(ctx, ev())
		if ok, err := s.RevokeSession(actx, sess.ID, t0); !ok || err != nil {
			t.Fatalf("RevokeSession() = %v, %v", ok, err)
		}
		other, _, _ := mustSession(t, s, u, t0.Add(threeDays))
		if ok, err := s.RevokeSession(actx, other.ID, t0); !ok || err != nil {
			t.Fatalf("RevokeSession() = %v, %v", ok, err)
		}
		if n := auditCount(t, s); n != 1 {
			t.Fatalf("%d events stored, want 1", n)
		}
	})
}

// TestAuditLoginInStatement: StartLoginSession stores its events in the
// same statement (Postgres) or transaction (SQLite), naming the new
// session; for an unknown user it stores nothing.
func TestAuditLoginInStatement(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "alice")
		login := func(userID string) (*models.Session, *models.AuditEvent, error) {
			sess := &models.Session{UserID: userID, CreatedAt: t0, ExpiresAt: t0.Add(threeDays)}
			tok := &models.RefreshToken{TokenHash: hashOf(userID), ExpiresAt: t0.Add(threeDays)}
			ev := &models.AuditEvent{At: t0, Type: models.AuditLoginSucceeded, UserID: &userID, IP: "192.0.2.9", UserAgent: "ua", Details: `{"k":"v"}`}
			return sess, ev, s.StartLoginSession(store.WithAudit(ctx, ev), sess, tok, t0, "")
		}
		if _, _, err := login("no-such-user"); err == nil {
			t.Fatal("StartLoginSession(unknown user) succeeded")
		}
		if n := auditCount(t, s); n != 0 {
			t.Fatalf("%d events stored for an unknown user, want 0", n)
		}
		sess, _, err := login(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		evs, _, err := s.ListAudit(ctx, store.AuditFilter{}, nil, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("ListAudit() = %d events, %v; want 1", len(evs), err)
		}
		got := evs[0]
		if *got.SessionID != sess.ID || *got.UserID != u.ID || got.IP != "192.0.2.9" || got.UserAgent != "ua" ||
			!got.At.Equal(t0) || got.DetailsMap()["k"] != "v" || got.ActorID != nil {
			t.Errorf("stored %+v, want the login's event in session %s", got, sess.ID)
		}
	})
}

// TestAuditOutlivesUser: deleting a user keeps the events about them.
func TestAuditOutlivesUser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u, admin := mustUser(t, s, "alice"), mustUser(t, s, "root")
		err := s.RecordAudit(ctx, []*models.AuditEvent{{At: t0, Type: models.AuditRoleChanged, UserID: &u.ID, ActorID: &admin.ID}})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{u.ID, admin.ID} {
			if err := s.DeleteUser(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		evs, _, err := s.ListAudit(ctx, store.AuditFilter{UserID: &u.ID}, nil, 10)
		if err != nil || len(evs) != 1 || *evs[0].ActorID != admin.ID {
			t.Fatalf("after deleting the users: %v, %v; want the event kept", evs, err)
		}
	})
}

// TestListAudit: keyset pages newest first, never repeating or skipping an
// event, filtered by user, type and time.
func TestListAudit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var all []*models.AuditEvent
		for i := range 25 {
			typ := models.AuditLoginSucceeded
			if i%3 == 0 {
				typ = models.AuditLoginFailed
			}
			user := ptr("u1")
			if i%2 == 0 {
				user = ptr("u2")
			}
			// Pairs of events share an instant: the id orders them.
			all = append(all, &models.AuditEvent{ID: fmt.Sprintf("ev-%02d", i), At: t0.Add(time.Duration(i/2) * time.Second), Type: typ, UserID: user})
		}
		if err := s.RecordAudit(ctx, all); err != nil {
			t.Fatal(err)
		}
		collect := func(f store.AuditFilter, first int) []string {
			t.Helper()
			var ids []string
			var after *store.AuditCursor
			for {
				page, more, err := s.ListAudit(ctx, f, after, first)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					ids = append(ids, e.ID)
				}
				if !more {
					return ids
				}
				after = &store.AuditCursor{At: page[len(page)-1].At, ID: page[len(page)-1].ID}
			}
		}
		want := func(keep func(i int) bool) []string {
			var ids []string
			for i := 24; i >= 0; i-- {
				if keep(i) {
					ids = append(ids, fmt.Sprintf("ev-%02d", i))
				}
			}
			return ids
		}
		cases := []struct {
			name string
			f    store.AuditFilter
			keep func(int) bool
		}{
			{"all", store.AuditFilter{}, func(int) bool { return true }},
			{"user", store.AuditFilter{UserID: ptr("u1")}, func(i int) bool { return i%2 == 1 }},
			{"type", store.AuditFilter{Type: models.AuditLoginFailed}, func(i int) bool { return i%3 == 0 }},
			{"since", store.AuditFilter{Since: t0.Add(10 * time.Second)}, func(i int) bool { return i >= 20 }},
			{"user, type and since", store.AuditFilter{UserID: ptr("u2"), Type: models.AuditLoginFailed, Since: t0.Add(3 * time.Second)},
				func(i int) bool { return i%2 == 0 && i%3 == 0 && i >= 6 }},
			{"unknown user", store.AuditFilter{UserID: ptr("")}, func(int) bool { return false }},
		}
		for _, c := range cases {
			for _, first := range []int{1, 4, 100} {
				if got, w := collect(c.f, first), want(c.keep); fmt.Sprint(got) != fmt.Sprint(w) {
					t.Errorf("%s, pages of %d: %v, want %v", c.name, first, got, w)
				}
			}
		}
	})
}

// TestPurgeAudit: events older than the cutoff go, in batches; the count
// of a dry run matches.
func TestPurgeAudit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var evs []*models.AuditEvent
		for i := range 1205 { // more than one batch
			evs = append(evs, &models.AuditEvent{At: t0.Add(-time.Duration(i%2) * 48 * time.Hour), Type: models.AuditLoginFailed})
		}
		if err := s.RecordAudit(ctx, evs); err != nil {
			t.Fatal(err)
		}
		cutoff := t0.Add(-24 * time.Hour)
		if n, err := s.CountAuditBefore(ctx, cutoff); n != 602 || err != nil {
			t.Fatalf("CountAuditBefore() = %d, %v; want 602", n, err)
		}
		if n, err := s.PurgeAudit(ctx, cutoff); n != 602 || err != nil {
			t.Fatalf("PurgeAudit() = %d, %v; want 602", n, err)
		}
		if n := auditCount(t, s); n != 603 {
			t.Fatalf("%d events left, want 603", n)
		}
	})
}
