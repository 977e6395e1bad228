package app

import (
	"runtime/debug"
	"testing"

	"github.com/ironclad-auth/ironclad/auth"
)

func TestDefaultGC(t *testing.T) {
	cfg := Config{HashConcurrency: 3, HashParams: auth.DefaultParams}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	got := defaultGC(cfg, getenv)
	want := GCSettings{Percent: 400, MemoryLimit: 64<<20 + 3*19<<20}
	if got != want {
		t.Fatalf("defaultGC = %+v, want %+v", got, want)
	}
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		env = map[string]string{k: "200"}
		if got := defaultGC(cfg, getenv); got != (GCSettings{}) {
			t.Errorf("with %s set: defaultGC = %+v, want the runtime left alone", k, got)
		}
	}
}

func TestGCSettingsApplyAndRestore(t *testing.T) {
	before := debug.SetGCPercent(123)
	defer debug.SetGCPercent(before)
	limitBefore := debug.SetMemoryLimit(-1)

	restore := GCSettings{Percent: 400, MemoryLimit: 300 << 20}.Apply()
	if p := debug.SetGCPercent(400); p != 400 {
		t.Errorf("GOGC while applied = %d, want 400", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 300<<20 {
		t.Errorf("memory limit while applied = %d, want %d", l, 300<<20)
	}
	restore()
	if p := debug.SetGCPercent(123); p != 123 {
		t.Errorf("GOGC after restore = %d, want 123", p)
	}
	if l := debug.SetMemoryLimit(-1); l != limitBefore {
		t.Errorf("memory limit after restore = %d, want %d", l, limitBefore)
	}

	// The zero settings leave the runtime alone.
	GCSettings{}.Apply()()
	if p := debug.SetGCPercent(123); p != 123 {
		t.Errorf("GOGC after empty settings = %d, want 123", p)
	}
}
