package agent

import (
	"context"
	"errors"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/task"
)

// shoot takes the screenshot of a step for the task's trace: the viewport
// after the step's action, with the task's secret values covered (see
// browser.ScreenshotOptions.Hide). Steps that did not act on the page (a
// note, a call not run) and steps that ended with a broken browser or a
// stopped task have none.
func (r *taskRun) shoot(ctx context.Context, call model.ToolCall, res actResult) *task.Screenshot {
	switch {
	case r.tab == nil, call.Name == toolNote, res.notRun, ctx.Err() != nil:
		return nil
	case res.end != nil && res.end.Code == task.CodeBrowserError:
		return nil
	}
	hide := r.sec.values()
	return r.a.Trace.Shoot(ctx, func(ctx context.Context, quality int, scale float64) ([]byte, int, int, error) {
		s, err := r.tab.Screenshot(ctx, browser.ScreenshotOptions{Quality: quality, Scale: scale, Hide: hide})
		if err != nil {
			return nil, 0, 0, errors.New(r.sec.mask(err.Error()))
		}
		return s.JPEG, s.Width, s.Height, nil
	})
}
