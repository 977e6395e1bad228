package main

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := "Running 5s test @ http://127.0.0.1:1/query\n  2 threads and 64 connections\n" +
		"WRK requests 1000\nWRK duration_us 2000000\nWRK p50_us 1500\nWRK p99_us 9000\nWRK max_us 12000\n" +
		"WRK bad_responses 3\nWRK non2xx 2\nWRK socket_errors 1\n"
	r, err := parseWrk(out)
	if err != nil {
		t.Fatalf("parseWrk() error = %v", err)
	}
	want := wrkResult{requests: 1000, duration: 2 * time.Second, p50: 1500 * time.Microsecond, p99: 9 * time.Millisecond, bad: 3, non2xx: 2, socketErrors: 1}
	if r != want {
		t.Fatalf("parseWrk() = %+v, want %+v", r, want)
	}
	if r.rps() != 500 || r.errors() != 4 {
		t.Fatalf("rps, errors = %v, %d; want 500, 4", r.rps(), r.errors())
	}
	for _, bad := range []string{"", "Running 5s test\n", "WRK requests many\n"} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%q) error = nil, want one", bad)
		}
	}
}
