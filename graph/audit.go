package graph

import (
	"context"
	"fmt"

	"github.com/ironclad-auth/ironclad/graph/model"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// listAudit runs myAuditEvents and auditEvents: one page of the events
// matching f, newest first, with first bounded like users.
func listAudit(ctx context.Context, st *store.Store, f store.AuditFilter, first *int, after *string) (*model.AuditEventConnection, error) {
	n := defaultFirst
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxFirst {
		return nil, models.BadField("first", fmt.Sprintf("first must be between 1 and %d", maxFirst))
	}
	var cur *store.AuditCursor
	if after != nil && *after != "" {
		c, err := decodeAuditCursor(*after)
		if err != nil {
			return nil, err
		}
		cur = c
	}
	if f.UserID != nil && len(*f.UserID) > maxIDBytes {
		empty := ""
		f.UserID = &empty // names no user
	}
	events, more, err := st.ListAudit(ctx, f, cur, n)
	if err != nil {
		return nil, err
	}
	conn := &model.AuditEventConnection{Edges: make([]*model.AuditEventEdge, len(events)), PageInfo: &model.PageInfo{HasNextPage: more}}
	for i, e := range events {
		conn.Edges[i] = &model.AuditEventEdge{Cursor: encodeAuditCursor(e), Node: auditEvent(e)}
	}
	if len(events) > 0 {
		end := conn.Edges[len(events)-1].Cursor
		conn.PageInfo.EndCursor = &end
	}
	return conn, nil
}

// auditEvent converts a stored event; unknown parts are null.
func auditEvent(e *models.AuditEvent) *model.AuditEvent {
	return &model.AuditEvent{
		ID:        e.ID,
		At:        e.At,
		Type:      e.Type,
		UserID:    e.UserID,
		ActorID:   e.ActorID,
		SessionID: e.SessionID,
		IP:        optional(e.IP),
		UserAgent: optional(e.UserAgent),
	}
}
