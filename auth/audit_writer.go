package auth

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// DefaultAuditBuffer is how many events an AuditWriter holds while they
// wait to be written.
const DefaultAuditBuffer = 4096

// auditWriteTimeout bounds one batch insert: a stalled database makes the
// writer drop, never wait without end.
const auditWriteTimeout = 5 * time.Second

// AuditWriter stores the audit events an attacker can produce at will —
// failed logins, rate-limit hits — off the request path: Add appends to a
// fixed buffer and returns at once, and a goroutine inserts the buffer in
// batches. When the buffer is full, Add drops the event and counts it
// (Dropped): a flood of failed logins costs a bounded amount of memory and
// never slows or blocks a login. Close writes what is left.
type AuditWriter struct {
	store *store.Store
	log   *slog.Logger
	size  int

	mu     sync.Mutex // guards buf and closed
	buf    []*models.AuditEvent
	closed bool

	wake    chan struct{} // capacity 1: an event is waiting
	stop    chan struct{}
	stopped chan struct{}

	// write is held for each batch taken and written, and by Hold.
	write sync.Mutex

	dropped atomic.Uint64 // refused because the buffer was full (or closed)
	failed  atomic.Uint64 // lost because their batch could not be written
	written atomic.Uint64
	// reported is the Dropped count last logged; w.write guards it.
	reported uint64
}

// NewAuditWriter returns a running AuditWriter holding at most size events
// (DefaultAuditBuffer when size <= 0). Close stops it.
func NewAuditWriter(st *store.Store, size int, log *slog.Logger) *AuditWriter {
	if size <= 0 {
		size = DefaultAuditBuffer
	}
	w := &AuditWriter{
		store: st, log: log.With("component", "audit"), size: size,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	go w.run()
	return w
}

// Add queues e for writing and reports whether it was accepted; a full
// buffer (or a closed writer) drops it and counts it in Dropped. It never
// blocks on the database.
func (w *AuditWriter) Add(e *models.AuditEvent) bool {
	w.mu.Lock()
	if w.closed || len(w.buf) >= w.size {
		w.mu.Unlock()
		w.dropped.Add(1)
		return false
	}
	w.buf = append(w.buf, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // already awake
	}
	return true
}

// Dropped returns how many events were refused because the buffer was full
// (or the writer closed) since it started.
func (w *AuditWriter) Dropped() uint64 { return w.dropped.Load() }

// Failed returns how many accepted events were lost because the database
// refused their batch.
func (w *AuditWriter) Failed() uint64 { return w.failed.Load() }

// Written returns how many events the writer has stored.
func (w *AuditWriter) Written() uint64 { return w.written.Load() }

// Pending returns how many events wait in the buffer.
func (w *AuditWriter) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// Hold stops the writer from taking events out of the buffer until release
// is called, as a stalled database would: events keep being accepted until
// the buffer is full, then dropped. It waits for a batch being written to
// finish. It is how the tests fill the buffer deterministically.
func (w *AuditWriter) Hold() (release func()) {
	w.write.Lock()
	var once sync.Once
	return func() { once.Do(w.write.Unlock) }
}

// Flush writes every event buffered now, and returns when they are stored
// (or their batch failed), or ctx ended.
func (w *AuditWriter) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.write.Lock()
		defer w.write.Unlock()
		w.writeBatch()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting events, writes those buffered and stops the
// writer; it returns early if ctx ends first. Closing twice is harmless.
func (w *AuditWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		close(w.stop)
	}
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes batches as events arrive, until Close.
func (w *AuditWriter) run() {
	defer close(w.stopped)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			w.write.Lock()
			w.writeBatch()
			w.write.Unlock()
			return
		}
		w.write.Lock()
		w.writeBatch()
		w.write.Unlock()
	}
}

// writeBatch takes everything buffered and inserts it; w.write is held.
func (w *AuditWriter) writeBatch() {
	w.mu.Lock()
	batch := w.buf
	if len(batch) > 0 {
		w.buf = nil // grows again up to size
	}
	w.mu.Unlock()
	if d := w.dropped.Load(); d != w.reported {
		// Once per batch, not once per event: a flood must not flood the log.
		w.log.Warn("audit buffer full: events dropped", "dropped_total", d, "dropped", d-w.reported)
		w.reported = d
	}
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
	defer cancel()
	if err := w.store.RecordAudit(ctx, batch); err != nil {
		w.failed.Add(uint64(len(batch)))
		w.log.Error("audit events lost: could not write them", "events", len(batch), "err", err)
		return
	}
	w.written.Add(uint64(len(batch)))
}
