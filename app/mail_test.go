package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/app"
	"github.com/ironclad-auth/ironclad/app/apptest"
	"github.com/ironclad-auth/ironclad/mail/mailtest"
	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

const (
	requestResetMut = `mutation($e: String!) { requestPasswordReset(email: $e) }`
	resetMut        = `mutation($t: String!, $p: String!, $r: Boolean) { resetPassword(token: $t, newPassword: $p, revokePersonalTokens: $r) }`
	verifyMut       = `mutation($t: String!) { verifyEmail(token: $t) }`
	newPassword     = "a brand new passphrase"
)

func registerMut(u, email string) (string, map[string]any) {
	return `mutation($u: String!, $e: String!, $p: String!) { register(input: {username: $u, email: $e, password: $p}) { accessToken user { id emailVerified } } }`,
		map[string]any{"u": u, "e": email, "p": apptest.Password}
}

// mailTo returns the messages of srv sent to addr.
func mailTo(srv *mailtest.Server, addr string) []mailtest.Received {
	var out []mailtest.Received
	for _, m := range srv.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

// waitMail waits for the n-th message to addr and returns it.
func waitMail(t *testing.T, srv *mailtest.Server, addr string, n int) mailtest.Received {
	t.Helper()
	apptest.Eventually(t, fmt.Sprintf("%d mails to %s", n, addr), func() bool { return len(mailTo(srv, addr)) >= n })
	return mailTo(srv, addr)[n-1]
}

// TestPasswordResetByMail: the reset mail reaches a real SMTP server with a
// fragment link and a code; the link's token resets once, ends every
// session, and a notice follows; the code of a second mail works once too.
func TestPasswordResetByMail(t *testing.T) {
	srv := mailtest.Start(t)
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.StartMail()
		u := e.CreateUser("rita", apptest.Password, models.RoleUser)
		addr := *u.Email
		p1, p2 := e.Login("rita", apptest.Password), e.Login("rita", apptest.Password)
		pat := e.PersonalToken(apptest.Actor{Header: apptest.Bearer(p1.AccessToken), User: u}, models.ScopeProfileRead)
		before := len(mailTo(srv, addr))

		r := e.Do("", requestResetMut, map[string]any{"e": strings.ToUpper(addr)})
		apptest.MustOK(t, r)
		m := waitMail(t, srv, addr, before+1)
		if m.Header("Subject") != "Reset your Ironclad password" {
			t.Errorf("subject %q", m.Header("Subject"))
		}
		if !strings.HasPrefix(m.Link(), "https://app.example.com/reset-password#token=") {
			t.Fatalf("link %q, want https://app.example.com/reset-password#token=…", m.Link())
		}
		if !strings.Contains(m.Part("text/html"), "reset-password#token="+m.Token()) {
			t.Errorf("the HTML part lacks the link")
		}
		if len(m.Code()) != 8 {
			t.Fatalf("code %q, want 8 characters; text:\n%s", m.Code(), m.Part("text/plain"))
		}

		// The policy of register applies; a refused password spends nothing.
		apptest.WantField(t, e.Do("", resetMut, map[string]any{"t": m.Token(), "p": "rita"}), "newPassword")
		apptest.MustOK(t, e.Do("", resetMut, map[string]any{"t": m.Token(), "p": newPassword}))
		apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": m.Token(), "p": newPassword + "!"}), "BAD_USER_INPUT", "reset_token_invalid")
		// The code of the same mail died with its token.
		apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": m.Code(), "p": newPassword + "!"}), "BAD_USER_INPUT", "reset_token_invalid")

		for _, p := range []apptest.Payload{p1, p2} {
			apptest.WantError(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
			if code, _ := e.Refresh(p.RefreshToken).Code(); code != "UNAUTHENTICATED" {
				t.Errorf("refresh after reset: code %q, want UNAUTHENTICATED", code)
			}
		}
		apptest.MustOK(t, e.Do(pat.Header, apptest.MeQuery, nil)) // personal tokens stay by default
		e.Login("rita", newPassword)
		notice := waitMail(t, srv, addr, before+2)
		if !strings.Contains(notice.Header("Subject"), "password was changed") {
			t.Errorf("second mail %q, want the password-changed notice", notice.Header("Subject"))
		}

		// A second reset through the 8-character code (typed in lower case
		// with a hyphen), revoking the personal tokens this time.
		apptest.MustOK(t, e.Do("", requestResetMut, map[string]any{"e": addr}))
		m2 := waitMail(t, srv, addr, before+3)
		typed := strings.ToLower(m2.Code()[:4] + "-" + m2.Code()[4:])
		apptest.MustOK(t, e.Do("", resetMut, map[string]any{"t": typed, "p": apptest.Password, "r": true}))
		apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": m2.Code(), "p": newPassword}), "BAD_USER_INPUT", "reset_token_invalid")
		apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": m2.Token(), "p": newPassword}), "BAD_USER_INPUT", "reset_token_invalid")
		if code, _ := e.Do(pat.Header, apptest.MeQuery, nil).Code(); code != "UNAUTHENTICATED" {
			t.Errorf("personal token after revokePersonalTokens: code %q, want UNAUTHENTICATED", code)
		}
		e.Login("rita", apptest.Password)
		wantAudit(t, e, u.ID, models.AuditPasswordReset, 2) // the refused and reused tokens store none
	}, apptest.WithSMTP(srv.URL()))
}

