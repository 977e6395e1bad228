package graph

import (
	"bytes"
	"encoding/json"
	"testing"
)

// needsHTMLEscape answers true exactly when json.Marshal of the executor's
// (compact) output would not give back the same bytes.
func TestNeedsHTMLEscape(t *testing.T) {
	for _, s := range []string{
		`{"me":null}`, `{"a":"<"}`, `{"a":">"}`, `{"a":"&"}`, "{\"a\":\"\u2028\"}", "{\"a\":\"\u2029\"}",
		"{\"a\":\"\u2027\"}", "{\"a\":\"\u202a\"}", "{\"a\":\"\u20ac\"}", `{"a":"é"}`, "{\"a\":\"x\u2029\"}",
		"\"\xe2\x80\"", "\"\xe2\"",
	} {
		data := []byte(s)
		b, err := json.Marshal(json.RawMessage(data))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got, want := needsHTMLEscape(data), !bytes.Equal(b, data); got != want {
			t.Errorf("needsHTMLEscape(%q) = %v, want %v (json.Marshal gives %q)", s, got, want, b)
		}
	}
}
