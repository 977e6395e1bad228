package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/ironclad-auth/ironclad/models"
)

// ErrBusy means every hashing slot stayed taken for longer than the Hasher
// lets a caller wait, or too many callers were already waiting.
var ErrBusy = models.TooManyRequests("the server is busy verifying passwords; retry shortly", time.Second)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's minimum argon2id parameters (m=19 MiB, t=2, p=1).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, checked both for our own Params and for hashes read
// back from the database: a corrupt or hostile row must not make one login
// allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	maxEncoded = 256 // longest PHC string we parse; ours are about 100 bytes
)

var errMalformedHash = errors.New("malformed password hash")

// waitersPerSlot bounds the queue of callers waiting for a hashing slot. A
// waiter holds only a goroutine and its request (kilobytes, not the hash's
// memory), and a queue this long drains within the default 2 s wait at
// OWASP's parameters (about 40 ms a hash on a 2-core machine: 32 × 40 ms =
// 1.3 s), so 32 clients logging in at once on 2 cores all succeed, while a
// flood of hundreds gets TOO_MANY_REQUESTS at once instead of a timeout.
const waitersPerSlot = 32

// Hasher hashes and verifies passwords with argon2id in a bounded pool: each
// hash holds Memory KiB, so concurrency, not request rate, decides peak memory.
// It is safe for concurrent use.
type Hasher struct {
	params     Params
	sem        chan struct{} // one token per running hash
	waiting    atomic.Int64  // callers queued for a slot
	maxWaiting int64
	maxWait    time.Duration
	dummy      string // PHC hash with params, matching no password
	mix        atomic.Pointer[dummyMix]

	onWait func() // test hook: called once a caller has queued for a slot
}