// wantAudit fails unless the audit log holds n events of typ about userID.
func wantAudit(t *testing.T, e *apptest.Env, userID string, typ models.AuditType, n int) {
	t.Helper()
	got := 0
	for _, ev := range e.AuditEvents(t) {
		if ev.Type == typ && apptest.Str(ev.UserID) == userID {
			got++
		}
	}
	if got != n {
		t.Errorf("%d %s events for %s, want %d", got, typ, userID, n)
	}
}

// TestResetTokenRules: expired tokens have their own reason; garbage and
// unknown tokens are invalid; an older link still works after a newer one
// was asked for (mails arrive out of order), and a reset uses up both.
func TestResetTokenRules(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		u := e.CreateUser("otto", apptest.Password, models.RoleUser)
		ask := func() string {
			e.Clock.Advance(time.Second) // the mailbox lists newest first
			apptest.MustOK(t, e.Do("", requestResetMut, map[string]any{"e": *u.Email}))
			return tokenOf(t, e.DevMails()[0].Link)
		}
		first, second := ask(), ask()
		for _, bad := range []string{"", "x", strings.Repeat("A", 43), "ZZZZZZZZ", apptest.OtherToken(first), strings.Repeat("é", 500)} {
			apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": bad, "p": newPassword}), "BAD_USER_INPUT", "reset_token_invalid")
		}
		apptest.MustOK(t, e.Do("", resetMut, map[string]any{"t": first, "p": newPassword}))
		apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": second, "p": newPassword}), "BAD_USER_INPUT", "reset_token_invalid")

		third := ask()
		e.Clock.Advance(e.App.Config.ResetTTL)
		apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": third, "p": newPassword}), "BAD_USER_INPUT", "reset_token_expired")
	})
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "#token=")
	if !ok || len(tok) != 43 {
		t.Fatalf("link %q has no token", link)
	}
	return tok
}

// TestResetEndsSessionsOnBothReplicas: a reset through one replica ends the
// sessions another replica had cached, as logout does.
func TestResetEndsSessionsOnBothReplicas(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, b := apptest.Pair(t, kind)
			u := a.CreateUser("pia", apptest.Password, models.RoleUser)
			pa, pb := a.Login("pia", apptest.Password), b.Login("pia", apptest.Password)
			for _, e := range []*apptest.Env{a, b} {
				for _, p := range []apptest.Payload{pa, pb} {
					apptest.MustOK(t, e.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil)) // cached everywhere
				}
			}
			apptest.MustOK(t, a.Do("", requestResetMut, map[string]any{"e": *u.Email}))
			tok := tokenOf(t, b.DevMails()[0].Link) // the outbox is shared: b lists a's mail
			apptest.MustOK(t, a.Do("", resetMut, map[string]any{"t": tok, "p": newPassword}))
			for _, p := range []apptest.Payload{pa, pb} {
				apptest.WantError(t, a.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil), "UNAUTHENTICATED", "session_revoked")
				apptest.Eventually(t, "replica b refuses the token", func() bool {
					_, reason := b.Do(apptest.Bearer(p.AccessToken), apptest.MeQuery, nil).Code()
					return reason == "session_revoked"
				})
				if code, _ := b.Refresh(p.RefreshToken).Code(); code != "UNAUTHENTICATED" {
					t.Errorf("refresh on b after reset: code %q", code)
				}
			}
		})
	}
}

