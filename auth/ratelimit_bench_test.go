package auth

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkLoginGate compares what a login costs at the limiter with one
// argon2id verification at DefaultParams (the baseline): an attempt refused
// over the limit must cost next to nothing, since it hashes nothing.
func BenchmarkLoginGate(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline argon2id verify", func(b *testing.B) {
		h := NewHasher(DefaultParams, 1, time.Second)
		hash, err := h.Hash(ctx, "correct horse battery")
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			h.Verify(ctx, "wrong password", hash)
		}
	})
	backends := map[string]*redis.Client{"memory": nil}
	if url := os.Getenv("TEST_REDIS_URL"); url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			b.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		b.Cleanup(func() { rdb.Close() })
		backends["redis"] = rdb
	}
	for name, rdb := range backends {
		newLimiter := func(b *testing.B, perUser int) *LoginLimiter {
			l, err := NewLoginLimiter(LimiterConfig{
				PerUser: Limit{Max: perUser, Window: time.Hour},
				PerIP:   Limit{Max: 1 << 30, Window: time.Hour},
				Redis:   rdb, Prefix: "ironclad-bench:" + rand.Text() + ":", Secret: []byte("bench"),
			}, slog.Default())
			if err != nil {
				b.Fatal(err)
			}
			return l
		}
		b.Run(name+" admitted attempt then success", func(b *testing.B) {
			l := newLimiter(b, 5)
			i := 0
			for b.Loop() {
				i++
				a, err := l.begin(ctx, "user"+strconv.Itoa(i), "192.0.2.1")
				if err != nil {
					b.Fatal(err)
				}
				a.succeeded(ctx)
			}
		})
		b.Run(name+" refused attempt", func(b *testing.B) {
			l := newLimiter(b, 1)
			if _, err := l.begin(ctx, "alice", "192.0.2.1"); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := l.begin(ctx, "alice", "192.0.2.1"); err == nil {
					b.Fatal("attempt over the limit admitted")
				}
			}
		})
	}
}
