package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "auth")
	ctx := With(context.Background(), "req-1")
	log.InfoContext(ctx, "with")
	log.Info("without")
	log.WithGroup("g").InfoContext(ctx, "grouped", "k", "v")

	dec := json.NewDecoder(&buf)
	var lines []map[string]any
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(lines))
	}
	if lines[0][LogKey] != "req-1" || lines[0]["component"] != "auth" {
		t.Errorf("line with a request's context = %v, want request_id req-1 and component auth", lines[0])
	}
	if _, ok := lines[1][LogKey]; ok {
		t.Errorf("line without a request's context = %v, want no request_id", lines[1])
	}
	if g, _ := lines[2]["g"].(map[string]any); g == nil || g[LogKey] != "req-1" {
		t.Errorf("grouped line = %v, want request_id in the group", lines[2])
	}
	if h := LogHandler(LogHandler(slog.NewJSONHandler(&buf, nil))); h.(logHandler).Handler == nil {
		t.Fatal("wrapping twice lost the handler")
	} else if _, twice := h.(logHandler).Handler.(logHandler); twice {
		t.Error("LogHandler wrapped an already wrapped handler again")
	}
}