// TestResetRequestReveals nothing: for a known and an unknown address the
// answer is the same body after the same statements, and the limit per
// address bites both alike, with retryAfter.
func TestResetRequestRevealsNothing(t *testing.T) {
	srv := mailtest.Start(t)
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.CreateUser("kim", apptest.Password, models.RoleUser)
		n := apptest.CountStatements(t, e.App.Store)
		ask := func(addr string) (apptest.Response, int64) {
			before := n.Load()
			r := e.Send(apptest.Request{Query: requestResetMut, Vars: map[string]any{"e": addr}, RemoteAddr: "198.51.100.7:1"})
			return r, n.Load() - before
		}
		known, kn := ask("kim@example.com")
		unknown, un := ask("nobody@example.com")
		apptest.MustOK(t, known)
		if known.Body != unknown.Body || kn != un {
			t.Fatalf("known: %d statements, %s\nunknown: %d statements, %s", kn, known.Body, un, unknown.Body)
		}
		limit := e.App.Config.LoginPerUser.Max
		for _, addr := range []string{"kim@example.com", "nobody@example.com"} {
			var last apptest.Response
			for range limit {
				last, _ = ask(addr)
			}
			apptest.WantError(t, last, "TOO_MANY_REQUESTS", "")
			if ra, ok := last.Errors[0].Extensions["retryAfter"].(float64); !ok || ra < 1 {
				t.Errorf("%s: no retryAfter in %s", addr, last.Body)
			}
		}
	}, apptest.WithSMTP(srv.URL()))
}

// BenchmarkRequestPasswordReset measures a reset request for a known and
// an unknown address on one server; their ratio (see BENCHMARKS.md) is the
// timing side channel, which must stay near 1.
func BenchmarkRequestPasswordReset(b *testing.B) {
	srv := mailtest.Start(b)
	e := apptest.Open(b, "sqlite", apptest.WithSMTP(srv.URL()), func(c *app.Config) {
		c.LoginPerUser.Max, c.LoginPerIP.Max = 1000, 1_000_000
		c.LoginPerUser.Window, c.LoginPerIP.Window = time.Nanosecond*1000, time.Nanosecond*1000
	})
	e.CreateUser("bench", apptest.Password, models.RoleUser)
	for _, bc := range []struct{ name, addr string }{{"known", "bench@example.com"}, {"unknown", "nobody@example.com"}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				r := e.Do("", requestResetMut, map[string]any{"e": bc.addr})
				if len(r.Errors) > 0 {
					b.Fatal(r.Body)
				}
			}
		})
	}
}

// TestMailSurvivesSMTPOutage: with the SMTP server down the request still
// succeeds; the mail is retried, and delivered once after the server comes
// back, although two replicas run workers.
func TestMailSurvivesSMTPOutage(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			srv := mailtest.Start(t)
			srv.Stop()
			a, b := apptest.Pair(t, kind, apptest.WithSMTP(srv.URL()))
			u := a.CreateUser("olga", apptest.Password, models.RoleUser)
			wa, wb := a.StartMail(), b.StartMail()
			apptest.MustOK(t, a.Do("", requestResetMut, map[string]any{"e": *u.Email}))
			apptest.Eventually(t, "a failed attempt", func() bool { return wa.Failures()+wb.Failures() >= 1 })
			if depth, err := wa.Depth(context.Background()); err != nil || depth != 1 {
				t.Fatalf("outbox depth %d, %v; want 1 waiting", depth, err)
			}
			srv.Restart()
			a.Clock.Advance(time.Hour - time.Minute) // past any backoff, within MAIL_MAX_AGE
			wa.Wake()
			wb.Wake()
			waitMail(t, srv, *u.Email, 1)
			apptest.Eventually(t, "the outbox drained", func() bool {
				d, _ := wa.Depth(context.Background())
				return d == 0
			})
			// Both workers go round again; nothing is sent twice.
			for _, w := range []interface {
				RunOnce(context.Context) (int, error)
			}{wa, wb} {
				if _, err := w.RunOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(srv.Messages()); got != 1 || wa.Sent()+wb.Sent() != 1 {
				t.Fatalf("%d messages delivered (%d+%d sent), want exactly 1", got, wa.Sent(), wb.Sent())
			}
		})
	}
}

