package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/internal/testclock"
	"github.com/ironclad-auth/ironclad/models"
)

func TestMemoryCounterGCRA(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New()
	m := newMemoryCounter(0, clock.Now)
	l := Limit{Max: 3, Window: 3 * time.Minute} // one unit per minute

	for i := range 3 {
		if ok, _, _ := m.take(ctx, "k", l, 1); !ok {
			t.Fatalf("take %d refused, want allowed", i+1)
		}
	}
	ok, retry, _ := m.take(ctx, "k", l, 1)
	if ok || retry != time.Minute {
		t.Fatalf("fourth take = %v, retry %v; want refused, retry 1m", ok, retry)
	}
	// A refused take is not counted: the retry time does not grow.
	if _, retry, _ = m.take(ctx, "k", l, 1); retry != time.Minute {
		t.Errorf("retry after a refused take = %v, want 1m", retry)
	}
	// Giving one back makes room at once.
	m.take(ctx, "k", l, -1)
	if ok, _, _ := m.take(ctx, "k", l, 1); !ok {
		t.Error("take after giving one back refused")
	}
	clock.Advance(time.Minute)
	if ok, _, _ := m.take(ctx, "k", l, 1); !ok {
		t.Error("take a minute later refused, want one unit regenerated")
	}
	if ok, _, _ := m.take(ctx, "k", l, 1); ok {
		t.Error("second take a minute later allowed, want refused")
	}
	// Other keys are independent; reset clears a key.
	if ok, _, _ := m.take(ctx, "other", l, 1); !ok {
		t.Error("another key refused")
	}
	m.reset(ctx, "k")
	if ok, _, _ := m.take(ctx, "k", l, 1); !ok {
		t.Error("take after reset refused")
	}
	// A fully regenerated key holds no memory.
	clock.Advance(time.Hour)
	m.take(ctx, "k", l, -1)
	m.take(ctx, "other", l, -1)
	if n := m.len(); n != 0 {
		t.Errorf("%d keys held after all regenerated, want 0", n)
	}
}

func TestMemoryCounterBounded(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New()
	m := newMemoryCounter(100, clock.Now)
	l := Limit{Max: 1, Window: time.Hour}
	for i := range 10_000 {
		m.take(ctx, fmt.Sprintf("key-%d", i), l, 1)
	}
	if n := m.len(); n > 100 {
		t.Fatalf("counter holds %d keys, want at most 100", n)
	}
	// The most recent keys are the ones kept.
	if ok, _, _ := m.take(ctx, "key-9999", l, 1); ok {
		t.Error("the newest key was forgotten")
	}
	// Entries that regenerated are dropped before live ones.
	clock.Advance(2 * time.Hour)
	m.take(ctx, "fresh", l, 1)
	if n := m.len(); n != 1 {
		t.Errorf("after every entry regenerated, %d keys held, want 1", n)
	}
}

// failingCounter is a Redis stand-in that fails while down is set.
type failingCounter struct {
	mu    sync.Mutex
	down  bool
	calls int
	mem   *memoryCounter
}

func (f *failingCounter) take(ctx context.Context, key string, l Limit, n int) (bool, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return false, 0, errors.New("connection refused")
	}
	return f.mem.take(ctx, key, l, n)
}

func (f *failingCounter) reset(ctx context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("connection refused")
	}
	return f.mem.reset(ctx, key)
}

func TestFallbackCounter(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	primary := &failingCounter{down: true, mem: newMemoryCounter(0, nil)}
	f := &fallbackCounter{primary: primary, backup: newMemoryCounter(0, nil), log: slog.New(slog.NewTextHandler(&logs, nil))}
	l := Limit{Max: 2, Window: time.Hour}

	// Redis down: counting goes on in memory, and the failure is logged once.
	f.take(ctx, "k", l, 1)
	f.take(ctx, "k", l, 1)
	if ok, _, err := f.take(ctx, "k", l, 1); ok || err != nil {
		t.Fatalf("third take with Redis down = %v, %v; want refused", ok, err)
	}
	if n := strings.Count(logs.String(), "rate_limiter_fallback"); n != 1 {
		t.Errorf("fallback logged %d times, want once:\n%s", n, logs.String())
	}
	if primary.calls != 1 {
		t.Errorf("Redis tried %d times during the outage, want 1 (then skipped for a while)", primary.calls)
	}

	// Redis back (and the retry pause over): counting returns to it, logged.
	primary.down = false
	f.downUntil.Store(0)
	if ok, _, _ := f.take(ctx, "k", l, 1); !ok {
		t.Error("take in Redis after recovery refused, want Redis's own count")
	}
	if !strings.Contains(logs.String(), "rate_limiter_recovered") {
		t.Error("recovery not logged")
	}
}

func TestLoginLimiterKeys(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New()
	l, err := NewLoginLimiter(LimiterConfig{PerUser: Limit{Max: 1, Window: time.Hour}, Secret: []byte("secret"), Now: clock.Now}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.begin(ctx, "Straße", "192.0.2.1"); err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	// Folded like the store: STRASSE is the same account.
	a, err := l.begin(ctx, "STRASSE", "192.0.2.2")
	if !errors.Is(err, ErrTooManyAttempts) || models.CodeOf(err) != models.CodeTooManyRequests || a.scope != "user" {
		t.Fatalf("attempt on the folded name = %v (scope %v), want TOO_MANY_REQUESTS by user", err, a)
	}
	var me *models.Error
	if !errors.As(err, &me) || me.RetryAfter != time.Hour {
		t.Errorf("RetryAfter = %v, want 1h", me.RetryAfter)
	}
	if k := l.hashUser("alice"); strings.Contains(k, "alice") || k == l.hashUser("bob") || k != l.hashUser("ALICE") {
		t.Errorf("hashUser(alice) = %q: want a keyed hash equal for ALICE, unlike bob's", k)
	}

	for ip, want := range map[string]string{
		"192.0.2.1":          "192.0.2.1",
		"::ffff:192.0.2.1":   "192.0.2.1",
		"2001:db8:1:2:3::4":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ff::1": "2001:db8:1:2::/64",
		"":                   "unknown",
	} {
		if got := ipBucket(ip); got != want {
			t.Errorf("ipBucket(%q) = %q, want %q", ip, got, want)
		}
	}

	if _, err := NewLoginLimiter(LimiterConfig{PerUser: Limit{Max: 0, Window: time.Minute}, Secret: []byte("s")}, slog.Default()); err == nil {
		t.Error("NewLoginLimiter(max 0) error = nil, want an error")
	}
}
