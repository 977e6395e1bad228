package store

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Reconnection backoff of the notification channels.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
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
}

// startNotifier starts the listeners of a Store: Postgres when pgDSN is not
// empty, Redis when rdb is not nil.
func startNotifier(cache *identityCache, log *slog.Logger, pgDSN string, rdb *redis.Client) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{cache: cache, log: log, redis: rdb, cancel: cancel, connected: make(chan struct{})}
	if pgDSN != "" {
		n.pending.Add(1)
		n.wg.Go(func() { n.listenPostgres(ctx, pgDSN, sync.OnceFunc(n.pending.Done)) })
	}
	if rdb != nil {
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

// publish sends committed changes on Redis. Postgres needs nothing here:
// changed queued its NOTIFY inside the transaction.
func (n *notifier) publish(ctx context.Context, changes []Change) {
	if n.redis == nil || len(changes) == 0 {
		return
	}
	// The change is committed: publish it even if the request that made it
	// is gone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, c := range changes {
		if err := n.redis.Publish(ctx, notifyChannel, c.encode()).Err(); err != nil {
			// Other replicas drop the entry within their TTL anyway.
			n.log.WarnContext(ctx, "publish identity change on redis failed", "err", err)
			return
		}
	}
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
// connection fails or ctx ends.
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
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if c, ok := decodeChange(msg.Payload); ok {
			n.cache.invalidate(c, SourcePostgres)
		}
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
			if c, ok := decodeChange(m.Payload); ok {
				n.cache.invalidate(c, SourceRedis)
			}
		}
	}
}

// listening flushes the cache once a channel is (re)connected: changes made
// while it was down were never heard.
func (n *notifier) listening(source string, pid uint32) {
	n.cache.flush(source)
	n.cache.emit(IdentityEvent{Kind: EventListening, Source: source, PID: pid})
}

// dropped flushes the cache when a channel fails; until it reconnects,
// entries live at most their TTL.
func (n *notifier) dropped(source string, err error) {
	n.log.Warn("identity notification channel dropped; reconnecting", "source", source, "err", err)
	n.cache.flush(source)
	n.cache.emit(IdentityEvent{Kind: EventDisconnected, Source: source, Err: err})
}

// jitter spreads reconnections of many replicas: d ± 25 %.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
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
