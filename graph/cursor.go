package graph

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// cursorVersion prefixes every users cursor, so the format can change.
const cursorVersion = "u1"

var errBadCursor = models.BadField("after", "after is not a cursor returned by users")

// encodeCursor returns the opaque cursor of a user in the users order.
func encodeCursor(u *models.User) string {
	raw := cursorVersion + "|" + u.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + u.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor parses a cursor made by encodeCursor, and nothing else.
func decodeCursor(c string) (*store.UserCursor, error) {
	if len(c) > 200 {
		return nil, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, errBadCursor
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != cursorVersion || parts[2] == "" {
		return nil, errBadCursor
	}
	// The id goes into the store's query as text, where Postgres answers
	// NUL or invalid UTF-8 with an error instead of an empty page.
	id := parts[2]
	if !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return nil, errBadCursor
	}
	at, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return nil, errBadCursor
	}
	// Only the exact text encodeCursor writes: another offset, more digits
	// than nanoseconds, a year beyond 9999 in UTC or loose base64 would name
	// a position no page of users ever returned.
	if encodeCursor(&models.User{CreatedAt: at, ID: id}) != c {
		return nil, errBadCursor
	}
	return &store.UserCursor{CreatedAt: at, ID: id}, nil
}
