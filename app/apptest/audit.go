package apptest

import (
	"context"
	"slices"
	"testing"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// AuditEvents writes the events the audit writer holds, then returns every
// stored audit event, oldest first.
func (e *Env) AuditEvents(t testing.TB) []*models.AuditEvent {
	t.Helper()
	ctx := context.Background()
	if err := e.App.Audit.Flush(ctx); err != nil {
		t.Fatalf("flush audit events: %v", err)
	}
	var all []*models.AuditEvent
	var after *store.AuditCursor
	for {
		page, more, err := e.App.Store.ListAudit(ctx, store.AuditFilter{}, after, 100)
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		last := page[len(page)-1]
		after = &store.AuditCursor{At: last.At, ID: last.ID}
	}
	slices.Reverse(all)
	return all
}

// AuditSince returns the audit events stored after those in before (a
// result of AuditEvents), oldest first.
func (e *Env) AuditSince(t testing.TB, before []*models.AuditEvent) []*models.AuditEvent {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range before {
		seen[ev.ID] = true
	}
	var out []*models.AuditEvent
	for _, ev := range e.AuditEvents(t) {
		if !seen[ev.ID] {
			out = append(out, ev)
		}
	}
	return out
}

// Str returns *p, or "" for nil: an optional id of an audit event.
func Str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
