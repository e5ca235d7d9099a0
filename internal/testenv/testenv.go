// Package testenv decides what a test does when something it needs is missing
// from the machine: outside CI it skips with the install hint; in CI (CI set to
// anything but "" or "false") it fails, so a missing dependency can never turn
// into a silently green run.
package testenv

import (
	"os"
	"testing"
)

// InCI reports whether the tests run under CI.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Need stops the test when ok is false: a failure in CI, a skip elsewhere.
// why must say what is missing and how to install it.
func Need(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("required for this test in CI: %s", why)
	}
	t.Skipf("skipped (set CI=1 to make this a failure): %s", why)
}

// NeedRoot stops the test unless it runs as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "must run as root: "+why)
}
