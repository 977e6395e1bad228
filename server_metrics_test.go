package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
)

// serve starts the metrics listener with the server, answers on it while
// the public listener answers, and closes it when it returns.
func TestServeMetricsAddr(t *testing.T) {
	env := map[string]string{"JWT_SECRET": apptest.Secret, "DATA_DIR": t.TempDir(), "ADDR": "127.0.0.1:0",
		"METRICS_ADDR": "127.0.0.1:0", "SHUTDOWN_DRAIN": "0s"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, mapEnv(env), nil, pw) }()

	metricsAddr := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
	sc := bufio.NewScanner(pr)
	var metrics, public string
	for (metrics == "" || public == "") && sc.Scan() {
		if m := metricsAddr.FindStringSubmatch(sc.Text()); m != nil {
			metrics = m[1]
		}
		if _, rest, ok := strings.Cut(sc.Text(), "GraphQL endpoint: http://"); ok {
			public, _, _ = strings.Cut(rest, "/query")
		}
	}
	if metrics == "" || public == "" {
		t.Fatalf("server exited before listening: %v", sc.Err())
	}
	lines := make(chan string, 1024)
	go func() {
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test stopped reading: keep the server's log flowing
			}
		}
	}()

	body, _ := json.Marshal(map[string]any{"query": apptest.MeQuery})
	resp, err := http.Post("http://"+public+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if len(id) != 32 {
		t.Fatalf("X-Request-Id = %q, want a new id", id)
	}
	res, err := http.Get("http://" + public + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics on ADDR = %d, want 404", res.StatusCode)
	}
	res, err = http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	expo, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK ||
		!strings.Contains(string(expo), `ironclad_graphql_requests_total{operation_type="query",result="unauthenticated"} 1`) {
		t.Fatalf("GET /metrics on METRICS_ADDR = %d:\n%s", res.StatusCode, expo)
	}
	// The access line of the request names its id.
	timeout := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case l := <-lines:
			found = strings.Contains(l, `msg=request`) && strings.Contains(l, "request_id="+id)
		case <-timeout:
			t.Fatalf("no access line names request %s", id)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run() after cancel = %v", err)
	}
	pw.Close()
	if res, err := http.Get("http://" + metrics + "/metrics"); err == nil {
		res.Body.Close()
		t.Fatal("the metrics listener outlived serve")
	}
}
