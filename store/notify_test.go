package store_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ironclad-auth/ironclad/store"
	"github.com/ironclad-auth/ironclad/store/storetest"
)

// TestSilentChannelDetected freezes the backend of a replica's LISTEN
// connection (SIGSTOP: the connection stays open and delivers nothing). The
// replica must notice through its heartbeat, flush its cache, say so, and
// listen again on a new connection.
func TestSilentChannelDetected(t *testing.T) {
	dsn, admin := storetest.OpenDSN(t, store.DialectPostgres)
	ctx := context.Background()
	events := make(chan store.IdentityEvent, 100)
	s, err := store.OpenWith(ctx, dsn, store.Options{HeartbeatInterval: 100 * time.Millisecond, Observer: func(ev store.IdentityEvent) { events <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pid := await(t, events, "listening", func(ev store.IdentityEvent) bool { return ev.Kind == store.EventListening }).PID
	backend, err := os.FindProcess(int(pid))
	if err == nil {
		err = backend.Signal(syscall.Signal(0))
	}
	if err != nil {
		// The database server runs on another machine: its backends cannot
		// be frozen from here.
		t.Skipf("the LISTEN backend %d is not a process of this machine: %v", pid, err)
	}
	wantChannel(t, s, store.ChannelState{Source: store.SourcePostgres, Up: true, Reconnects: 0})
	u, sess := identityFixture(t, s, "frozen")
	wantIdentity(t, s, u, sess, t0, true, true)

	if err := backend.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("freeze backend %d: %v", pid, err)
	}
	t.Cleanup(func() { _ = backend.Signal(syscall.SIGCONT) })
	revokeBehindTheCache(t, admin, sess.ID) // this replica could not hear of it now

	ev := await(t, events, "silent channel", func(ev store.IdentityEvent) bool { return ev.Kind == store.EventDisconnected })
	if !errors.Is(ev.Err, store.ErrChannelSilent) {
		t.Fatalf("disconnected with %v, want ErrChannelSilent", ev.Err)
	}
	wantChannel(t, s, store.ChannelState{Source: store.SourcePostgres, Up: false, Reconnects: 0})
	// Flushed: the change made while the channel was silent is seen.
	wantIdentity(t, s, u, sess, t0, false, true)

	again := await(t, events, "listening again", func(ev store.IdentityEvent) bool { return ev.Kind == store.EventListening })
	if again.PID == pid {
		t.Fatalf("listening again on the frozen backend %d", pid)
	}
	wantChannel(t, s, store.ChannelState{Source: store.SourcePostgres, Up: true, Reconnects: 1})
	// The new connection delivers: a change on another replica reaches s.
	_ = backend.Signal(syscall.SIGCONT)
	u2, sess2 := identityFixture(t, s, "thawed")
	wantIdentity(t, s, u2, sess2, t0, true, true)
	if _, err := admin.RevokeSession(ctx, sess2.ID, t0); err != nil {
		t.Fatal(err)
	}
	await(t, events, "invalidation after the heartbeat returned", func(ev store.IdentityEvent) bool {
		return ev.Kind == store.EventInvalidated && ev.Source == store.SourcePostgres && ev.Change.SessionID == sess2.ID
	})
	wantIdentity(t, s, u2, sess2, t0, false, true)
}

// wantChannel fails unless s has the one notification channel want
// (what the invalidation channel metrics read).
func wantChannel(t *testing.T, s *store.Store, want store.ChannelState) {
	t.Helper()
	if got := s.ChannelStates(); len(got) != 1 || got[0] != want {
		t.Fatalf("ChannelStates() = %+v, want [%+v]", got, want)
	}
}

// TestRedisPublishNeverBlocks points a store at a Redis that accepts
// connections and never answers. Writes that change identities must return
// at once: the publish waits in a bounded queue, off the request's path.
func TestRedisPublishNeverBlocks(t *testing.T) {
	url := storetest.HungRedis(t)
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			dsn, _ := storetest.OpenDSN(t, kind)
			s, err := store.OpenWith(context.Background(), dsn, store.Options{RedisURL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			u := mustUser(t, s, "hung")
			const writes = 3
			for i := range writes {
				sess, _, _ := mustSession(t, s, u, t0.Add(threeDays))
				if _, err := s.RevokeSession(context.Background(), sess.ID, t0); err != nil {
					t.Fatalf("RevokeSession #%d error = %v", i, err)
				}
			}
			// Every revocation returned while its publish is still waiting
			// on the hung Redis (the first may be in flight, the rest queued).
			if n := s.PendingPublishes(); n < writes-1 {
				t.Fatalf("PendingPublishes() = %d after %d writes against a hung Redis, want at least %d still pending", n, writes, writes-1)
			}
		})
	}
}

// TestSyncHearsOwnChanges: once Sync returns, every channel has delivered
// back to the store the changes it committed before the call, so no late
// notification of them can drop a cache entry afterwards.
func TestSyncHearsOwnChanges(t *testing.T) {
	redisURL := os.Getenv("TEST_REDIS_URL")
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			dsn, _ := storetest.OpenDSN(t, kind)
			heard := make(chan store.IdentityEvent, 1000)
			s, err := store.OpenWith(ctx, dsn, store.Options{RedisURL: redisURL, Observer: func(ev store.IdentityEvent) {
				if ev.Kind == store.EventInvalidated && ev.Source != "" {
					heard <- ev
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			storetest.Listening(t, s)
			sources := s.ChannelSources()
			if len(sources) == 0 {
				t.Skip("SQLite without TEST_REDIS_URL has no notification channel: Sync has nothing to wait for")
			}
			const writes = 20
			u := mustUser(t, s, "sync")
			for range writes {
				sess, _, _ := mustSession(t, s, u, t0.Add(threeDays))
				if _, err := s.RevokeSession(ctx, sess.ID, t0); err != nil {
					t.Fatal(err)
				}
			}
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := s.Sync(sctx); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			// Counted without waiting: Sync already waited.
			got := map[string]int{}
			for len(heard) > 0 {
				ev := <-heard
				if ev.Change.SessionID != "" {
					got[ev.Source]++
				}
			}
			for _, src := range sources {
				if got[src] < writes {
					t.Errorf("%s: %d revocations heard back when Sync returned, want %d", src, got[src], writes)
				}
			}
		})
	}
}