// TestOutboxExactlyOnce: two replicas' workers claim one backlog at the
// same time; every message is delivered exactly once.
func TestOutboxExactlyOnce(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			srv := mailtest.Start(t)
			a, b := apptest.Pair(t, kind, apptest.WithSMTP(srv.URL()))
			const users = 30
			for i := range users {
				u := a.CreateUser(fmt.Sprintf("mass%02d", i), apptest.Password, models.RoleUser)
				apptest.MustOK(t, a.Send(apptest.Request{Query: requestResetMut, Vars: map[string]any{"e": *u.Email}, RemoteAddr: fmt.Sprintf("203.0.113.%d:1", i)}))
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, w := range []*apptest.Env{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range 10 {
						if _, err := w.App.Mail.Worker.RunOnce(context.Background()); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			close(start)
			wg.Wait()
			got := map[string]int{}
			for _, m := range srv.Messages() {
				got[m.To[0]]++
			}
			if len(got) != users {
				t.Fatalf("%d distinct recipients, want %d", len(got), users)
			}
			for to, n := range got {
				if n != 1 {
					t.Errorf("%s got %d mails, want 1", to, n)
				}
			}
			t.Logf("replica a sent %d, b sent %d", a.App.Mail.Worker.Sent(), b.App.Mail.Worker.Sent())
		})
	}
}

// TestMailGivenUpAfterMaxAge: a mail the SMTP server never took is given
// up after MAIL_MAX_AGE, logged and counted.
func TestMailGivenUpAfterMaxAge(t *testing.T) {
	srv := mailtest.Start(t)
	srv.Stop()
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		u := e.CreateUser("gus", apptest.Password, models.RoleUser)
		apptest.MustOK(t, e.Do("", requestResetMut, map[string]any{"e": *u.Email}))
		w := e.App.Mail.Worker
		if _, err := w.RunOnce(context.Background()); err != nil || w.Failures() != 1 {
			t.Fatalf("first attempt: failures %d, err %v", w.Failures(), err)
		}
		e.Clock.Advance(e.App.Config.MailMaxAge + time.Second)
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if w.GivenUp() != 1 || e.Logs.Count(t, "mail_given_up") != 1 {
			t.Fatalf("given up %d, logged %d; want 1", w.GivenUp(), e.Logs.Count(t, "mail_given_up"))
		}
		if d, _ := w.Depth(context.Background()); d != 0 {
			t.Fatalf("depth %d after giving up", d)
		}
		if strings.Contains(e.Logs.String(), "#token=") {
			t.Fatal("a token reached the log of a server with SMTP")
		}
	}, apptest.WithSMTP(srv.URL()))
}

