package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/extract"
	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
)

// Loader loads a page: the plain-HTTP fetcher, or Chromium when a browser is
// configured (so pages that need JavaScript work without a model too).
type Loader interface {
	Fetch(ctx context.Context, rawURL string, opts browser.PageOptions) (browser.Page, error)
}

// Builtin answers tasks without a language model: it loads startingPoint
// and extracts what the page declares (see package extract). It uses no
// tokens.
type Builtin struct {
	Loader Loader
	Now    func() time.Time
}

// Run implements Agent.
func (b *Builtin) Run(ctx context.Context, req Request) task.Outcome {
	now := b.Now
	if now == nil {
		now = time.Now
	}
	spec := req.Task.Spec
	if spec.StartingPoint == "" {
		return task.Outcome{Code: task.CodeOutputInvalid,
			Error: "the built-in extractor (no model configured) needs a startingPoint to read"}
	}

	began := now()
	page, err := b.Loader.Fetch(ctx, spec.StartingPoint, pageOptions(spec))
	args, _ := json.Marshal(map[string]string{"url": spec.StartingPoint})
	st := task.Step{N: 1, Action: "navigate", Args: args, URL: page.URL, DurationMs: now().Sub(began).Milliseconds()}
	out := task.Outcome{Network: page.Visited}
	if err != nil {
		st.Error = err.Error()
		req.Step(st)
		out.Code = failureCode(err)
		if out.Code == "" {
			out.Code = task.CodeNavigationTimeout
		}
		out.Error = "could not load " + spec.StartingPoint + ": " + err.Error()
		return out
	}
	st.Screenshot = page.Screenshot // the loaded page, when the loader took one
	req.Step(st)
	if page.Status >= 400 {
		out.Code = task.CodeOutputInvalid
		out.Error = fmt.Sprintf("the page answered HTTP %d: nothing to extract", page.Status)
		return out
	}

	out.PageHash = pageHash(spec, page.URL, string(page.HTML))
	if answer, ok := reuse(req.Memo, out.PageHash); ok {
		req.Step(unchangedStep(2, page.URL))
		out.Message = answer
		return out
	}

	began = now()
	msg, err := extractAnswer(page, spec)
	st = task.Step{N: 2, Action: "extract", URL: page.URL, DurationMs: now().Sub(began).Milliseconds()}
	if err != nil {
		st.Error = err.Error()
		req.Step(st)
		out.Code = task.CodeOutputInvalid
		out.Error = err.Error()
		return out
	}
	req.Step(st)
	out.Message = msg
	return out
}

// pageOptions are what a task asks of the pages it loads.
func pageOptions(spec task.Spec) browser.PageOptions {
	return browser.PageOptions{AvoidDomains: spec.AvoidDomains, SettleTimeout: spec.SettleTimeout}
}

func extractAnswer(page browser.Page, spec task.Spec) (string, error) {
	r := extract.Request{Type: spec.OutputType, Instruction: spec.TaskDetails}
	switch spec.OutputType {
	case task.OutputJSON:
		s, err := output.CompileSchema(spec.OutputSchema)
		if err != nil {
			return "", err
		}
		r.Schema = s
	case task.OutputCSV:
		cols, err := output.ParseColumns(spec.OutputSchema)
		if err != nil {
			return "", err
		}
		r.Columns = cols
	}
	res, err := extract.Extract(extract.Page{URL: page.URL, HTML: page.HTML}, r)
	if err != nil {
		return "", err
	}
	return res.Message, nil
}
