package app_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
)

// A request body the server cannot read whole, through a real http.Server
// and a raw connection: the answer is a typed BAD_REQUEST that never shows
// the connection's socket addresses (a read error's text does).
func TestBodyReadErrors(t *testing.T) {
	e := apptest.Open(t, "sqlite")
	const head = "POST " + app.GraphQLPath + " HTTP/1.1\r\nHost: ironclad.test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
	cases := []struct {
		name        string
		readTimeout time.Duration
		// finish ends the client's side after the headers and part of the
		// body were sent; it never sends the rest.
		finish  func(t *testing.T, c *net.TCPConn)
		status  int
		message string
	}{
		{
			// The client stops writing and waits: the server's ReadTimeout
			// ends the read.
			name: "too slow", readTimeout: 200 * time.Millisecond,
			finish: func(*testing.T, *net.TCPConn) {}, status: http.StatusRequestTimeout, message: "request body read timed out",
		},
		{
			// The client closes its side: the body ends short.
			name: "cut short", readTimeout: time.Minute,
			finish: func(t *testing.T, c *net.TCPConn) {
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			},
			status: http.StatusBadRequest, message: "could not read request body",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(e.Handler)
			srv.Config.ReadTimeout = tc.readTimeout // as the command's server has one
			srv.Start()
			t.Cleanup(srv.Close)

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Only a bound on a broken server, never reached when it works.
			if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, head+`{"query":"{ me`); err != nil {
				t.Fatal(err)
			}
			tc.finish(t, conn.(*net.TCPConn))

			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			body := string(raw)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, tc.status, body)
			}
			local, remote := conn.LocalAddr().String(), conn.RemoteAddr().String()
			if strings.Contains(body, local) || strings.Contains(body, remote) || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "tcp") {
				t.Fatalf("the answer shows the connection: %s", body)
			}
			var out struct {
				Errors []struct {
					Message    string         `json:"message"`
					Extensions map[string]any `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			if len(out.Errors) != 1 || out.Errors[0].Message != tc.message || out.Errors[0].Extensions["code"] != "BAD_REQUEST" {
				t.Fatalf("body = %s, want one BAD_REQUEST %q", body, tc.message)
			}
			if !res.Close {
				t.Fatal("the connection stays open after a body that was not read whole")
			}
		})
	}
}
