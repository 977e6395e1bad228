package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers one message.
type Sender interface {
	Send(ctx context.Context, msg Message) error
}

// sendTimeout bounds one SMTP conversation.
const sendTimeout = 30 * time.Second

// SMTPSender sends through an SMTP server with go-mail.
type SMTPSender struct {
	s    *SMTP
	from string
	// TLS, when set, replaces the default TLS configuration (tests trust
	// their own certificate with it).
	TLS *tls.Config
}

// NewSMTPSender returns a sender to s, from the address from.
func NewSMTPSender(s *SMTP, from string) *SMTPSender { return &SMTPSender{s: s, from: from} }

// Send opens a connection, sends msg as text with an HTML alternative, and
// closes it. STARTTLS is mandatory unless the URL turned it off.
func (p *SMTPSender) Send(ctx context.Context, msg Message) error {
	m := gomail.NewMsg()
	if err := m.From(p.from); err != nil {
		return fmt.Errorf("MAIL_FROM: %w", err)
	}
	if err := m.To(msg.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	m.Subject(msg.Subject)
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)

	opts := []gomail.Option{gomail.WithTimeout(sendTimeout)}
	switch {
	case p.s.ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case p.s.StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	opts = append(opts, gomail.WithPort(p.s.Port)) // after WithSSL, which sets 465
	if p.TLS != nil {
		opts = append(opts, gomail.WithTLSConfig(p.TLS))
	}
	if p.s.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(p.s.Username), gomail.WithPassword(p.s.Password))
	}
	c, err := gomail.NewClient(p.s.Host, opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return c.DialAndSendWithContext(ctx, m)
}