// NewHasher returns a Hasher with params p. At most maxConcurrent hashes run
// at once (<= 0 means runtime.GOMAXPROCS(0)); a caller waits at most maxWait
// for a slot, and at most waitersPerSlot*maxConcurrent callers may wait at
// all — beyond that, or after maxWait, ErrBusy at once. It panics if p is outside the
// bounds Verify accepts, since its hashes could then never be verified.
func NewHasher(p Params, maxConcurrent int, maxWait time.Duration) *Hasher {
	if err := p.validate(); err != nil {
		panic("auth.NewHasher: " + err.Error())
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{
		params:     p,
		sem:        make(chan struct{}, maxConcurrent),
		maxWaiting: waitersPerSlot * int64(maxConcurrent),
		maxWait:    maxWait,
	}
	// The dummy is random salt and random "hash" in h's format: verifying
	// against it costs exactly one real verification, yet building it costs no
	// argon2 work, and no password can match it.
	h.dummy = encodeHash(p, mustRandom(int(p.SaltLen)), mustRandom(int(p.KeyLen)))
	return h
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC-format argon2id hash of password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	release()
	return encodeHash(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, comparing in constant time
// (crypto/subtle). needsRehash is true when encoded was made with parameters
// other than h's, so the caller should store a fresh Hash after a successful
// login. A malformed encoded hash is an error, never a panic.
//
// Hashes imported from Django or a bcrypt site (see imported_hash.go) are
// verified in the same pool and always need a rehash; an unusable one ("!…")
// costs one dummy verification and matches nothing.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if !strings.HasPrefix(encoded, "$argon2id$") {
		return h.verifyImported(ctx, password, encoded)
	}
	// Parse before taking a slot: a bad row must not cost pool capacity.
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	release()
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, p != h.params, nil
}

// verifyImported verifies password against an imported hash.
func (h *Hasher) verifyImported(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if KindOf(encoded) == KindUnusable {
		// No password matches, after the work of a wrong one.
		_, _, err := h.Verify(ctx, password, h.dummy)
		return false, false, err
	}
	ih, err := parseImported(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	ok = ih.check([]byte(password))
	release()
	return ok, true, nil
}

// HashShare is how many stored hashes share one format and cost, with one
// of them as the sample of that format.
type HashShare struct {
	Sample string
	Count  int64
}

// dummyMix is the dummy hashes of the stored formats, weighted by how many
// users hold each: cum[i] is the count of hashes[0..i].
type dummyMix struct {
	hashes []string
	cum    []uint64
}

// SetMix tells h which hash formats are stored and how often, so that
// VerifyDummyFor costs what the verification of a known user's hash costs:
// once accounts were imported with pbkdf2 or bcrypt hashes, a dummy argon2id
// alone would tell an unknown username from a known one by timing. Ironclad's
// own hashes and unusable ones are represented by h's own dummy (both cost
// one argon2id verification at h's params); a share whose sample is not a
// verifiable hash is counted with them. An empty mix leaves only h's dummy.
func (h *Hasher) SetMix(shares []HashShare) {
	m := &dummyMix{}
	var own, total uint64
	for _, s := range shares {
		if s.Count <= 0 {
			continue
		}
		switch KindOf(s.Sample) {
		case KindArgon2id, KindUnusable, "":
			own += uint64(s.Count)
			continue
		}
		d, err := dummyLike(s.Sample)
		if err != nil {
			own += uint64(s.Count)
			continue
		}
		total += uint64(s.Count)
		m.hashes = append(m.hashes, d)
		m.cum = append(m.cum, total)
	}
	if own > 0 || total == 0 {
		total += max(own, 1)
		m.hashes = append(m.hashes, h.dummy)
		m.cum = append(m.cum, total)
	}
	h.mix.Store(m)
}

// VerifyDummyFor is VerifyDummy for an unknown username: it verifies against
// the dummy of one stored format, picked by pick (a keyed hash of the
// username, so that the same name always costs the same) with the
// frequencies SetMix gave. An unknown name is then as slow as a known one
// whose format was drawn from the stored mix, on every replica alike.
func (h *Hasher) VerifyDummyFor(ctx context.Context, password string, pick uint64) error {
	m := h.mix.Load()
	if m == nil || len(m.hashes) == 1 {
		return h.VerifyDummy(ctx, password)
	}
	_, _, err := h.Verify(ctx, password, m.at(pick))
	return err
}

// at returns the dummy that pick falls on, each with its share's frequency.
func (m *dummyMix) at(pick uint64) string {
	at := pick % m.cum[len(m.cum)-1]
	i := 0
	for i < len(m.cum)-1 && at >= m.cum[i] {
		i++
	}
	return m.hashes[i]
}

// VerifyDummy does the work of one Verify against a fixed dummy hash made with
// h's params, so that an unknown username costs as much as a wrong password
// and cannot be told apart by timing. It returns ErrBusy or ctx's error like
// Verify, and nil otherwise.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// acquire takes a hashing slot, waiting up to h.maxWait behind at most
// h.maxWaiting other callers. The caller must call release once done.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.sem <- struct{}{}:
		return h.release, nil
	default:
	}
	// Bound the queue, not just the pool: waiters hold goroutines and request
	// memory, and under a flood failing fast beats timing out late.
	if h.waiting.Add(1) > h.maxWaiting || h.maxWait <= 0 {
		h.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer h.waiting.Add(-1)
	if h.onWait != nil {
		h.onWait()
	}
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return h.release, nil
	case <-timer.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// validate checks p against the bounds decodeHash enforces.
func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d out of range 1..%d", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// argon2 silently raises memory below 8 KiB per lane, which would make
		// the encoded m= lie.
		return fmt.Errorf("memory %d KiB out of range %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d out of range %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d out of range %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// encodeHash formats $argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<key> with
// unpadded standard base64, as the PHC string format specifies.
func encodeHash(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// decodeHash parses a PHC argon2id string and bounds its parameters.
func decodeHash(encoded string) (p Params, salt, key []byte, err error) {
	if len(encoded) > maxEncoded {
		return p, nil, nil, fmt.Errorf("%w: too long", errMalformedHash)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: want 5 $-separated fields", errMalformedHash)
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: algorithm %q is not argon2id", errMalformedHash, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", errMalformedHash, parts[2])
	}
	m, t, threads, err := parseCost(parts[3])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: %v", errMalformedHash, err)
	}
	// Strict: reject non-canonical encodings (stray trailing bits).
	enc := base64.RawStdEncoding.Strict()
	if salt, err = enc.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: %v", errMalformedHash, err)
	}
	if key, err = enc.DecodeString(parts[5]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: key: %v", errMalformedHash, err)
	}
	p = Params{Memory: m, Time: t, Threads: threads, SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %v", errMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseCost parses "m=<uint32>,t=<uint32>,p=<uint8>" in that order. Range
// checks are left to Params.validate.
func parseCost(s string) (m, t uint32, p uint8, err error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, fmt.Errorf("parameters %q: want m=,t=,p=", s)
	}
	var vals [3]uint64
	for i, name := range [3]string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return 0, 0, 0, fmt.Errorf("parameters %q: want m=,t=,p=", s)
		}
		bits := 32
		if name == "p" {
			bits = 8
		}
		if vals[i], err = strconv.ParseUint(v, 10, bits); err != nil {
			return 0, 0, 0, fmt.Errorf("parameter %s: %v", name, err)
		}
	}
	return uint32(vals[0]), uint32(vals[1]), uint8(vals[2]), nil
}

// mustRandom returns n bytes from crypto/rand, which since Go 1.24 never fails.
func mustRandom(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}
