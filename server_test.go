package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/auth"
)

func TestRunServesAndShutsDown(t *testing.T) {
	// Exercise run() on a real port with an SQLite file, so the command path
	// (config, migrations, listener, graceful shutdown) is covered end to end.
	env := map[string]string{"JWT_SECRET": apptest.Secret, "DATA_DIR": t.TempDir(), "ADDR": "127.0.0.1:0", "SHUTDOWN_DRAIN": "0s"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, mapEnv(env), nil, pw) }()
	addr := readListenAddr(t, pr)
	go io.Copy(io.Discard, pr)

	body, _ := json.Marshal(map[string]any{"query": apptest.MeQuery})
	resp, err := http.Post("http://"+addr+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /query = %d", resp.StatusCode)
	}
	// With neither GOGC nor GOMEMLIMIT in its environment, serve runs with
	// Ironclad's collector settings (app/gc.go: 64 MiB plus the hashing
	// pool's memory) and puts the runtime's back.
	wantLimit := int64(64<<20 + runtime.GOMAXPROCS(0)*int(auth.DefaultParams.Memory)<<10)
	if l := debug.SetMemoryLimit(-1); l != wantLimit {
		t.Errorf("memory limit while serving = %d, want %d", l, wantLimit)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run() after cancel = %v, want nil", err)
	}
	if l := debug.SetMemoryLimit(-1); l == wantLimit {
		t.Errorf("memory limit after run() = %d, want the runtime's own back", l)
	}
	pw.Close()
}

// readListenAddr reads the server's startup banner for its address.
func readListenAddr(t *testing.T, r io.Reader) string {
	t.Helper()
	const marker = "GraphQL endpoint: http://"
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), marker); ok {
			addr, _, _ := strings.Cut(rest, "/query")
			return addr
		}
	}
	t.Fatalf("server exited before listening: %v", sc.Err())
	return ""
}

func TestProductionRefusesToStart(t *testing.T) {
	err := run(t.Context(), nil, mapEnv(map[string]string{"APP_ENV": "production", "JWT_SECRET": "short"}), nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Fatalf("run() in production with a weak secret = %v, want an error naming JWT_SECRET", err)
	}
}
