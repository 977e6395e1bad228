// Package mail renders Ironclad's messages (password reset, email
// verification, notices) from Go templates, seals them into the outbox the
// store keeps, and sends them over SMTP from a worker on each replica.
package mail

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// SMTP is a parsed SMTP_URL. Password is never logged nor repeated in an
// error.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	// ImplicitTLS is smtps://: TLS from the first byte (port 465).
	ImplicitTLS bool
	// StartTLS is smtp:// without ?starttls=off: STARTTLS is required,
	// and a server not offering it is refused.
	StartTLS bool
}

// ParseSMTPURL parses smtp://[user:pass@]host[:port][?starttls=off] (port
// 587 by default, STARTTLS required unless starttls=off) or
// smtps://[user:pass@]host[:port] (implicit TLS, port 465). Errors never
// repeat the URL: it may hold a password.
func ParseSMTPURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a smtp:// or smtps:// URL")
	}
	s := &SMTP{}
	switch u.Scheme {
	case "smtp":
		s.Port, s.StartTLS = 587, true
	case "smtps":
		s.Port, s.ImplicitTLS = 465, true
	default:
		return nil, errors.New("not a smtp:// or smtps:// URL")
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return nil, errors.New("the URL names no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("the port is not a number from 1 to 65535")
		}
		s.Port = n
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("the URL must have no path")
	}
	for k, vs := range u.Query() {
		switch {
		case k == "starttls" && u.Scheme == "smtp" && len(vs) == 1 && (vs[0] == "off" || vs[0] == "required"):
			s.StartTLS = vs[0] == "required"
		case k == "starttls":
			return nil, errors.New("starttls may only be off or required, and only with smtp://")
		default:
			return nil, fmt.Errorf("unknown parameter %q (only starttls=off is known)", k)
		}
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s, nil
}

// Loopback reports whether the server is on this host (a local relay),
// where a connection without TLS crosses no network.
func (s *SMTP) Loopback() bool {
	if strings.EqualFold(s.Host, "localhost") {
		return true
	}
	ip := net.ParseIP(s.Host)
	return ip != nil && ip.IsLoopback()
}

// Addr is host:port.
func (s *SMTP) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// String describes the server without its credentials.
func (s *SMTP) String() string {
	mode := "starttls"
	switch {
	case s.ImplicitTLS:
		mode = "tls"
	case !s.StartTLS:
		mode = "plain"
	}
	return s.Addr() + " (" + mode + ")"
}
