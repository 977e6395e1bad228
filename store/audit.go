package store

// The audit log: the audit_events table, written two ways.
//
//  1. Events of a state change commit with it. The caller passes them in the
//     context of the store method making the change (WithAudit), and
//     s.write inserts them inside that method's transaction, after its
//     writes succeeded: a change that fails or rolls back leaves no event,
//     and no change commits without its event. A write that turns out to
//     change nothing (revoking a session that had already ended) calls
//     skipAudit(tx), and its events are dropped. Adding an event to a flow
//     is one call where the flow calls the store:
//
//     err := s.store.DeleteUser(store.WithAudit(ctx, ev), id)
//
//     The store method must run its writes through s.write (every method
//     changing an identity already must, see changes.go); one that runs a
//     lone statement records nothing. StartLoginSession on Postgres, a
//     single statement, inserts its events itself.
//
//  2. Events that an attacker can produce at will (failed logins, rate-limit
//     hits) are not worth a transaction of their own on the login path:
//     auth.AuditWriter buffers them and inserts them in batches with
//     RecordAudit.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/ironclad-auth/ironclad/models"
)

// auditKey is the context key of the events pending for the next write.
type auditKey struct{}

// pendingAudit holds the events WithAudit attached to a context.
type pendingAudit struct {
	events []*models.AuditEvent
	skip   bool // set by skipAudit: the write changed nothing
	done   bool // recorded (or skipped) by a committed write: never twice
}

// WithAudit returns ctx carrying events: the next store write made with
// this context records them in its own transaction, and only if it commits
// a change. Each event's zero ID is set (a time-ordered UUID) and its text
// fields are clipped to the columns.
func WithAudit(ctx context.Context, events ...*models.AuditEvent) context.Context {
	if len(events) == 0 {
		return ctx
	}
	return context.WithValue(ctx, auditKey{}, &pendingAudit{events: events})
}

// pendingFrom returns the events still to record in ctx, or nil.
func pendingFrom(ctx context.Context) *pendingAudit {
	p, _ := ctx.Value(auditKey{}).(*pendingAudit)
	if p == nil || p.done {
		return nil
	}
	return p
}

// skipAudit tells write that the transaction tx changed nothing, so the
// events pending in its context are not recorded.
func skipAudit(tx *gorm.DB) {
	if p := pendingFrom(tx.Statement.Context); p != nil {
		p.skip = true
	}
}

// recordPending inserts, inside tx, the events pending in its context.
func recordPending(tx *gorm.DB) error {
	p := pendingFrom(tx.Statement.Context)
	if p == nil || p.skip {
		return nil
	}
	for _, e := range p.events {
		if err := normalizeAudit(e); err != nil {
			return err
		}
	}
	if err := tx.Create(p.events).Error; err != nil {
		return fmt.Errorf("record audit events: %w", err)
	}
	return nil
}

// auditCommitted marks the pending events of ctx as handled once their
// write committed.
func auditCommitted(ctx context.Context) {
	if p := pendingFrom(ctx); p != nil {
		p.done = true
	}
}

// normalizeAudit completes an event for insertion.
func normalizeAudit(e *models.AuditEvent) error {
	if e.Type == "" || e.At.IsZero() {
		return errors.New("store: audit event needs a type and a time")
	}
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		e.ID = id.String()
	}
	e.At = utc(e.At)
	e.IP = clip(e.IP, maxIP)
	e.UserAgent = clip(e.UserAgent, maxUserAgent)
	if e.Details == "" || !json.Valid([]byte(e.Details)) {
		e.Details = "{}"
	}
	for _, p := range []**string{&e.UserID, &e.ActorID, &e.SessionID} {
		if *p != nil && **p == "" {
			*p = nil
		}
	}
	return nil
}

// auditBatch bounds the rows of one INSERT of RecordAudit.
const auditBatch = 200

// RecordAudit inserts events in one transaction, in batches of at most
// auditBatch rows: the asynchronous writer's path (auth.AuditWriter).
func (s *Store) RecordAudit(ctx context.Context, events []*models.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if err := normalizeAudit(e); err != nil {
			return err
		}
	}
	// An immediate transaction (SQLite): a plain INSERT would take the
	// read lock first and could deadlock with a login's transaction.
	return s.write(ctx, "record audit events", func(tx *gorm.DB) error {
		return tx.CreateInBatches(events, auditBatch).Error
	})
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	UserID *string          // events about this user ("" matches none)
	Type   models.AuditType // events of this type
	Since  time.Time        // events at or after this time
}

