package apptest

import (
	"os"
	"os/exec"
	"testing"
)

// Binary returns the path of a program a test starts (a real Prometheus,
// HAProxy, ...), installed by Debian package pkg. Without it the test is
// skipped, except under CI (CI set), where .ci/run installs the package
// and its absence is a failure.
func Binary(t testing.TB, path, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found (%v): install the Debian package %s (.ci/run installs it)", path, err, pkg)
	}
	t.Skipf("%s not found: install the Debian package %s to run this test", path, pkg)
	return ""
}
