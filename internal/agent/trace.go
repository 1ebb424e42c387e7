package agent

import (
	"context"
	"errors"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

// A step's screenshot for the task's trace is the viewport right after the
// step's action. When the task has no secrets the capture does not touch
// the page, so it runs beside what the loop does next (observe the page,
// ask the model): the step waits for it on its way to the engine, in order,
// and the loop waits for it only before the next action — so the picture is
// never of a later page — and at the end of the run. With secrets the page
// is changed for the capture (the cover), so nothing runs beside it.

// pendingShot is a step's screenshot being taken.
type pendingShot struct {
	done chan struct{}
	shot *task.Screenshot // set before done is closed
}

func (p *pendingShot) taken() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// shoot takes the screenshot of a step for the task's trace: the viewport
// after the step's action, with the task's secret values covered (see
// browser.ScreenshotOptions.Hide). Steps that did not act on the page (a
// note, a call not run) and steps that ended with a broken browser or a
// stopped task have none (nil).
func (r *taskRun) shoot(ctx context.Context, call model.ToolCall, res actResult) *pendingShot {
	switch {
	case r.a.Trace.Off, r.tab == nil, call.Name == toolNote, res.notRun, ctx.Err() != nil:
		return nil
	case res.end != nil && res.end.Code == task.CodeBrowserError:
		return nil
	}
	hide := r.sec.values()
	p := &pendingShot{done: make(chan struct{})}
	take := func() {
		defer close(p.done)
		p.shot = r.a.Trace.Shoot(ctx, func(ctx context.Context, quality int, scale float64) ([]byte, int, int, error) {
			s, err := r.tab.Screenshot(ctx, browser.ScreenshotOptions{Quality: quality, Scale: scale, Hide: hide})
			if err != nil {
				return nil, 0, 0, errors.New(r.sec.mask(err.Error()))
			}
			return s.JPEG, s.Width, s.Height, nil
		})
		if p.shot != nil && len(p.shot.JPEG) == 0 && ctx.Err() != nil {
			p.shot = nil // the run was stopped: no picture, and nothing to explain
		}
	}
	if len(hide) > 0 {
		began := time.Now()
		take()
		if r.a.shotWaited != nil {
			r.a.shotWaited(time.Since(began))
		}
		return p
	}
	r.inflight = p
	go take()
	return p
}

// settleShot waits for the screenshot in flight, before anything changes
// the page.
func (r *taskRun) settleShot() {
	if r.inflight == nil {
		return
	}
	began := time.Now()
	<-r.inflight.done
	r.inflight = nil
	if r.a.shotWaited != nil {
		r.a.shotWaited(time.Since(began))
	}
}

// emit numbers a step and hands it to the engine, with its screenshot
// once taken; steps keep their order.
func (r *taskRun) emit(s task.Step, p *pendingShot) {
	r.steps++
	s.N = r.steps
	s.At = r.now()
	if r.line == nil && (p == nil || p.taken()) {
		if p != nil {
			s.Screenshot = p.shot
		}
		r.req.Step(s)
		return
	}
	if r.line == nil {
		r.line = newStepLine(r.req.Step)
	}
	r.line.in <- linedStep{s, p}
}

// stepLine hands steps to the engine in order, each once its screenshot
// is taken.
type stepLine struct {
	in   chan linedStep
	done chan struct{}
}

type linedStep struct {
	step task.Step
	shot *pendingShot
}

func newStepLine(deliver func(task.Step)) *stepLine {
	l := &stepLine{in: make(chan linedStep, 64), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ls := range l.in {
			if ls.shot != nil {
				<-ls.shot.done
				ls.step.Screenshot = ls.shot.shot
			}
			deliver(ls.step)
		}
	}()
	return l
}

// drain waits until every step is handed over.
func (l *stepLine) drain() {
	close(l.in)
	<-l.done
}

// PageScreenshot is what the built-in extractor's Chromium loader calls
// once a page has loaded (browser.ChromiumLoader.Screenshot): the loaded
// page's screenshot for the task's trace, with c's quality and size bound.
// The built-in extractor never types secrets, so there is nothing to
// cover.
func PageScreenshot(c trace.Capture) func(ctx context.Context, tab Tab) *task.Screenshot {
	return func(ctx context.Context, tab Tab) *task.Screenshot {
		shot := c.Shoot(ctx, func(ctx context.Context, quality int, scale float64) ([]byte, int, int, error) {
			s, err := tab.Screenshot(ctx, browser.ScreenshotOptions{Quality: quality, Scale: scale})
			return s.JPEG, s.Width, s.Height, err
		})
		if shot != nil && len(shot.JPEG) == 0 && ctx.Err() != nil {
			return nil
		}
		return shot
	}
}
