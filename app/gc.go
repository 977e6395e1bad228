package app

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// The Go runtime's garbage collector is tuned for a service whose requests
// allocate many small, short-lived objects over a small live heap: at the
// runtime's GOGC=100 the collector runs very often under load
// (BENCHMARKS.md). Ironclad therefore runs with GOGC=400 unless the operator
// sets GOGC or GOMEMLIMIT, under a soft memory limit: while the argon2id
// pool holds its hashes, the heap is collected at that limit rather than at
// five times the live heap.
//
//	limit = 64 MiB + HASH_CONCURRENCY × the hash's memory
//
// The limit is soft: above it the collector runs more often, it never
// refuses memory. BENCHMARKS.md has the measurements behind these numbers.

// defaultGCPercent is Ironclad's GOGC when the operator sets neither GOGC
// nor GOMEMLIMIT.
const defaultGCPercent = 400

// gcBaseLimit is the soft memory limit before the hashing pool's share.
const gcBaseLimit = 64 << 20

// GCSettings are the runtime settings serve applies; zero values leave the
// runtime as the environment made it.
type GCSettings struct {
	Percent     int   // debug.SetGCPercent; 0 = unchanged
	MemoryLimit int64 // debug.SetMemoryLimit, in bytes; 0 = unchanged
}

// defaultGC returns Ironclad's collector settings for cfg, or none when the
// operator tuned the runtime through GOGC or GOMEMLIMIT (read by the runtime
// itself, so getenv only tells whether they are set).
func defaultGC(cfg Config, getenv func(string) string) GCSettings {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return GCSettings{}
	}
	slots := cfg.HashConcurrency
	if slots <= 0 {
		slots = runtime.GOMAXPROCS(0) // the Hasher's own default
	}
	return GCSettings{
		Percent:     defaultGCPercent,
		MemoryLimit: gcBaseLimit + int64(slots)*int64(cfg.HashParams.Memory)<<10,
	}
}

// String is how the startup log line shows s.
func (s GCSettings) String() string {
	if s == (GCSettings{}) {
		return "GOGC/GOMEMLIMIT from the environment"
	}
	return fmt.Sprintf("GOGC=%d GOMEMLIMIT=%dMiB", s.Percent, s.MemoryLimit>>20)
}

// Apply sets s on the runtime and returns a function restoring what was
// there before (tests run servers inside one process).
func (s GCSettings) Apply() (restore func()) {
	if s == (GCSettings{}) {
		return func() {}
	}
	percent := debug.SetGCPercent(s.Percent)
	limit := debug.SetMemoryLimit(s.MemoryLimit)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