// AuditCursor is a position in the audit log, whose order is newest first:
// (at, id) descending. Ids are time-ordered UUIDs, so events of one instant
// keep the order in which they happened on a replica.
type AuditCursor struct {
	At time.Time
	ID string
}

// ListAudit returns up to first events matching f after the cursor (from
// the newest when after is nil), newest first, and whether more follow. It
// is one statement on an index of audit_events (user, type or time first):
// keyset pagination, so new events never shift a page.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, after *AuditCursor, first int) ([]*models.AuditEvent, bool, error) {
	q := s.db.WithContext(ctx).Model(&models.AuditEvent{})
	if f.UserID != nil {
		q = q.Where("user_id = ?", *f.UserID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", utc(f.Since))
	}
	if after != nil {
		at := utc(after.At)
		q = q.Where("(at < ? OR (at = ? AND id < ?))", at, at, after.ID)
	}
	var out []*models.AuditEvent
	if err := q.Order("at DESC, id DESC").Limit(first + 1).Find(&out).Error; err != nil {
		return nil, false, wrap("list audit events", err)
	}
	more := len(out) > first
	if more {
		out = out[:first]
	}
	for _, e := range out {
		e.At = utc(e.At)
	}
	return out, more, nil
}

// PurgeAudit deletes the audit events older than before, in batches of at
// most purgeBatch rows (each its own statement), and returns how many it
// deleted. Like Purge it is idempotent and safe to run from every replica.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteInBatches(ctx, "purge audit events",
		"DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? LIMIT ?)", utc(before), purgeBatch)
}

// CountAuditBefore counts the audit events PurgeAudit(ctx, before) would
// delete, and deletes nothing.
func (s *Store) CountAuditBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&models.AuditEvent{}).Where("at < ?", utc(before)).Count(&n).Error
	return n, wrap("count purgeable audit events", err)
}

// auditMigrationPostgres creates the audit log's table. user_id, actor_id
// and session_id are plain columns, not foreign keys: deleting a user (or
// purging a session) keeps the events that name them, until
// AUDIT_RETENTION. The indexes serve the two queries, newest first: a
// user's events (myAuditEvents, auditEvents(userId)), the events of a type
// (auditEvents(type, since)), and everything by time (auditEvents without
// filters, since, and the retention sweep).
var auditMigrationPostgres = []string{
	`CREATE TABLE audit_events (
		id         varchar(36)  PRIMARY KEY,
		at         timestamptz  NOT NULL,
		type       varchar(32)  NOT NULL,
		user_id    varchar(36),
		actor_id   varchar(36),
		session_id varchar(36),
		ip         varchar(64)  NOT NULL DEFAULT '',
		user_agent varchar(512) NOT NULL DEFAULT '',
		details    jsonb        NOT NULL DEFAULT '{}'
	)`,
	`CREATE INDEX idx_audit_events_at ON audit_events (at, id)`,
	`CREATE INDEX idx_audit_events_user ON audit_events (user_id, at, id)`,
	`CREATE INDEX idx_audit_events_type ON audit_events (type, at, id)`,
}

// auditMigrationSQLite is auditMigrationPostgres in SQLite's types; details
// is JSON text.
var auditMigrationSQLite = []string{
	`CREATE TABLE audit_events (
		id         varchar(36)  PRIMARY KEY NOT NULL,
		at         datetime     NOT NULL,
		type       varchar(32)  NOT NULL,
		user_id    varchar(36),
		actor_id   varchar(36),
		session_id varchar(36),
		ip         varchar(64)  NOT NULL DEFAULT '',
		user_agent varchar(512) NOT NULL DEFAULT '',
		details    text         NOT NULL DEFAULT '{}'
	)`,
	`CREATE INDEX idx_audit_events_at ON audit_events (at, id)`,
	`CREATE INDEX idx_audit_events_user ON audit_events (user_id, at, id)`,
	`CREATE INDEX idx_audit_events_type ON audit_events (type, at, id)`,
}

// dropAuditMigration undoes the audit log migration.
var dropAuditMigration = []string{
	`DROP TABLE IF EXISTS audit_events`,
}
