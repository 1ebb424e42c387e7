// Package testenv decides what a test does when a real component it needs
// (Chromium, PostgreSQL) is not installed: on a developer's machine it
// skips with a message saying what to install; in CI (the CI variable set,
// as .ci/run does) it fails, because CI installs them and a check that
// never runs proves nothing.
package testenv

import (
	"os"
	"testing"
)

// Missing skips tb, or fails it under CI, because what is not available;
// install says how to get it.
func Missing(tb testing.TB, what, install string, err error) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s is missing in CI: %v (%s)", what, err, install)
	} else {
		tb.Skipf("%s is not installed: %v (%s)", what, err, install)
	}
}

// Chromium is Missing for Debian's Chromium.
func Chromium(tb testing.TB, err error) {
	tb.Helper()
	Missing(tb, "Chromium", "apt-get install chromium chromium-headless-shell", err)
}
