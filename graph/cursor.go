package graph

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Cursor versions prefix every cursor, so the formats can change, and keep
// a cursor of one list from being accepted by another.
const (
	cursorVersion      = "u1" // users
	auditCursorVersion = "a1" // myAuditEvents, auditEvents
)

var (
	errBadCursor      = models.BadField("after", "after is not a cursor returned by users")
	errBadAuditCursor = models.BadField("after", "after is not a cursor returned by this audit query")
)

// encodeKeyset returns the opaque cursor of the position (at, id) in the
// list of version.
func encodeKeyset(version string, at time.Time, id string) string {
	raw := version + "|" + at.UTC().Format(time.RFC3339Nano) + "|" + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeKeyset parses a cursor made by encodeKeyset for version, and
// nothing else; ok is false for anything else.
func decodeKeyset(version, c string) (at time.Time, id string, ok bool) {
	if len(c) > 200 {
		return time.Time{}, "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != version || parts[2] == "" {
		return time.Time{}, "", false
	}
	// The id goes into the store's query as text, where Postgres answers
	// NUL or invalid UTF-8 with an error instead of an empty page.
	id = parts[2]
	if !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return time.Time{}, "", false
	}
	at, err = time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return time.Time{}, "", false
	}
	// Only the exact text encodeKeyset writes: another offset, more digits
	// than nanoseconds, a year beyond 9999 in UTC or loose base64 would name
	// a position no page ever returned.
	if encodeKeyset(version, at, id) != c {
		return time.Time{}, "", false
	}
	return at, id, true
}

// encodeCursor returns the opaque cursor of a user in the users order.
func encodeCursor(u *models.User) string { return encodeKeyset(cursorVersion, u.CreatedAt, u.ID) }

// decodeCursor parses a cursor made by encodeCursor, and nothing else.
func decodeCursor(c string) (*store.UserCursor, error) {
	at, id, ok := decodeKeyset(cursorVersion, c)
	if !ok {
		return nil, errBadCursor
	}
	return &store.UserCursor{CreatedAt: at, ID: id}, nil
}

// encodeAuditCursor returns the opaque cursor of an audit event.
func encodeAuditCursor(e *models.AuditEvent) string {
	return encodeKeyset(auditCursorVersion, e.At, e.ID)
}

// decodeAuditCursor parses a cursor made by encodeAuditCursor, and nothing
// else.
func decodeAuditCursor(c string) (*store.AuditCursor, error) {
	at, id, ok := decodeKeyset(auditCursorVersion, c)
	if !ok {
		return nil, errBadAuditCursor
	}
	return &store.AuditCursor{At: at, ID: id}, nil
}
