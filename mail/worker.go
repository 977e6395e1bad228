package mail

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Worker settings.
const (
	// DefaultPollInterval is how often a worker looks for due messages
	// when nothing woke it: the longest a message queued on another
	// replica waits, or a retry waits past its time.
	DefaultPollInterval = 2 * time.Second
	// claimLease is how long a claimed message is this worker's: longer
	// than a send may take (sendTimeout), so no other worker sends it
	// meanwhile; a worker that dies mid-send leaves it to another after.
	claimLease = 2 * time.Minute
	claimBatch = 20
	// Retry backoff: 15 s doubling to at most 10 min, with jitter.
	firstRetry = 15 * time.Second
	maxRetry   = 10 * time.Minute
)

// Worker sends the outbox: each replica runs one. Claims are exclusive
// (FOR UPDATE SKIP LOCKED on Postgres), so a message is sent once however
// many replicas run; a failed send is retried with backoff until the
// message is MAIL_MAX_AGE old, then given up and logged.
type Worker struct {
	store  *store.Store
	sender Sender
	m      *Mailer
	log    *slog.Logger
	now    func() time.Time
	maxAge time.Duration
	// PollInterval may be changed before Run (tests shorten it).
	PollInterval time.Duration

	wake     chan struct{}
	sent     atomic.Int64
	failures atomic.Int64
	givenUp  atomic.Int64
}

// NewWorker returns a worker sending through sender.
func NewWorker(st *store.Store, sender Sender, m *Mailer, log *slog.Logger, now func() time.Time, maxAge time.Duration) *Worker {
	return &Worker{store: st, sender: sender, m: m, log: log, now: now, maxAge: maxAge,
		PollInterval: DefaultPollInterval, wake: make(chan struct{}, 1)}
}

// SetSender replaces the sender (before Run).
func (w *Worker) SetSender(s Sender) { w.sender = s }

// Wake makes the worker look for due messages now, without waiting for
// its poll.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends due messages until ctx ends. A send in progress when ctx ends
// finishes (bounded by the SMTP timeout) and its outcome is recorded, so
// stopping never loses nor doubles a message.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
		for {
			n, err := w.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "mail worker: outbox unavailable", "event", "mail_outbox_error", "err", err)
			}
			if n < claimBatch || err != nil || ctx.Err() != nil {
				break
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(w.PollInterval/2 + rand.N(w.PollInterval))
	}
}

// RunOnce gives up on messages past MAIL_MAX_AGE, claims a batch of due
// messages and sends them; it returns how many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	now := w.now()
	dead, err := w.store.GiveUpOutbox(ctx, now.Add(-w.maxAge), now)
	if err != nil {
		return 0, err
	}
	for _, r := range dead {
		w.givenUp.Add(1)
		w.log.ErrorContext(ctx, "mail given up: not delivered within MAIL_MAX_AGE", "event", "mail_given_up",
			"mail_id", r.ID, "kind", r.Kind, "user_id", deref(r.UserID), "attempts", r.Attempts, "last_error", r.LastError,
			"max_age", w.maxAge.String())
	}
	rows, err := w.store.ClaimOutbox(ctx, now, claimLease, claimBatch)
	if err != nil {
		return 0, err
	}
	for i := range rows {
		w.deliver(ctx, &rows[i])
	}
	return len(rows), nil
}

// deliver sends one claimed message and records the outcome. The send and
// its record outlive ctx: a message handed to the server must be marked.
func (w *Worker) deliver(ctx context.Context, row *models.OutboxMail) {
	ctx = context.WithoutCancel(ctx)
	msg, err := w.m.Open(row)
	if err == nil {
		err = w.sender.Send(ctx, msg)
	}
	now := w.now()
	if err == nil {
		w.sent.Add(1)
		if err := w.store.MarkOutboxSent(ctx, row.ID, now); err != nil {
			w.log.ErrorContext(ctx, "mail sent but not marked; it may be sent again", "event", "mail_mark_failed", "mail_id", row.ID, "err", err)
		}
		w.log.InfoContext(ctx, "mail sent", "event", "mail_sent", "mail_id", row.ID, "kind", row.Kind,
			"user_id", deref(row.UserID), "attempts", row.Attempts)
		return
	}
	w.failures.Add(1)
	why := describe(err)
	next := now.Add(backoff(row.Attempts))
	w.log.WarnContext(ctx, "mail not sent; will retry", "event", "mail_retry", "mail_id", row.ID, "kind", row.Kind,
		"attempts", row.Attempts, "retry_at", next, "err", why)
	if err := w.store.RetryOutbox(ctx, row.ID, next, why); err != nil {
		w.log.ErrorContext(ctx, "mail retry not recorded; it is retried when its claim lapses", "event", "mail_mark_failed", "mail_id", row.ID, "err", err)
	}
}

// backoff is the wait after the attempts-th failed attempt.
func backoff(attempts int) time.Duration {
	d := firstRetry
	for i := 1; i < attempts && d < maxRetry; i++ {
		d *= 2
	}
	d = min(d, maxRetry)
	return d - d/5 + rand.N(d/5+1) // up to 20% earlier, so replicas spread
}

// describe is a short, secret-free account of a send error.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout: " + err.Error()
	}
	return err.Error()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Depth counts the messages waiting to be sent (neither sent nor given
// up), for a metrics gauge: one indexed count.
func (w *Worker) Depth(ctx context.Context) (int64, error) { return w.store.OutboxDepth(ctx) }

// Sent counts the messages this worker sent since it started.
func (w *Worker) Sent() int64 { return w.sent.Load() }

// Failures counts this worker's failed send attempts since it started.
func (w *Worker) Failures() int64 { return w.failures.Load() }

// GivenUp counts the messages this worker gave up on (MAIL_MAX_AGE).
func (w *Worker) GivenUp() int64 { return w.givenUp.Load() }
