package testenv_test

import (
	"errors"
	"testing"

	"github.com/errandhq/errand/internal/testenv"
)

// recorder is a testing.TB that notes whether it was failed or skipped
// instead of stopping the goroutine.
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }

func TestMissingFailsInCIAndSkipsElsewhere(t *testing.T) {
	err := errors.New("not found")
	t.Setenv("CI", "true")
	ci := &recorder{TB: t}
	testenv.Chromium(ci, err)
	if !ci.failed || ci.skipped {
		t.Errorf("with CI set: failed %v skipped %v, want a failure", ci.failed, ci.skipped)
	}
	t.Setenv("CI", "")
	dev := &recorder{TB: t}
	testenv.Missing(dev, "PostgreSQL", "apt-get install postgresql", err)
	if dev.failed || !dev.skipped {
		t.Errorf("without CI: failed %v skipped %v, want a skip", dev.failed, dev.skipped)
	}
}
