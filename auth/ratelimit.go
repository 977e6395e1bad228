package auth

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/ironclad-auth/ironclad/models"
	"github.com/ironclad-auth/ironclad/store"
)

// Limit allows Max failed logins per Window. Allowance regenerates evenly
// (GCRA, as redis_rate implements it): after Max quick failures one more
// attempt is allowed every Window/Max, so a sustained attacker averages at
// most Max guesses per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Default login limits: 5 failures per username and 50 per client IP per 15
// minutes.
var (
	DefaultPerUser = Limit{Max: 5, Window: 15 * time.Minute}
	DefaultPerIP   = Limit{Max: 50, Window: 15 * time.Minute}
)

// DefaultLimiterEntries bounds the in-memory limiter: past it, the keys
// least recently counted are forgotten first.
const DefaultLimiterEntries = 100_000

// redisTimeout bounds one limiter round trip: a slow Redis must not stall
// logins, and on timeout the limiter counts in memory instead.
const redisTimeout = 500 * time.Millisecond

// ErrTooManyAttempts is the error of a login refused by the limiter; the
// returned copies carry RetryAfter.
var ErrTooManyAttempts = models.TooManyRequests("too many failed login attempts; retry later", 0)

// LimiterConfig configures a LoginLimiter.
type LimiterConfig struct {
	PerUser    Limit         // zero: DefaultPerUser
	PerIP      Limit         // zero: DefaultPerIP
	Redis      *redis.Client // nil: count in memory only
	Prefix     string        // Redis key prefix; default "ironclad:"
	Secret     []byte        // keys the username hashes in Redis keys
	MaxEntries int           // in-memory bound; <= 0: DefaultLimiterEntries
	Now        func() time.Time
}

// LoginLimiter counts failed logins per username and per client IP, in Redis
// when configured (shared by every replica) and in memory otherwise. An
// attempt is counted before the password is checked, so parallel guesses
// cannot all slip under the limit; a success gives its count back.
type LoginLimiter struct {
	c       counter
	perUser Limit
	perIP   Limit
	prefix  string
	userKey []byte
}

// NewLoginLimiter returns a LoginLimiter. With cfg.Redis set, a Redis
// failure makes it count in memory until Redis answers again, and it logs
// each change: it never stops limiting.
func NewLoginLimiter(cfg LimiterConfig, log *slog.Logger) (*LoginLimiter, error) {
	if cfg.PerUser == (Limit{}) {
		cfg.PerUser = DefaultPerUser
	}
	if cfg.PerIP == (Limit{}) {
		cfg.PerIP = DefaultPerIP
	}
	for _, l := range []Limit{cfg.PerUser, cfg.PerIP} {
		if l.Max < 1 || l.Window <= 0 {
			return nil, fmt.Errorf("login limiter: limit %d per %v must allow at least 1 per positive window", l.Max, l.Window)
		}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "ironclad:"
	}
	key, err := deriveKey(cfg.Secret, limiterInfo)
	if err != nil {
		return nil, fmt.Errorf("login limiter: %w", err)
	}
	mem := newMemoryCounter(cfg.MaxEntries, cfg.Now)
	var c counter = mem
	if cfg.Redis != nil {
		c = &fallbackCounter{primary: redisCounter{redis_rate.NewLimiter(cfg.Redis)}, backup: mem, log: log}
	}
	return &LoginLimiter{c: c, perUser: cfg.PerUser, perIP: cfg.PerIP, prefix: cfg.Prefix, userKey: key}, nil
}

// attempt is one login attempt admitted by the limiter.
type attempt struct {
	l              *LoginLimiter
	userKey, ipKey string
	scope          string // set when refused: "user" or "ip"
	retryAfter     time.Duration
	settled        bool
}

// begin counts an attempt for username from ip. It returns a TOO_MANY_REQUESTS
// error, with the scope that refused it, when either is over its limit; a
// refused attempt is not counted.
func (l *LoginLimiter) begin(ctx context.Context, username, ip string) (*attempt, error) {
	a := &attempt{l: l, userKey: l.prefix + "login:user:" + l.hashUser(username), ipKey: l.prefix + "login:ip:" + ipBucket(ip)}
	ok, retry, err := l.c.take(ctx, a.ipKey, l.perIP, 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		return a.refuse("ip", retry)
	}
	ok, retry, err = l.c.take(ctx, a.userKey, l.perUser, 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Refused without a guess: give the IP its attempt back.
		_, _, _ = l.c.take(ctx, a.ipKey, l.perIP, -1)
		return a.refuse("user", retry)
	}
	return a, nil
}

// ErrTooManyMails is the error of a mail request refused by the limiter;
// the returned copies carry RetryAfter.
var ErrTooManyMails = models.TooManyRequests("too many mail requests for this address or from this network; retry later", 0)

