package graph

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ironclad-auth/ironclad/models"
)

// Any string given to decodeCursor is either refused with errBadCursor
// (BAD_USER_INPUT on after) or yields a position that encodeCursor writes
// back as the same string: only cursors users returned are accepted, so
// nothing else reaches the store's query.
func FuzzDecodeCursor(f *testing.F) {
	enc := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for _, s := range []string{
		encodeCursor(&models.User{ID: "7f9c2ba4-e88f-4b1a-9f4e-0c1d2e3f4a5b", CreatedAt: at}),
		encodeCursor(&models.User{ID: "u", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}),
		"", "u1", enc("u1||"), enc("u1|x|y"), enc("u2|2026-01-02T03:04:05Z|id"),
		enc("u1|2026-01-02T03:04:05Z|a|b"),
		enc("u1|2026-01-02T03:04:05+05:00|id"),          // an offset encodeCursor never writes
		enc("u1|9999-12-31T23:59:59-23:59|id"),          // year 10000 in UTC
		enc("u1|0000-01-01T00:00:00+23:59|id"),          // year -1 in UTC
		enc("u1|2026-01-02T03:04:05.1234567891234Z|id"), // more digits than nanoseconds
		enc("u1|2026-01-02T03:04:05Z|a\x00b"),           // NUL
		enc("u1|2026-01-02T03:04:05Z|\xff\xfe"),         // invalid UTF-8
		enc("u1|2026-01-02T03:04:05Z|" + strings.Repeat("9", 150)),
		"dTF8MjAyNi0wMS0wMlQwMzowNDowNVp8aWQ=", // padded
		"dTF8MjAyNi0wMS0wMlQwMzowNDowNVp8aWQ+", // standard alphabet
		strings.Repeat("A", 201), "\x00", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if err != errBadCursor || models.CodeOf(err) != models.CodeBadUserInput {
				t.Fatalf("decodeCursor(%q) error = %v, want errBadCursor", s, err)
			}
			if c != nil {
				t.Fatalf("decodeCursor(%q) = %+v with an error, want nil", s, c)
			}
			return
		}
		if c == nil || c.ID == "" || !utf8.ValidString(c.ID) || strings.ContainsRune(c.ID, 0) {
			t.Fatalf("decodeCursor(%q) = %+v, want a position with a printable id", s, c)
		}
		if back := encodeCursor(&models.User{ID: c.ID, CreatedAt: c.CreatedAt}); back != s {
			t.Fatalf("decodeCursor(%q) = %+v, which encodes as %q: not a cursor users returned", s, c, back)
		}
	})
}