// TestDevMailbox: without SMTP_URL in development every mail is one log
// line with its link and is listed by GET /dev/mail; production has no such
// route, and its mail features answer mail_disabled.
func TestDevMailbox(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		u := e.CreateUser("dora", apptest.Password, models.RoleUser)
		apptest.MustOK(t, e.Do("", requestResetMut, map[string]any{"e": *u.Email}))
		mails := e.DevMails()
		if len(mails) != 1 || mails[0].Kind != "reset" || mails[0].To != *u.Email || !strings.HasPrefix(mails[0].Link, "http://localhost:5173/reset-password#token=") {
			t.Fatalf("dev mailbox %+v", mails)
		}
		if n := e.Logs.Count(t, "mail_logged"); n != 1 || !strings.Contains(e.Logs.String(), mails[0].Link) {
			t.Fatalf("%d mail_logged lines; want one with the link", n)
		}
		req := httptest.NewRequest(http.MethodGet, app.DevMailPath, nil)
		if r := e.Serve(req); r.Status != http.StatusOK || !strings.Contains(r.Body, "reset-password#token=") {
			t.Fatalf("HTML mailbox: %d %s", r.Status, r.Body)
		}
	})
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		u := e.CreateUser("prod", apptest.Password, models.RoleUser)
		if r := e.Serve(httptest.NewRequest(http.MethodGet, app.DevMailPath, nil)); r.Status != http.StatusNotFound {
			t.Fatalf("production GET %s: %d, want 404", app.DevMailPath, r.Status)
		}
		apptest.WantError(t, e.Do("", requestResetMut, map[string]any{"e": *u.Email}), "FORBIDDEN", "mail_disabled")
		apptest.WantError(t, e.Do("", resetMut, map[string]any{"t": "ABCDEFGH", "p": newPassword}), "FORBIDDEN", "mail_disabled")
		apptest.WantError(t, e.Do("", verifyMut, map[string]any{"t": "ABCDEFGH"}), "FORBIDDEN", "mail_disabled")
		s := e.Session("prod2", models.RoleUser)
		apptest.WantError(t, e.Do(s.Header, `mutation { sendVerificationEmail }`, nil), "FORBIDDEN", "mail_disabled")
	}, func(c *app.Config) { c.Production = true })
}

// TestEmailVerification: register sends a verification mail; its code
// verifies once; emailVerified is visible to the user and admins only.
func TestEmailVerification(t *testing.T) {
	srv := mailtest.Start(t)
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		e.StartMail()
		before := len(mailTo(srv, "vera@example.com")) // the server outlives each subtest
		q, v := registerMut("vera", "vera@example.com")
		r := e.Do("", q, v)
		apptest.MustOK(t, r)
		var reg struct {
			AccessToken string
			User        struct {
				ID            string
				EmailVerified bool
			}
		}
		apptest.Into(t, r, "register", &reg)
		if reg.User.EmailVerified {
			t.Fatal("a new address is verified before any mail")
		}
		m := waitMail(t, srv, "vera@example.com", before+1)
		if !strings.HasPrefix(m.Link(), "https://app.example.com/verify-email#token=") {
			t.Fatalf("link %q", m.Link())
		}
		authz := apptest.Bearer(reg.AccessToken)
		apptest.MustOK(t, e.Do("", verifyMut, map[string]any{"t": m.Code()}))
		apptest.WantError(t, e.Do("", verifyMut, map[string]any{"t": m.Token()}), "BAD_USER_INPUT", "verification_token_invalid")
		if got := e.Do(authz, `{ me { emailVerified } }`, nil); !strings.Contains(got.Body, `"emailVerified":true`) {
			t.Fatalf("me after verifying: %s", got.Body)
		}
		// Verified: asking again sends nothing and answers true.
		apptest.MustOK(t, e.Do(authz, `mutation { sendVerificationEmail }`, nil))

		other := e.Session("oscar", models.RoleUser)
		admin := e.Session("adele", models.RoleAdmin)
		q2 := `query($id: ID!) { user(id: $id) { email emailVerified } }`
		apptest.WantError(t, e.Do(other.Header, q2, map[string]any{"id": reg.User.ID}), "FORBIDDEN", "")
		if got := e.Do(admin.Header, q2, map[string]any{"id": reg.User.ID}); !strings.Contains(got.Body, `"emailVerified":true`) {
			t.Fatalf("admin reads: %s", got.Body)
		}
		if n := len(mailTo(srv, "vera@example.com")) - before; n != 1 {
			t.Fatalf("%d mails to vera, want 1", n)
		}
	}, apptest.WithSMTP(srv.URL()))
}

