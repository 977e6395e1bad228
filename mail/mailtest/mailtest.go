// Package mailtest is a real SMTP server for tests, in process (built on
// github.com/emersion/go-smtp): it accepts every message, keeps it, and can
// go down and come back on the same address to play an SMTP outage.
package mailtest

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Received is one message the server accepted.
type Received struct {
	From string
	To   []string
	Raw  []byte
}

// Server is an SMTP server on 127.0.0.1.
type Server struct {
	t    testing.TB
	addr string

	mu   sync.Mutex
	srv  *smtp.Server
	ln   net.Listener
	msgs []Received
}

// Start starts a server, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// URL is the SMTP_URL of the server (no TLS: it is on loopback).
func (s *Server) URL() string { return "smtp://" + s.addr + "?starttls=off" }

// Stop takes the server down: connections are refused until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener too: Close does not know it if Serve has not
		// started yet.
		_ = ln.Close()
		_ = srv.Close()
	}
}

// Restart brings a stopped server back on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ln, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port is being released: a retry, not synchronisation
	}
	if err != nil {
		s.t.Fatalf("mailtest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Messages returns every message accepted so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait returns the messages once there are at least n, failing the test
// after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: %d messages after %s, want %d", len(s.Messages()), timeout, n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, Received{From: x.from, To: x.to, Raw: b})
	x.s.mu.Unlock()
	return nil
}

// Header returns a decoded header of the message.
func (m Received) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return ""
	}
	v, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get(name))
	if err != nil {
		return msg.Header.Get(name)
	}
	return v
}

// Part returns the decoded body part of the content type (text/plain,
// text/html), or "".
func (m Received) Part(contentType string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return ""
	}
	return findPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, contentType)
}

func findPart(ct, cte string, body io.Reader, want string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return ""
			}
			if s := findPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, want); s != "" {
				return s
			}
		}
	}
	if mt != want {
		return ""
	}
	if strings.EqualFold(cte, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, _ := io.ReadAll(body)
	return string(b)
}

var (
	tokenRE = regexp.MustCompile(`#token=([A-Za-z0-9_-]{43})`)
	codeRE  = regexp.MustCompile(`code[^:\n]*: ([0-9A-Z]{8})`)
	linkRE  = regexp.MustCompile(`https?://\S+#token=[A-Za-z0-9_-]{43}`)
)

// Link returns the first link with a token in the text part.
func (m Received) Link() string { return linkRE.FindString(m.Part("text/plain")) }

// Token returns the token of the message's link, or "".
func (m Received) Token() string {
	if s := tokenRE.FindStringSubmatch(m.Part("text/plain")); s != nil {
		return s[1]
	}
	return ""
}

// Code returns the 8-character code of the message, or "".
func (m Received) Code() string {
	if s := codeRE.FindStringSubmatch(m.Part("text/plain")); s != nil {
		return s[1]
	}
	return ""
}
