package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Reconnection backoff of the notification channels.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// DefaultHeartbeatInterval is how often a Postgres replica sends a heartbeat
// through its own notification channel. A LISTEN connection can stay open
// and stop delivering (a frozen backend, a half-open TCP path): a replica
// that hears no heartbeat for two intervals treats the channel as dropped —
// it flushes its cache, entries live at most their TTL — and reconnects.
const DefaultHeartbeatInterval = 2 * time.Second

// heartbeatPrefix starts a heartbeat payload; decodeChange ignores it.
const heartbeatPrefix = "hb:"

// ErrChannelSilent is the cause of an EventDisconnected when the LISTEN
// connection stayed open but delivered no heartbeat for two intervals.
var ErrChannelSilent = errors.New("no heartbeat heard for two intervals")

// Redis publishing is never on a request's path: committed changes queue
// here and one worker publishes them. A full queue drops the change (other
// replicas still hear it through Postgres, or drop the entry within the
// TTL), so a hung Redis costs memory bounded by the queue, never latency.
const (
	publishQueueSize = 1024
	publishTimeout   = 2 * time.Second
)

// notifier carries identity Changes between replicas: it listens on
// Postgres (LISTEN on a dedicated connection) and, when configured, on Redis
// pub/sub, and applies what it hears to the cache. Whenever a channel
// connects or drops it flushes the whole cache, since changes may have gone
// unheard; between a drop and the reconnection, entries live at most their
// TTL.
type notifier struct {
	cache  *identityCache
	log    *slog.Logger
	redis  *redis.Client // nil without REDIS_URL
	pubsub *redis.PubSub // the subscription, when redis is set
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pending   sync.WaitGroup // channels not yet connected once
	connected chan struct{}  // closed once every channel has connected once

	beat     func(ctx context.Context, payload string) error // sends a heartbeat NOTIFY; nil without Postgres
	interval time.Duration
	beatID   string // this notifier's heartbeat payload suffix

	// states of the channels, for metrics: Postgres first when both.
	states []*channelState

	queue     chan outgoing // waiting to be published on Redis
	inFlight  atomic.Int64  // taken from queue and not yet published
	published atomic.Int64  // changes published on Redis
	discarded atomic.Int64  // changes dropped because the queue was full

	// syncs are the barriers of Sync waiting to be heard, by payload.
	syncs sync.Map // string -> chan struct{}
}

// startNotifier starts the listeners of a Store: Postgres when pgDSN is not
// empty (with heartbeats sent by beat every interval), Redis when rdb is not
// nil (with its publishing worker).
func startNotifier(cache *identityCache, log *slog.Logger, pgDSN string, rdb *redis.Client, beat func(context.Context, string) error, interval time.Duration) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	if interval <= 0 {
		interval = DefaultHeartbeatInterval
	}
	n := &notifier{cache: cache, log: log, redis: rdb, cancel: cancel, connected: make(chan struct{}),
		beat: beat, interval: interval, beatID: randomID()}
	if pgDSN != "" {
		n.states = append(n.states, &channelState{source: SourcePostgres})
	}
	if rdb != nil {
		n.states = append(n.states, &channelState{source: SourceRedis})
	}
	if pgDSN != "" {
		n.pending.Add(1)
		n.wg.Go(func() { n.listenPostgres(ctx, pgDSN, sync.OnceFunc(n.pending.Done)) })
	}
	if rdb != nil {
		n.queue = make(chan outgoing, publishQueueSize)
		n.wg.Go(func() { n.publishLoop(ctx) })
		n.pubsub = rdb.Subscribe(ctx, notifyChannel)
		n.pending.Add(1)
		n.wg.Go(func() { n.listenRedis(ctx, sync.OnceFunc(n.pending.Done)) })
	}
	go func() { n.pending.Wait(); close(n.connected) }()
	return n
}

// close stops the listeners and waits for them.
func (n *notifier) close() {
	n.cancel()
	if n.pubsub != nil {
		// Receive does not watch its context; closing unblocks it.
		_ = n.pubsub.Close()
	}
	n.wg.Wait()
	if n.redis != nil {
		_ = n.redis.Close()
	}
}

