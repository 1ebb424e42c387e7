package browser

import (
	"context"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// BrowserPID is the launched browser's process id (0 when none runs), for
// the tests that kill it and the benchmark that measures its memory.
func BrowserPID(c *Chromium) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil || c.inst.browser.Process() == nil {
		return 0
	}
	return c.inst.browser.Process().Pid
}

// OutOfProcessFrames counts the out-of-process frames a tab's page has
// attached, so that a test can tell site isolation was in effect.
func OutOfProcessFrames(tb Tab) int {
	t := tb.(*sessionTab).top()
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.oopifs)
}

// ThrottleCPU slows the tab's renderer down rate times (1: full speed),
// as a machine short of CPU would.
func ThrottleCPU(ctx context.Context, tb Tab, rate float64) error {
	t := tb.(*sessionTab).top()
	return t.run(ctx, t.c.cfg.CallTimeout, "throttling the CPU", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: rate})
		return err
	})
}
