package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testParams keep argon2 cheap under -race; DefaultParams get one test of their own.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 2, time.Second)
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{"right password", "correct horse battery staple", true},
		{"wrong password", "correct horse battery stapler", false},
		{"empty password", "", false},
		{"case differs", "Correct horse battery staple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tt.password, encoded)
			if err != nil || ok != tt.wantOK || rehash {
				t.Errorf("Verify(%q, %q) = %v, %v, %v; want %v, false, nil", tt.password, encoded, ok, rehash, err, tt.wantOK)
			}
		})
	}
	again, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	if again == encoded {
		t.Errorf("Hash() twice gave %q both times, want fresh salts", encoded)
	}
}

func TestHashDefaultParamsFormat(t *testing.T) {
	h := NewHasher(DefaultParams, 1, time.Second)
	encoded, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(encoded, prefix) {
		t.Fatalf("Hash() = %q, want prefix %q", encoded, prefix)
	}
	fields := strings.Split(strings.TrimPrefix(encoded, prefix), "$")
	if len(fields) != 2 {
		t.Fatalf("Hash() = %q, want salt$hash after the parameters", encoded)
	}
	for i, want := range []int{16, 32} {
		if b, err := base64.RawStdEncoding.DecodeString(fields[i]); err != nil || len(b) != want {
			t.Errorf("Hash() field %q decodes to %d bytes (err %v), want %d", fields[i], len(b), err, want)
		}
	}
	p, _, _, err := decodeHash(encoded)
	if err != nil || p != DefaultParams {
		t.Errorf("decodeHash(%q) = %+v, %v; want %+v, nil", encoded, p, err, DefaultParams)
	}
	if ok, rehash, err := h.Verify(context.Background(), "pw", encoded); !ok || rehash || err != nil {
		t.Errorf("Verify(%q, %q) = %v, %v, %v; want true, false, nil", "pw", encoded, ok, rehash, err)
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(testParams, 1, time.Second)
	encoded, err := old.Hash(ctx, "pw")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	tests := []struct {
		name string
		edit func(p *Params)
		want bool
	}{
		{"same params", func(p *Params) {}, false},
		{"memory", func(p *Params) { p.Memory = 128 }, true},
		{"time", func(p *Params) { p.Time = 2 }, true},
		{"threads", func(p *Params) { p.Threads = 2 }, true},
		{"salt length", func(p *Params) { p.SaltLen = 32 }, true},
		{"key length", func(p *Params) { p.KeyLen = 64 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testParams
			tt.edit(&p)
			ok, rehash, err := NewHasher(p, 1, time.Second).Verify(ctx, "pw", encoded)
			if err != nil || !ok || rehash != tt.want {
				t.Errorf("Verify(%q, %q) with %+v = %v, %v, %v; want true, %v, nil", "pw", encoded, p, ok, rehash, err, tt.want)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	const (
		salt = "c2FsdHNhbHRzYWx0c2FsdA"                      // 16 bytes
		key  = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
	)
	h := NewHasher(testParams, 1, time.Second)
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, _, err := h.Verify(context.Background(), "pw", valid); err != nil {
		t.Fatalf("Verify(%q) error = %v, want nil (the base case must parse)", valid, err)
	}
	tests := []struct{ name, encoded string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"bcrypt of cost 17", "$2a$17$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}, // bare bcrypt is an imported format, within bounds
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"no leading $", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x"},
		{"params out of order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"missing param", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + key},
		{"non-numeric", "$argon2id$v=19$m=lots,t=1,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"time 0", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"time 17", "$argon2id$v=19$m=64,t=17,p=1$" + salt + "$" + key},
		{"threads 0", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"threads 256", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"salt too long", "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 100) + "$" + key},
		{"empty key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"key too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5"},
		{"key too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 128)},
		{"huge string", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Verify(%q) panicked: %v", abbrev(tt.encoded), r)
				}
			}()
			ok, rehash, err := h.Verify(context.Background(), "pw", tt.encoded)
			if err == nil || ok || rehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want false, false, error", abbrev(tt.encoded), ok, rehash, err)
			}
			if !errors.Is(err, errMalformedHash) {
				t.Errorf("Verify(%q) error = %v, want %v", abbrev(tt.encoded), err, errMalformedHash)
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	h := NewHasher(testParams, 1, time.Second)
	for _, pw := range []string{"", "pw", strings.Repeat("x", 1024)} {
		if err := h.VerifyDummy(context.Background(), pw); err != nil {
			t.Errorf("VerifyDummy(%q) error = %v, want nil", abbrev(pw), err)
		}
	}
	// The dummy must cost what a real hash made with h's params costs.
	if p, _, _, err := decodeHash(h.dummy); err != nil || p != h.Params() {
		t.Errorf("dummy hash %q params = %+v, %v; want %+v", h.dummy, p, err, h.Params())
	}
}

func TestNewHasher(t *testing.T) {
	if got, want := cap(NewHasher(testParams, 0, 0).sem), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("NewHasher(maxConcurrent=0) slots = %d, want GOMAXPROCS %d", got, want)
	}
	if got := NewHasher(testParams, 3, 0).maxWaiting; got != 3*waitersPerSlot {
		t.Errorf("NewHasher(maxConcurrent=3) max waiting = %d, want %d", got, 3*waitersPerSlot)
	}
	bad := []struct {
		name string
		p    Params
	}{
		{"zero", Params{}},
		{"time 0", Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"threads 0", Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}},
		{"memory too big", Params{Memory: 2 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"short salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}},
		{"short key", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%+v) did not panic", tt.p)
				}
			}()
			NewHasher(tt.p, 1, 0)
		})
	}
}

// fill takes every slot of h, as running hashes would, until the returned func is called.
func fill(h *Hasher) (release func()) {
	for range cap(h.sem) {
		h.sem <- struct{}{}
	}
	return func() {
		for range cap(h.sem) {
			<-h.sem
		}
	}
}

func TestHasherBusy(t *testing.T) {
	h := NewHasher(testParams, 1, time.Millisecond)
	defer fill(h)()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Hash", func(ctx context.Context) error { _, err := h.Hash(ctx, "pw"); return err }},
		{"Verify", func(ctx context.Context) error { _, _, err := h.Verify(ctx, "pw", h.dummy); return err }},
		{"VerifyDummy", func(ctx context.Context) error { return h.VerifyDummy(ctx, "pw") }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(context.Background()); !errors.Is(err, ErrBusy) {
				t.Errorf("%s with the pool full error = %v, want %v", c.name, err, ErrBusy)
			}
		})
	}
}

func TestHasherNoWait(t *testing.T) {
	h := NewHasher(testParams, 1, 0)
	release := fill(h)
	if err := h.VerifyDummy(context.Background(), "pw"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy with maxWait 0 and the pool full error = %v, want %v", err, ErrBusy)
	}
	release()
	if err := h.VerifyDummy(context.Background(), "pw"); err != nil {
		t.Errorf("VerifyDummy with a free slot error = %v, want nil", err)
	}
}

func TestHasherWaitQueue(t *testing.T) {
	// maxWait is long so that only the queue bound or the context can end a wait.
	h := NewHasher(testParams, 1, time.Hour)
	queued := make(chan struct{})
	h.onWait = func() { queued <- struct{}{} }
	release := fill(h)

	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, waitersPerSlot)
	for range waitersPerSlot { // waitersPerSlot*maxConcurrent callers may wait
		go func() { errs <- h.VerifyDummy(ctx, "pw") }()
		<-queued
	}
	if err := h.VerifyDummy(context.Background(), "pw"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy with %d callers queued error = %v, want %v", waitersPerSlot, err, ErrBusy)
	}
	cancel()
	for range waitersPerSlot {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("VerifyDummy cancelled while waiting error = %v, want %v", err, context.Canceled)
		}
	}
	if n := h.waiting.Load(); n != 0 {
		t.Errorf("waiting = %d after all waiters left, want 0", n)
	}
	release()

	// A waiter gets the slot as soon as it is freed.
	release = fill(h)
	done := make(chan error, 1)
	go func() { done <- h.VerifyDummy(context.Background(), "pw") }()
	<-queued
	release()
	if err := <-done; err != nil {
		t.Errorf("VerifyDummy after the slot was freed error = %v, want nil", err)
	}
}

func TestHasherCancelledContext(t *testing.T) {
	h := NewHasher(testParams, 1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a cancelled context error = %v, want %v", err, context.Canceled)
	}
	if _, _, err := h.Verify(ctx, "pw", h.dummy); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context error = %v, want %v", err, context.Canceled)
	}
}

func TestHasherConcurrent(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 2, time.Hour)
	encoded, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatalf("Hash() error = %v", err)
	}
	var wg sync.WaitGroup
	for i := range 8 { // 2 running + 6 queued stays within the 8-waiter bound
		wg.Go(func() {
			pw := "pw"
			if i%2 == 1 {
				pw = "wrong"
			}
			ok, _, err := h.Verify(ctx, pw, encoded)
			if err != nil || ok != (i%2 == 0) {
				t.Errorf("Verify(%q) = %v, %v; want %v, nil", pw, ok, err, i%2 == 0)
			}
		})
	}
	wg.Wait()
}

func BenchmarkHashDefaultParams(b *testing.B) {
	h := NewHasher(DefaultParams, 1, time.Minute)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
