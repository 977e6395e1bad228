package graph

import (
	"encoding/base64"
	"strings"
	"time"

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

// decodeCursor parses a cursor made by encodeCursor.
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
	at, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return nil, errBadCursor
	}
	return &store.UserCursor{CreatedAt: at, ID: parts[2]}, nil
}
