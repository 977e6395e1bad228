package mail

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Config is what the mail features read from the configuration.
type Config struct {
	SMTP         *SMTP // nil: no SMTP server (SMTP_URL unset)
	From         string
	AppURL       string // the SPA's base URL, without a trailing slash
	AppName      string
	TemplatesDir string
	MaxAge       time.Duration // MAIL_MAX_AGE: give up on a message this old
	Production   bool
	// Secret is the JWT secret; the outbox sealing key is derived from it.
	Secret []byte
}

// ErrDisabled answers the mail features in production without SMTP_URL.
var ErrDisabled = &models.Error{Code: models.CodeForbidden, Reason: models.ReasonMailDisabled,
	Message: "mail is not configured on this server (SMTP_URL), so this feature is off"}

// Mailer composes messages into outbox rows and hands them to the worker.
// Without an SMTP server in development, a message is "delivered" to the
// log (one line with its link) and stays in the outbox for GET /dev/mail.
type Mailer struct {
	cfg    Config
	tpl    *Templates
	aead   cipher.AEAD
	log    *slog.Logger
	Worker *Worker // nil without an SMTP server
}

// New loads the templates and builds a Mailer; with cfg.SMTP set, its
// worker (not yet running: see Worker.Run).
func New(cfg Config, st *store.Store, log *slog.Logger, now func() time.Time) (*Mailer, error) {
	tpl, err := LoadTemplates(cfg.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
	}
	key, err := hkdf.Key(sha256.New, cfg.Secret, nil, "ironclad mail outbox v1", 32)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	cfg.AppURL = strings.TrimRight(cfg.AppURL, "/")
	log = log.With("component", "mail")
	m := &Mailer{cfg: cfg, tpl: tpl, aead: aead, log: log}
	if cfg.SMTP != nil {
		m.Worker = NewWorker(st, NewSMTPSender(cfg.SMTP, cfg.From), m, log, now, cfg.MaxAge)
	}
	return m, nil
}

// Enabled reports whether mail can be sent: an SMTP server is configured,
// or this is not production (the development mailbox).
func (m *Mailer) Enabled() bool { return m.cfg.SMTP != nil || !m.cfg.Production }

// Mailbox reports whether messages go to the log and the development
// mailbox instead of an SMTP server.
func (m *Mailer) Mailbox() bool { return m.cfg.SMTP == nil && !m.cfg.Production }

// AppName is the product name the messages use.
func (m *Mailer) AppName() string { return m.cfg.AppName }

// Link is the SPA page path with token in the fragment: a fragment never
// reaches a server log or a Referer header.
func (m *Mailer) Link(path, token string) string { return m.cfg.AppURL + path + "#token=" + token }

// Compose renders a message of kind to the address to and seals it into
// an outbox row. In the development mailbox, the row is born sent (at now).
func (m *Mailer) Compose(kind, to string, d Data, now time.Time) (*models.OutboxMail, Message, error) {
	d.AppName = m.cfg.AppName
	msg, err := m.tpl.Render(kind, to, d)
	if err != nil {
		return nil, Message{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	row := &models.OutboxMail{ID: uuid.NewString(), Kind: kind}
	plain, err := json.Marshal(msg)
	if err != nil {
		return nil, Message{}, err
	}
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(plain)+m.aead.Overhead())
	_, _ = rand.Read(nonce)
	// Bound to the row id: a sealed message cannot be moved to another row.
	row.Sealed = m.aead.Seal(nonce, nonce, plain, []byte(row.ID))
	if m.Mailbox() {
		row.SentAt = &now
	}
	return row, msg, nil
}

// Open decrypts the message of an outbox row.
func (m *Mailer) Open(row *models.OutboxMail) (Message, error) {
	n := m.aead.NonceSize()
	if len(row.Sealed) < n+m.aead.Overhead() {
		return Message{}, errors.New("mail: sealed message too short")
	}
	plain, err := m.aead.Open(nil, row.Sealed[:n], row.Sealed[n:], []byte(row.ID))
	if err != nil {
		return Message{}, fmt.Errorf("mail: open message %s: %w", row.ID, err)
	}
	var msg Message
	if err := json.Unmarshal(plain, &msg); err != nil {
		return Message{}, err
	}
	return msg, nil
}

// Queued is called once the rows of msgs committed: in the development
// mailbox it logs each message as one line with its link; otherwise it
// wakes this replica's worker.
func (m *Mailer) Queued(ctx context.Context, msgs ...Message) {
	if m.Mailbox() {
		for _, msg := range msgs {
			m.log.InfoContext(ctx, "mail (development: not sent, see /dev/mail)", "event", "mail_logged",
				"kind", msg.Kind, "to", msg.To, "subject", msg.Subject, "link", msg.Link)
		}
		return
	}
	if m.Worker != nil {
		m.Worker.Wake()
	}
}

// Describe is the startup line about mail.
func (m *Mailer) Describe(log *slog.Logger) {
	switch {
	case m.cfg.SMTP != nil:
		log.Info("mail: sending through SMTP", "smtp", m.cfg.SMTP.String(), "from", m.cfg.From, "app_url", m.cfg.AppURL)
	case m.cfg.Production:
		log.Warn("mail: SMTP_URL is not set: password reset and email verification are off (they answer FORBIDDEN, reason mail_disabled)")
	default:
		log.Info("mail: SMTP_URL is not set: development mail goes to the log and to GET /dev/mail")
	}
}
