package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironclad-auth/ironclad/app/apptest"
)

// TestKeysCommand drives `ironclad keys` on an SQLite file: list, rotate
// with and without --activate-now, revoke, and the usage errors.
func TestKeysCommand(t *testing.T) {
	dir := t.TempDir()
	env := mapEnv(map[string]string{"JWT_SECRET": apptest.Secret, "DATA_DIR": dir, "DATABASE_URL": filepath.Join(dir, "ironclad.db"), "LOG_LEVEL": "error"})
	keys := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"keys"}, args...), env, nil, &out)
		return out.String(), err
	}
	out, err := keys("list")
	if err != nil || strings.Count(out, "signing") != 1 || !strings.Contains(out, "EdDSA") {
		t.Fatalf("keys list = %q, %v; want one signing EdDSA key", out, err)
	}
	first := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, err = keys("rotate"); err != nil || !strings.Contains(out, "published") {
		t.Fatalf("keys rotate = %q, %v", out, err)
	}
	if out, err = keys("rotate", "--activate-now"); err != nil || !strings.Contains(out, "signs from now on") {
		t.Fatalf("keys rotate --activate-now = %q, %v", out, err)
	}
	if out, err = keys("revoke", first); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke %s = %q, %v", first, out, err)
	}
	out, _ = keys("list")
	for _, state := range []string{"revoked", "verify-only", "signing"} {
		if !strings.Contains(out, state) {
			t.Errorf("keys list after rotations lacks a %s key:\n%s", state, out)
		}
	}
	for _, bad := range [][]string{{}, {"frob"}, {"revoke"}, {"rotate", "--soon"}, {"list", "x"}} {
		if _, err := keys(bad...); err == nil {
			t.Errorf("keys %q: no error", bad)
		}
	}
	if _, err := keys("revoke", "no-such-kid"); err == nil {
		t.Error("keys revoke of an unknown kid: no error")
	}
}
