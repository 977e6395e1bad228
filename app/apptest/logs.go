package apptest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// Logs is a log sink safe for concurrent handlers: the JSON lines a test
// server wrote.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Records returns every log record, decoded, in order.
func (l *Logs) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, rec)
	}
	return out
}

// Events returns the records that carry an "event" (the auth events).
func (l *Logs) Events(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range l.Records(t) {
		if _, ok := rec["event"]; ok {
			out = append(out, rec)
		}
	}
	return out
}

// Count returns how many records of event were logged.
func (l *Logs) Count(t testing.TB, event string) int {
	t.Helper()
	n := 0
	for _, rec := range l.Events(t) {
		if rec["event"] == event {
			n++
		}
	}
	return n
}
