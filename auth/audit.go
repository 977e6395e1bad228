package auth

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/ironclad-auth/ironclad/internal/requestid"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// The audit log. Every flow that changes security state builds its event
// with auditor.event and hands it to the store method making the change
// (store.WithAudit), which records it in the change's transaction:
//
//	ev := s.audit.event(ctx, models.AuditPasswordReset, u.ID, "", nil)
//	err := s.store.ResetPassword(store.WithAudit(ctx, ev), ...)
//
// Events an attacker can produce at will (failed logins, rate-limit hits)
// go to the AuditWriter instead (auditor.async). Details never hold a
// password, a token, a hash or an attempted username (people type their
// password into the username field).

// auditor builds audit events and queues the asynchronous ones.
type auditor struct {
	now    func() time.Time
	writer *AuditWriter // nil: asynchronous events are not stored
}

// event returns an event of type typ about userID in sessionID (none when
// empty), from the client of ctx. details (nil for none) are stored as
// JSON, with the request id when ctx carries one. It never reads the viewer:
// public flows (login) must not authenticate a header they ignore.
func (a auditor) event(ctx context.Context, typ models.AuditType, userID, sessionID string, details map[string]any) *models.AuditEvent {
	c := ClientFrom(ctx)
	// The id is made now, not at insertion: ids are time-ordered, and an
	// event written later by the AuditWriter keeps its place.
	var id string
	if u, err := uuid.NewV7(); err == nil {
		id = u.String()
	}
	e := &models.AuditEvent{ID: id, At: a.now().UTC(), Type: typ, UserID: optional(userID), SessionID: optional(sessionID),
		IP: c.IP, UserAgent: c.UserAgent}
	if id := requestid.From(ctx); id != "" {
		if details == nil {
			details = map[string]any{}
		}
		details["request_id"] = id
	}
	if len(details) > 0 {
		if b, err := json.Marshal(details); err == nil {
			e.Details = string(b)
		}
	}
	return e
}

// with returns ctx carrying e for the next store write (store.WithAudit).
func with(ctx context.Context, e *models.AuditEvent) context.Context {
	return store.WithAudit(ctx, e)
}

// async queues e on the writer without waiting.
func (a auditor) async(e *models.AuditEvent) {
	if a.writer != nil {
		a.writer.Add(e)
	}
}

// optional returns nil for "" and &s otherwise.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
