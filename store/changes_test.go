package store

import (
	"strings"
	"testing"
)

// TestChangePayloadCompatible: a key ring change and a login travel in the
// identity payload as extensions that older decoders read harmlessly.
func TestChangePayloadCompatible(t *testing.T) {
	for _, c := range []Change{{UserID: "u"}, {SessionID: "s"}, {UserID: "u", SessionID: "s"}, {Keys: true}, {UserID: "u", StartedSession: "s2"}} {
		got, ok := decodeChange(c.encode())
		if !ok || got != c {
			t.Errorf("decodeChange(%q) = %+v, %v, want %+v", c.encode(), got, ok, c)
		}
	}
	if got, ok := decodeChange("u|s"); !ok || got != (Change{UserID: "u", SessionID: "s"}) {
		t.Errorf("decodeChange(old payload) = %+v, %v", got, ok)
	}
	// The decoder of the previous version: a login is the user change it
	// also is, with no session named.
	login := Change{UserID: "u", StartedSession: "s2"}.encode()
	u, rest, _ := strings.Cut(login, "|")
	sid, flag, _ := strings.Cut(rest, "|")
	if u != "u" || sid != "" || flag == "keys" {
		t.Errorf("an older replica reads %q as user %q session %q flag %q", login, u, sid, flag)
	}
	// An unknown flag of a later version is ignored.
	if got, ok := decodeChange("u|s|later:x"); !ok || got != (Change{UserID: "u", SessionID: "s"}) {
		t.Errorf("decodeChange(unknown flag) = %+v, %v", got, ok)
	}
}
