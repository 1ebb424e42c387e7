package browser

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"image/jpeg"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ScreenshotOptions tune a step's screenshot (package trace).
type ScreenshotOptions struct {
	// Quality is the JPEG quality, 1 to 100. Default 60.
	Quality int
	// Scale shrinks the image: 0.5 is half the viewport's size. Default 1.
	Scale float64
	// Hide lists values that must not show: every form field whose value
	// contains one, and every piece of text that shows one, is covered by
	// an opaque box for the capture (case does not matter); a frame whose
	// content cannot be read is covered whole. When they cannot be covered
	// no image is taken. Default: none.
	Hide []string
}

// Screenshot is a JPEG of the viewport.
type Screenshot struct {
	JPEG          []byte
	Width, Height int
}

// errCannotHide is the error of a screenshot that was not taken because
// the values to hide could not be covered. It names no value.
var errCannotHide = errors.New("the task's secrets could not be covered on this page")

// coverJS is the secret cover; see its first comment.
//
//go:embed shot.js
var coverJS string

// Screenshot captures the viewport; see ScreenshotOptions.
func (t *chromiumTab) Screenshot(ctx context.Context, opts ScreenshotOptions) (Screenshot, error) {
	q := int64(opts.Quality)
	if q <= 0 || q > 100 {
		q = 60
	}
	var world runtime.ExecutionContextID
	if len(opts.Hide) > 0 {
		var err error
		world, err = t.cover(ctx, opts.Hide)
		if err != nil {
			return Screenshot{}, err
		}
		defer t.uncover(world)
	}
	var shot Screenshot
	err := t.run(ctx, t.c.cfg.CallTimeout, "taking a screenshot", func(ctx context.Context) error {
		p := page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatJpeg, Quality: &q, OptimizeForSpeed: ptr(true)}
		if opts.Scale > 0 && opts.Scale < 1 {
			m, err := chromedp.Call(ctx, page.GetLayoutMetrics, cdp.Empty{})
			if err != nil {
				return err
			}
			v := m.CSSVisualViewport
			p.Clip = &page.Viewport{X: v.PageX, Y: v.PageY, Width: v.ClientWidth, Height: v.ClientHeight, Scale: opts.Scale}
		}
		res, err := chromedp.Call(ctx, page.CaptureScreenshot, p)
		shot.JPEG = res.Data
		return err
	})
	if err = t.hung(err); err != nil {
		return Screenshot{}, err
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(shot.JPEG))
	if err != nil {
		return Screenshot{}, errors.New("the browser's screenshot is not a JPEG")
	}
	shot.Width, shot.Height = cfg.Width, cfg.Height
	return shot, nil
}

// cover runs the secret cover in an isolated world of the main frame and
// returns that world, for uncover.
func (t *chromiumTab) cover(ctx context.Context, hide []string) (runtime.ExecutionContextID, error) {
	values, _ := json.Marshal(hide) // strings: cannot fail
	var world runtime.ExecutionContextID
	err := t.run(ctx, t.c.cfg.CallTimeout, "covering secrets", func(ctx context.Context) error {
		w, err := chromedp.Call(ctx, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{
			FrameID: t.frameID, WorldName: "errand-trace",
		})
		if err != nil {
			return err
		}
		world = w.ExecutionContextID
		res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{
			Expression: strings.Replace(coverJS, "__SECRETS__", string(values), 1), ContextID: world, ReturnByValue: ptr(true),
		})
		if err != nil {
			return err
		}
		if res.ExceptionDetails != nil {
			return errCannotHide
		}
		return nil
	})
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, ctx.Err()
		}
		var be *BrowserError
		if errors.As(err, &be) {
			return 0, err
		}
		return 0, errCannotHide
	}
	return world, nil
}

// uncover takes the cover's boxes away.
func (t *chromiumTab) uncover(world runtime.ExecutionContextID) {
	ctx, cancel := context.WithTimeout(t.ctx, t.c.cfg.CallTimeout)
	defer cancel()
	chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{
		Expression: `window.__errandCover && window.__errandCover.remove(), delete window.__errandCover, true`, ContextID: world,
	})
}
