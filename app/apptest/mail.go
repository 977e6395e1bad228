package apptest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/mail"
)

// WithSMTP points a test server at an SMTP server (a mailtest.Server's
// URL).
func WithSMTP(url string) func(*app.Config) {
	return func(c *app.Config) {
		s, err := mail.ParseSMTPURL(url)
		if err != nil {
			panic("apptest.WithSMTP: " + err.Error())
		}
		c.SMTP, c.MailFrom, c.AppURL = s, "Ironclad Test <no-reply@example.com>", "https://app.example.com"
	}
}

// StartMail runs the server's mail worker until the test ends, polling
// often; the test's end waits for it to stop.
func (e *Env) StartMail() *mail.Worker {
	e.T.Helper()
	w := e.App.Mail.Worker
	if w == nil {
		e.T.Fatal("apptest: StartMail without SMTP_URL (use WithSMTP)")
	}
	w.PollInterval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.App.RunMail(ctx); close(done) }()
	e.T.Cleanup(func() { cancel(); <-done })
	return w
}

// DevMail is one mail of GET /dev/mail.
type DevMail struct {
	Kind    string `json:"kind"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Link    string `json:"link"`
	Text    string `json:"text"`
}

// DevMails reads the development mailbox, newest first.
func (e *Env) DevMails() []DevMail {
	e.T.Helper()
	req := httptest.NewRequest(http.MethodGet, app.DevMailPath, nil)
	req.Header.Set("Accept", "application/json")
	r := e.Serve(req)
	if r.Status != http.StatusOK {
		e.T.Fatalf("GET %s: status %d, body %s", app.DevMailPath, r.Status, r.Body)
	}
	var out struct{ Mails []DevMail }
	if err := json.Unmarshal([]byte(r.Body), &out); err != nil {
		e.T.Fatalf("GET %s: %v", app.DevMailPath, err)
	}
	return out.Mails
}

// Eventually polls cond until it holds, failing after 30 seconds: for what
// another replica hears asynchronously. The bound only keeps a broken build
// from hanging.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}