// takeMail counts one request that sends mail (password reset,
// verification) for address from ip, against the login limits: per
// address as per username, per IP as per IP. Every request counts, found
// or not, so the answer for an unknown address is limited exactly as for a
// known one. Over either limit it returns TOO_MANY_REQUESTS.
func (l *LoginLimiter) takeMail(ctx context.Context, address, ip string) error {
	ipKey := l.prefix + "mail:ip:" + ipBucket(ip)
	ok, retry, err := l.c.take(ctx, ipKey, l.perIP, 1)
	if err != nil {
		return err
	}
	if !ok {
		return tooManyMails(retry)
	}
	ok, retry, err = l.c.take(ctx, l.prefix+"mail:addr:"+l.hashUser(address), l.perUser, 1)
	if err != nil {
		return err
	}
	if !ok {
		_, _, _ = l.c.take(ctx, ipKey, l.perIP, -1)
		return tooManyMails(retry)
	}
	return nil
}

func tooManyMails(retry time.Duration) error {
	e := *ErrTooManyMails
	e.RetryAfter = max(retry, time.Second)
	return &e
}

// beginToken counts one presentation of a mail token from ip, against the
// per-IP login limit: guessing codes costs as much as guessing passwords.
// The attempt is settled like a login's (succeeded gives it back).
func (l *LoginLimiter) beginToken(ctx context.Context, ip string) (*attempt, error) {
	a := &attempt{l: l, ipKey: l.prefix + "token:ip:" + ipBucket(ip)}
	ok, retry, err := l.c.take(ctx, a.ipKey, l.perIP, 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		return a.refuse("ip", retry)
	}
	return a, nil
}

func (a *attempt) refuse(scope string, retry time.Duration) (*attempt, error) {
	a.scope, a.retryAfter = scope, max(retry, time.Second)
	e := *ErrTooManyAttempts
	e.RetryAfter = a.retryAfter
	return a, &e
}

// failed settles an attempt whose password was wrong: it stays counted.
func (a *attempt) failed() { a.settled = true }

// succeeded settles an attempt whose password was right: the username's
// failures are cleared and the IP gets its attempt back.
func (a *attempt) succeeded(ctx context.Context) {
	if a.settled {
		return
	}
	a.settled = true
	if a.userKey != "" {
		_ = a.l.c.reset(ctx, a.userKey)
	}
	_, _, _ = a.l.c.take(ctx, a.ipKey, a.l.perIP, -1)
}

// abandon settles an attempt that never checked a password (the hashing pool
// was busy, the database failed): it gives both counts back.
func (a *attempt) abandon(ctx context.Context) {
	if a.settled {
		return
	}
	a.settled = true
	if a.userKey != "" {
		_, _, _ = a.l.c.take(ctx, a.userKey, a.l.perUser, -1)
	}
	_, _, _ = a.l.c.take(ctx, a.ipKey, a.l.perIP, -1)
}

