package browser

import (
	"context"
	_ "embed"
	"encoding/json"
	"sync"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/tiktoken-go/tokenizer/codec"
)

// observeJS walks the page's DOM and returns the compact view; see the
// comment at its top.
//
//go:embed observe.js
var observeJS string

// Observe returns the compact view of the viewport: its visible text with
// interactive elements numbered, and notes of what lies above and below.
func (t *chromiumTab) Observe(ctx context.Context, opts ObserveOptions) (Observation, error) {
	type result struct {
		URL   string `json:"url"`
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	r, err := evalJS[result](t, ctx, "observing the page", observeJS)
	if err != nil {
		return Observation{}, err
	}
	obs := Observation{URL: r.URL, Title: r.Title, Text: r.Text}
	if opts.Screenshot {
		err := t.run(ctx, t.c.cfg.CallTimeout, "taking a screenshot", func(ctx context.Context) error {
			q := int64(70)
			shot, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
				Format: page.CaptureScreenshotFormatJpeg, Quality: &q, OptimizeForSpeed: ptr(true),
			})
			obs.Screenshot = shot.Data
			return err
		})
		if err = t.hung(err); err != nil {
			return Observation{}, err
		}
	}
	return obs, nil
}

func ptr[T any](v T) *T { return &v }

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var o200k = sync.OnceValue(codec.NewO200kBase)

// CountTokens counts the tokens of s in o200k_base, the encoding of
// OpenAI's current models, offline: a close enough measure for other
// models' tokenizers too.
func CountTokens(s string) int {
	n, err := o200k().Count(s)
	if err != nil {
		return len(s) / 4
	}
	return n
}
