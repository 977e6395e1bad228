package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
)

// drainResponse is one answer during the drain, and whether it came on a
// connection opened before.
type drainResponse struct {
	status int
	header http.Header
	close  bool // the client will close the connection after it
	body   string
	reused bool
}

func drainDo(t *testing.T, c *http.Client, method, url, body string) drainResponse {
	t.Helper()
	var out drainResponse
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { out.reused = i.Reused }}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	out.status, out.header, out.close, out.body = resp.StatusCode, resp.Header, resp.Close, string(raw)
	return out
}

// SIGTERM starts the drain: /readyz fails at once so a load balancer stops
// sending, while every route still answers, each answer closing its
// keep-alive connection. A second SIGTERM cuts the 60s drain short and the
// process exits 0.
func TestShutdownDrains(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, []string{
		"JWT_SECRET=" + apptest.Secret,
		"DATABASE_URL=" + filepath.Join(dir, "ironclad.db"),
		"DATA_DIR=" + dir,
		"ADDR=127.0.0.1:0",
		"PLAYGROUND=true",
		"SHUTDOWN_DRAIN=60s",
	}, "", "serve")
	base := "http://" + listenAddr(t, p.waitLine(t, "ironclad listening", time.Minute))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	// Before: ready, and the connection stays open for the next request.
	if r := drainDo(t, client, http.MethodGet, base+"/readyz", ""); r.status != http.StatusOK || r.close {
		t.Fatalf("GET /readyz before SIGTERM = %d (close %v) %q, want 200 on a kept-alive connection", r.status, r.close, r.body)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "shutting down: draining", 30*time.Second)

	// The keep-alive connection opened before the signal is still served,
	// and asked to close.
	r := drainDo(t, client, http.MethodGet, base+"/readyz", "")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "shutting down") {
		t.Errorf("GET /readyz while draining = %d %q, want 503 shutting down", r.status, r.body)
	}
	if !r.reused {
		t.Errorf("GET /readyz while draining came on a new connection, want the kept-alive one")
	}
	wantClose(t, "GET /readyz", r)

	// New connections are still accepted for the rest of the drain.
	body, _ := json.Marshal(map[string]any{"query": "{ __typename }"})
	r = drainDo(t, client, http.MethodPost, base+"/query", string(body))
	if r.status != http.StatusOK || !strings.Contains(r.body, `"__typename":"Query"`) {
		t.Errorf("POST /query while draining = %d %q, want 200 with __typename Query", r.status, r.body)
	}
	if r.reused {
		t.Errorf("POST /query reused a connection that was asked to close")
	}
	wantClose(t, "POST /query", r)

	login, _ := json.Marshal(map[string]any{"query": apptest.LoginMutation, "variables": map[string]any{"u": "nobody", "p": apptest.Password}})
	r = drainDo(t, client, http.MethodPost, base+"/query", string(login))
	if r.status != http.StatusOK || !strings.Contains(r.body, "UNAUTHENTICATED") {
		t.Errorf("login while draining = %d %q, want 200 UNAUTHENTICATED (no such user)", r.status, r.body)
	}
	wantClose(t, "login", r)

	r = drainDo(t, client, http.MethodGet, base+"/healthz", "")
	if r.status != http.StatusOK || r.body != "ok\n" {
		t.Errorf("GET /healthz while draining = %d %q, want 200 ok", r.status, r.body)
	}
	wantClose(t, "GET /healthz", r)
	// On the wire, literally.
	if status, h := rawHeader(t, strings.TrimPrefix(base, "http://"), "/healthz"); !strings.HasPrefix(status, "HTTP/1.1 200") || h.Get("Connection") != "close" {
		t.Errorf("raw GET /healthz while draining = %q, Connection %q, want 200 with Connection: close", status, h.Get("Connection"))
	}

	select {
	case <-p.done:
		t.Fatalf("exited during the drain (%v)", p.err)
	default:
	}
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The guard is far below SHUTDOWN_DRAIN: only the cut can meet it.
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code after the second SIGTERM = %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	t.Logf("exited %s after the second SIGTERM", time.Since(sent).Round(time.Millisecond))
	p.waitLine(t, "shutting down; finishing in-flight requests", time.Second)
}

// wantClose fails unless r carried Connection: close (net/http's client
// takes the header out into Response.Close for an HTTP/1.1 answer).
func wantClose(t *testing.T, what string, r drainResponse) {
	t.Helper()
	if !r.close {
		t.Errorf("%s while draining: the response does not close its connection (header %v), want Connection: close", what, r.header)
	}
}

// rawHeader sends one request on a fresh connection and returns the
// response's status line and headers as they came on the wire.
func rawHeader(t *testing.T, addr, path string) (status string, h textproto.MIMEHeader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(c))
	if status, err = tp.ReadLine(); err != nil {
		t.Fatalf("GET %s: read status: %v", path, err)
	}
	if h, err = tp.ReadMIMEHeader(); err != nil {
		t.Fatalf("GET %s: read header: %v", path, err)
	}
	return status, h
}