// hashUser keys a username as the store matches it (folded), under an HMAC
// so that Redis never holds a username, nor a hash a dictionary reverses.
func (l *LoginLimiter) hashUser(username string) string {
	m := hmac.New(sha256.New, l.userKey)
	m.Write([]byte(store.UsernameKey(username)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// ipBucket is the key of an address: IPv4 as is, IPv6 by its /64, which a
// single subscriber usually holds whole.
func ipBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if ip == "" {
			return "unknown"
		}
		return hex.EncodeToString([]byte(ip[:min(len(ip), 64)]))
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// counter is a GCRA rate counter: take(n) spends n units of key's allowance
// under l (n = -1 gives one back) and reports whether that was allowed, and
// if not, when it will be.
type counter interface {
	take(ctx context.Context, key string, l Limit, n int) (ok bool, retryAfter time.Duration, err error)
	reset(ctx context.Context, key string) error
}

// redisCounter counts in Redis with redis_rate, on the Redis server's clock.
type redisCounter struct{ lim *redis_rate.Limiter }

func (r redisCounter) take(ctx context.Context, key string, l Limit, n int) (bool, time.Duration, error) {
	res, err := r.lim.AllowN(ctx, key, redis_rate.Limit{Rate: l.Max, Burst: l.Max, Period: l.Window}, n)
	if err != nil {
		return false, 0, err
	}
	if res.Allowed == 0 && n > 0 {
		return false, res.RetryAfter, nil
	}
	if n < 0 && res.ResetAfter <= 0 {
		// redis_rate leaves the key as it was when giving back would empty
		// it, so the last attempt would linger for one interval: delete it.
		return true, 0, r.lim.Reset(ctx, key)
	}
	return true, 0, nil
}

func (r redisCounter) reset(ctx context.Context, key string) error { return r.lim.Reset(ctx, key) }

// redisRetryAfter is how long the limiter counts in memory after a Redis
// failure before trying Redis again, so an outage does not add a failing
// round trip to every login.
const redisRetryAfter = 5 * time.Second

// fallbackCounter counts in Redis and, while Redis fails, in memory.
type fallbackCounter struct {
	primary   counter
	backup    *memoryCounter
	log       *slog.Logger
	down      atomic.Bool
	downUntil atomic.Int64 // unix nanoseconds (wall clock) before which Redis is not tried
}

func (f *fallbackCounter) take(ctx context.Context, key string, l Limit, n int) (bool, time.Duration, error) {
	if f.skipRedis() {
		return f.backup.take(ctx, key, l, n)
	}
	// Counting must finish even if the client hangs up: cancelling a
	// request must not be a way to skip being counted.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	ok, retry, err := f.primary.take(rctx, key, l, n)
	cancel()
	if err != nil {
		f.failed(ctx, err)
		return f.backup.take(ctx, key, l, n)
	}
	f.recovered(ctx)
	return ok, retry, nil
}

func (f *fallbackCounter) reset(ctx context.Context, key string) error {
	if f.skipRedis() {
		return f.backup.reset(ctx, key)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	err := f.primary.reset(rctx, key)
	cancel()
	if err != nil {
		f.failed(ctx, err)
	}
	// Clear the in-memory count too: it may hold failures from an outage.
	return f.backup.reset(ctx, key)
}

func (f *fallbackCounter) skipRedis() bool {
	return f.down.Load() && time.Now().UnixNano() < f.downUntil.Load()
}

func (f *fallbackCounter) failed(ctx context.Context, err error) {
	f.downUntil.Store(time.Now().Add(redisRetryAfter).UnixNano())
	if !f.down.Swap(true) {
		f.log.ErrorContext(ctx, "rate limiter: Redis failed; counting login failures in memory on this replica",
			"event", "rate_limiter_fallback", "err", err)
	}
}

func (f *fallbackCounter) recovered(ctx context.Context) {
	if f.down.Swap(false) {
		f.log.InfoContext(ctx, "rate limiter: Redis answers again; counting login failures in Redis",
			"event", "rate_limiter_recovered")
	}
}

// memoryCounter is GCRA in process memory, with the same arithmetic as
// redis_rate but on an injectable clock. It holds at most max keys,
// forgetting the least recently counted first (and any whose allowance has
// fully regenerated, which is the same as never having been counted).
type memoryCounter struct {
	mu    sync.Mutex
	now   func() time.Time
	max   int
	lru   *list.List // of *memEntry, most recently counted first
	items map[string]*list.Element
}

type memEntry struct {
	key string
	tat time.Time // GCRA theoretical arrival time
}

func newMemoryCounter(maxEntries int, now func() time.Time) *memoryCounter {
	if maxEntries <= 0 {
		maxEntries = DefaultLimiterEntries
	}
	if now == nil {
		now = time.Now
	}
	return &memoryCounter{now: now, max: maxEntries, lru: list.New(), items: map[string]*list.Element{}}
}

func (m *memoryCounter) take(_ context.Context, key string, l Limit, n int) (bool, time.Duration, error) {
	interval := l.Window / time.Duration(l.Max)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	tat := now
	el := m.items[key]
	if el != nil {
		if t := el.Value.(*memEntry).tat; t.After(now) {
			tat = t
		}
	}
	next := tat.Add(time.Duration(n) * interval)
	if allowAt := next.Add(-l.Window); now.Before(allowAt) {
		return false, allowAt.Sub(now), nil
	}
	switch {
	case !next.After(now): // fully regenerated: same as no entry
		if el != nil {
			m.remove(el)
		}
	case el != nil:
		el.Value.(*memEntry).tat = next
		m.lru.MoveToFront(el)
	default:
		m.evict(now)
		m.items[key] = m.lru.PushFront(&memEntry{key: key, tat: next})
	}
	return true, 0, nil
}

func (m *memoryCounter) reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el := m.items[key]; el != nil {
		m.remove(el)
	}
	return nil
}

// evict makes room for one entry: it drops regenerated entries from the
// cold end, then, if still full, the least recently counted one.
func (m *memoryCounter) evict(now time.Time) {
	for el := m.lru.Back(); el != nil && !el.Value.(*memEntry).tat.After(now); el = m.lru.Back() {
		m.remove(el)
	}
	for len(m.items) >= m.max {
		m.remove(m.lru.Back())
	}
}

func (m *memoryCounter) remove(el *list.Element) {
	m.lru.Remove(el)
	delete(m.items, el.Value.(*memEntry).key)
}

// len returns the number of keys held (for tests).
func (m *memoryCounter) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}
