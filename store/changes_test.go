package store

import "testing"

// TestChangePayloadCompatible: a key ring change travels in the identity
// payload as an extension that older decoders read as a session id naming
// no session.
func TestChangePayloadCompatible(t *testing.T) {
	for _, c := range []Change{{UserID: "u"}, {SessionID: "s"}, {UserID: "u", SessionID: "s"}, {Keys: true}} {
		got, ok := decodeChange(c.encode())
		if !ok || got != c {
			t.Errorf("decodeChange(%q) = %+v, %v, want %+v", c.encode(), got, ok, c)
		}
	}
	if got, ok := decodeChange("u|s"); !ok || got != (Change{UserID: "u", SessionID: "s"}) {
		t.Errorf("decodeChange(old payload) = %+v, %v", got, ok)
	}
}