// TestEmailVerificationRequired: login of an unverified account answers
// email_unverified only after a right password, and sends a fresh link;
// once verified, it logs in. With optional, unverified accounts log in.
func TestEmailVerificationRequired(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		q, v := registerMut("rosa", "rosa@example.com")
		apptest.MustOK(t, e.Do("", q, v))
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "rosa", "p": "wrong password!"}), "UNAUTHENTICATED", "invalid_credentials")
		apptest.WantError(t, e.Do("", apptest.LoginMutation, map[string]any{"u": "rosa", "p": apptest.Password}), "UNAUTHENTICATED", "email_unverified")
		mails := e.DevMails()
		if len(mails) != 2 || mails[0].Kind != "verify" {
			t.Fatalf("mails %+v, want the register mail and the resend", mails)
		}
		apptest.MustOK(t, e.Do("", verifyMut, map[string]any{"t": tokenOf(t, mails[0].Link)}))
		// The older link is still good (mails arrive out of order), but the
		// address is verified already: it is used up by nothing.
		e.Login("rosa", apptest.Password)
		// Accounts an admin made (createuser) are taken as verified.
		e.CreateUser("cli", apptest.Password, models.RoleUser)
		e.Login("cli", apptest.Password)
	}, func(c *app.Config) { c.RequireVerifiedEmail = true })
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		q, v := registerMut("opal", "opal@example.com")
		apptest.MustOK(t, e.Do("", q, v))
		e.Login("opal", apptest.Password)
	})
}

// TestEmailUniqueAndChange: an address belongs to one account in any
// letter case; a change is stored unverified, verified through the new
// address, and announced to the old one.
func TestEmailUniqueAndChange(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		q, v := registerMut("una", "una@example.com")
		apptest.MustOK(t, e.Do("", q, v))
		q, v = registerMut("una2", "UNA@Example.COM")
		apptest.WantField(t, e.Do("", q, v), "email")

		s := e.Session("carl", models.RoleUser)
		upd := `mutation($id: ID!, $e: String!) { updateProfile(id: $id, input: {email: $e}) { email emailVerified } }`
		apptest.WantField(t, e.Do(s.Header, upd, map[string]any{"id": s.User.ID, "e": "Una@example.com"}), "email")

		r := e.Do(s.Header, upd, map[string]any{"id": s.User.ID, "e": "carl.new@example.com"})
		apptest.MustOK(t, r)
		if !strings.Contains(r.Body, `"emailVerified":false`) {
			t.Fatalf("after the change: %s", r.Body)
		}
		byKind := map[string]apptest.DevMail{}
		for _, m := range e.DevMails() {
			if m.To == "carl.new@example.com" || m.To == "carl@example.com" {
				byKind[m.Kind] = m
			}
		}
		if len(byKind) != 2 || byKind["verify"].To != "carl.new@example.com" || byKind["email_changed"].To != "carl@example.com" {
			t.Fatalf("mails %+v: want a verification to the new address and a notice to the old", byKind)
		}
		apptest.MustOK(t, e.Do("", verifyMut, map[string]any{"t": tokenOf(t, byKind["verify"].Link)}))
		if got := e.Do(s.Header, apptest.MeQuery, nil); !strings.Contains(got.Body, "carl.new@example.com") {
			t.Fatalf("me: %s", got.Body)
		}
		// A change in letter case only keeps the address verified.
		r = e.Do(s.Header, upd, map[string]any{"id": s.User.ID, "e": "Carl.New@example.com"})
		if !strings.Contains(r.Body, `"emailVerified":true`) {
			t.Fatalf("case-only change: %s", r.Body)
		}
		// The audit log holds one EMAIL_CHANGED (not the refused change, not
		// the change in letter case) and one EMAIL_VERIFIED.
		wantAudit(t, e, s.User.ID, models.AuditEmailChanged, 1)
		wantAudit(t, e, s.User.ID, models.AuditEmailVerified, 1)
	})
}

// TestOneMailFieldPerOperation: aliases cannot multiply token guesses or
// reset mails.
func TestOneMailFieldPerOperation(t *testing.T) {
	apptest.ForEach(t, func(t *testing.T, e *apptest.Env) {
		for _, op := range []string{
			`mutation { a: requestPasswordReset(email: "a@example.com") b: requestPasswordReset(email: "b@example.com") }`,
			`mutation { a: resetPassword(token: "AAAAAAAA", newPassword: "x") b: resetPassword(token: "BBBBBBBB", newPassword: "x") }`,
			`mutation { a: verifyEmail(token: "AAAAAAAA") b: login(username: "u", password: "p") { accessToken } }`,
		} {
			apptest.WantError(t, e.Do("", op, nil), "BAD_USER_INPUT", "")
		}
		if len(e.DevMails()) != 0 {
			t.Fatal("a refused operation sent mail")
		}
	})
}
