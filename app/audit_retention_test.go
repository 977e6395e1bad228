package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/models"
)

// TestAuditRetention: the sweep (and its dry-run count) deletes the audit
// events older than AUDIT_RETENTION and keeps the newer ones; with
// AUDIT_RETENTION=0 it keeps every event.
func TestAuditRetention(t *testing.T) {
	cases := []struct {
		name      string
		retention string
		wantLeft  int
	}{
		{"default 90 days", "", 1},
		{"30 days", "720h", 0},
		{"forever", "0", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
				e.CreateUser("alice", apptest.Password, models.RoleUser)
				e.Login("alice", apptest.Password) // an event now
				e.Clock.Advance(60 * 24 * time.Hour)
				e.Login("alice", apptest.Password) // and 60 days later
				e.Clock.Advance(40 * 24 * time.Hour)
				// Now: the first event is 100 days old, the second 40.
				before := len(e.AuditEvents(t))
				ctx := context.Background()
				dry, err := e.App.Auth.CountPurgeable(ctx)
				if err != nil {
					t.Fatal(err)
				}
				n, err := e.App.Auth.Purge(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n != dry {
					t.Errorf("Purge() = %d rows, dry run counted %d", n, dry)
				}
				left := e.AuditEvents(t)
				if len(left) != c.wantLeft {
					t.Fatalf("%d of %d events left, want %d", len(left), before, c.wantLeft)
				}
				for _, ev := range left {
					if age := e.Clock.Now().Sub(ev.At); c.retention == "" && age > 90*24*time.Hour {
						t.Errorf("kept an event %v old", age)
					}
				}
			}, func(cfg *app.Config) {
				cfg2 := apptest.Config(t, map[string]string{"AUDIT_RETENTION": c.retention})
				cfg.AuditRetention = cfg2.AuditRetention
			})
		})
	}
}