// publish queues committed changes for Redis and returns at once. Postgres
// needs nothing here: changed queued its NOTIFY inside the transaction.
func (n *notifier) publish(ctx context.Context, changes []Change) {
	if n.queue == nil {
		return
	}
	for _, c := range changes {
		select {
		case n.queue <- outgoing{change: c}:
		default:
			// Rate of the warning: once per full queue's worth of drops.
			if n.discarded.Add(1)%publishQueueSize == 1 {
				n.log.WarnContext(ctx, "redis publish queue full; dropping identity changes (other replicas fall back to the TTL)", "dropped", n.discarded.Load())
			}
		}
	}
}

// publishLoop publishes queued changes until ctx ends.
func (n *notifier) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-n.queue:
			n.inFlight.Add(1)
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			err := n.redis.Publish(pctx, notifyChannel, o.payload()).Err()
			cancel()
			n.inFlight.Add(-1)
			if err != nil {
				if ctx.Err() == nil {
					// Other replicas drop the entry within their TTL anyway.
					n.log.Warn("publish identity change on redis failed", "err", err)
				}
				continue
			}
			if o.barrier == "" {
				n.published.Add(1)
			}
		}
	}
}

// pendingPublishes counts changes queued or being published on Redis.
func (n *notifier) pendingPublishes() int {
	if n.queue == nil {
		return 0
	}
	return len(n.queue) + int(n.inFlight.Load())
}

// listenPostgres keeps a LISTEN connection open until ctx ends.
func (n *notifier) listenPostgres(ctx context.Context, dsn string, first func()) {
	backoff := minBackoff
	for {
		err := n.listenPostgresOnce(ctx, dsn, func() { backoff = minBackoff; first() })
		if ctx.Err() != nil {
			return
		}
		n.dropped(SourcePostgres, err)
		if !sleep(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenPostgresOnce connects, listens and applies notifications until the
// connection fails, stops delivering heartbeats, or ctx ends.
func (n *notifier) listenPostgresOnce(ctx context.Context, dsn string, connected func()) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	n.listening(SourcePostgres, conn.PgConn().PID())
	connected()
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	heard := make(chan struct{}, 1)
	if n.beat != nil {
		go n.watch(connCtx, cancel, heard)
	}
	for {
		msg, err := conn.WaitForNotification(connCtx)
		if err != nil {
			if cause := context.Cause(connCtx); errors.Is(cause, ErrChannelSilent) {
				return ErrChannelSilent
			}
			return err
		}
		if strings.HasPrefix(msg.Payload, heartbeatPrefix) {
			select {
			case heard <- struct{}{}:
			default:
			}
			n.synced(msg.Payload)
			continue
		}
		if c, ok := decodeChange(msg.Payload); ok {
			n.cache.invalidate(c, SourcePostgres)
		}
	}
}

// watch sends a heartbeat every interval through the database pool and
// ends the connection (cause ErrChannelSilent) when two in a row went unheard.
func (n *notifier) watch(ctx context.Context, stop context.CancelCauseFunc, heard <-chan struct{}) {
	t := time.NewTicker(n.interval)
	defer t.Stop()
	sent, missed, got := false, 0, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-heard:
			got = true
			continue
		case <-t.C:
		}
		if sent && !got {
			if missed++; missed >= 2 {
				stop(ErrChannelSilent)
				return
			}
		} else {
			missed = 0
		}
		got = false
		bctx, cancel := context.WithTimeout(ctx, n.interval)
		// A failed send counts as a miss next tick: the database that
		// carries the channel is not answering either.
		_ = n.beat(bctx, heartbeatPrefix+n.beatID)
		cancel()
		sent = true
	}
}

// listenRedis keeps a subscription open until ctx ends. go-redis reconnects
// and resubscribes by itself; each (re)subscription flushes the cache.
func (n *notifier) listenRedis(ctx context.Context, first func()) {
	ps := n.pubsub
	backoff := minBackoff
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			n.dropped(SourceRedis, err)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				backoff = minBackoff
				n.listening(SourceRedis, 0)
				first()
			}
		case *redis.Message:
			if strings.HasPrefix(m.Payload, heartbeatPrefix) {
				n.synced(m.Payload)
				continue
			}
			if c, ok := decodeChange(m.Payload); ok {
				n.cache.invalidate(c, SourceRedis)
			}
		}
	}
}

