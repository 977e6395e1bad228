package main

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app/apptest"
)

// The binary's healthcheck exits 0 while the server is ready, and 1 with a
// reason on stderr once it drains and once it is gone. ADDR as the server
// was given it (":PORT", every interface) is probed on loopback.
func TestHealthcheckCommand(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, []string{
		"JWT_SECRET=" + apptest.Secret,
		"DATABASE_URL=" + filepath.Join(dir, "ironclad.db"),
		"ADDR=127.0.0.1:0",
		"SHUTDOWN_DRAIN=60s",
	}, "", "serve")
	addr := listenAddr(t, p.waitLine(t, "ironclad listening", time.Minute))
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	check := func(addr string) (int, string, string) {
		t.Helper()
		return runBinary(t, []string{"ADDR=" + addr}, "healthcheck", "--timeout", "10s")
	}

	for _, a := range []string{addr, ":" + port, "0.0.0.0:" + port} {
		if code, out, errOut := check(a); code != 0 || !strings.Contains(out, "200") {
			t.Errorf("healthcheck with ADDR=%s while serving = exit %d, stdout %q, stderr %q; want 0", a, code, out, errOut)
		}
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, "shutting down: draining", 30*time.Second)
	if code, _, errOut := check(":" + port); code != 1 || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "shutting down") {
		t.Errorf("healthcheck while draining = exit %d, stderr %q; want 1 naming 503 shutting down", code, errOut)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("server exit %d after the second SIGTERM\nstderr:\n%s", code, p.stderr)
	}
	if code, _, errOut := check(":" + port); code != 1 || !strings.Contains(errOut, "ironclad: healthcheck: GET http://127.0.0.1:"+port+"/readyz") {
		t.Errorf("healthcheck after exit = exit %d, stderr %q; want 1 naming the URL", code, errOut)
	}
}

// A server that accepts the connection and never answers fails the check
// at --timeout instead of hanging the container runtime's probe.
func TestHealthcheckTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := runCLI(t, mapEnv(map[string]string{"ADDR": ln.Addr().String()}), "", "healthcheck", "--timeout", "300ms")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Fatalf("healthcheck against a silent server = %v, want no answer within 300ms", err)
		}
	case <-time.After(30 * time.Second): // a failure guard only
		t.Fatal("healthcheck against a silent server did not return")
	}
}

func TestHealthcheckArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"healthcheck", "--timeout", "0s"}, nil, "--timeout 0s is outside"},
		{[]string{"healthcheck", "--timeout", "2m"}, nil, "--timeout 2m0s is outside"},
		{[]string{"healthcheck", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"healthcheck"}, map[string]string{"ADDR": "8080"}, `ADDR: "8080" is not host:port`},
	} {
		_, err := runCLI(t, mapEnv(tc.env), "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
		if strings.Contains(tc.want, "--timeout") || strings.Contains(tc.want, "unexpected") {
			var ue usageError
			if !errors.As(err, &ue) {
				t.Errorf("run(%q) = %T, want a usageError (exit 2)", tc.args, err)
			}
		}
	}
}

func TestReadyzURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		"[::]:8080":      "http://[::1]:8080/readyz",
		"127.0.0.2:9000": "http://127.0.0.2:9000/readyz",
		"localhost:80":   "http://localhost:80/readyz",
		"[::1]:8080":     "http://[::1]:8080/readyz",
	} {
		if got, err := readyzURL(addr); err != nil || got != want {
			t.Errorf("readyzURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}