// Sync returns once every channel of this Store has delivered, and the
// cache has applied, each change this Store committed before the call: it
// sends a barrier through each channel (Postgres and Redis deliver in
// order) and waits to hear it back. Without a channel it returns at once.
// Tests use it so that a late notification of an earlier change cannot
// drop an entry in the middle of what they check.
func (s *Store) Sync(ctx context.Context) error {
	if s.notify == nil {
		return nil
	}
	return s.notify.sync(ctx)
}

func (n *notifier) sync(ctx context.Context) error {
	select { // a barrier sent before the first connection is never heard
	case <-n.connected:
	case <-ctx.Done():
		return ctx.Err()
	}
	var waits []chan struct{}
	barrier := func() string {
		payload := heartbeatPrefix + "sync:" + randomID()
		done := make(chan struct{})
		n.syncs.Store(payload, done)
		waits = append(waits, done)
		return payload
	}
	var pg, rd string
	defer func() { // heard barriers are gone already (synced)
		n.syncs.Delete(pg)
		n.syncs.Delete(rd)
	}()
	if n.beat != nil {
		pg = barrier()
		if err := n.beat(ctx, pg); err != nil {
			return err
		}
	}
	if n.queue != nil {
		rd = barrier()
		select {
		case n.queue <- outgoing{barrier: rd}: // behind every change queued before it
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// outgoing is what the Redis publisher sends: a committed change, or a
// barrier of Sync (a heartbeat-prefixed payload every replica ignores).
type outgoing struct {
	change  Change
	barrier string
}

func (o outgoing) payload() string {
	if o.barrier != "" {
		return o.barrier
	}
	return o.change.encode()
}

// randomID returns 64 random bits in hex.
func randomID() string {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return hex.EncodeToString(id)
}

// synced releases the Sync waiting for payload, if any.
func (n *notifier) synced(payload string) {
	if w, ok := n.syncs.LoadAndDelete(payload); ok {
		close(w.(chan struct{}))
	}
}

// listening flushes the cache once a channel is (re)connected: changes made
// while it was down were never heard.
func (n *notifier) listening(source string, pid uint32) {
	if st := n.state(source); st != nil {
		if st.connected.Swap(true) {
			st.reconnects.Add(1)
		}
		st.up.Store(true)
	}
	n.log.Info("identity notification channel listening", "source", source)
	n.cache.flush(source)
	n.cache.emit(IdentityEvent{Kind: EventListening, Source: source, PID: pid})
}

// dropped flushes the cache when a channel fails; until it reconnects,
// entries live at most their TTL.
func (n *notifier) dropped(source string, err error) {
	if st := n.state(source); st != nil {
		st.up.Store(false)
	}
	n.log.Warn("identity notification channel dropped; reconnecting", "source", source, "err", err)
	n.cache.flush(source)
	n.cache.emit(IdentityEvent{Kind: EventDisconnected, Source: source, Err: err})
}

// channelState is what metrics see of one notification channel.
type channelState struct {
	source     string
	up         atomic.Bool   // connected and listening now
	connected  atomic.Bool   // connected at least once
	reconnects atomic.Uint64 // connections after the first
}

func (n *notifier) state(source string) *channelState {
	for _, st := range n.states {
		if st.source == source {
			return st
		}
	}
	return nil
}

// ChannelState is the state of one identity notification channel.
type ChannelState struct {
	Source     string // SourcePostgres or SourceRedis
	Up         bool   // connected and listening now
	Reconnects uint64 // connections made after the first one
}

// ChannelStates returns the state of each notification channel of this
// Store: none on SQLite without Redis or without an identity cache.
func (s *Store) ChannelStates() []ChannelState {
	if s.notify == nil {
		return nil
	}
	out := make([]ChannelState, len(s.notify.states))
	for i, st := range s.notify.states {
		out[i] = ChannelState{Source: st.source, Up: st.up.Load(), Reconnects: st.reconnects.Load()}
	}
	return out
}

// ChannelSources returns the sources ChannelStates reports, in its order.
func (s *Store) ChannelSources() []string {
	var out []string
	for _, st := range s.ChannelStates() {
		out = append(out, st.Source)
	}
	return out
}

// jitter spreads reconnections of many replicas: d ± 25 %.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + mathrand.N(d/2+1)
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// PendingPublishes counts identity changes committed by this Store that are
// queued, or being published, on Redis: never waited for by a request.
func (s *Store) PendingPublishes() int {
	if s.notify == nil {
		return 0
	}
	return s.notify.pendingPublishes()
}
