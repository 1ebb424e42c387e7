package agent_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/task"
)

// The figures of this benchmark are written down in BENCHMARKS.md:
//
//	go test -run '^$' -bench StepTrace -benchtime 6x ./internal/agent/

// BenchmarkStepTrace measures what the trace's screenshots cost a task in
// real Chromium: a task visits the eight production-weight corpus pages of
// package browser (one navigate step each, then done), with screenshots on
// and off, run in turn.
//
// step-wait-ms is what a screenshot adds to its step: how long the loop
// waits for it — before the next action, or at the end of the run — median
// (and p90) over every step. A task without secrets captures beside its
// next observation and model call, so with a model that takes a moment to
// answer only the last step waits; a task with secrets captures in line
// (the page is changed to cover them). wall-diff-ms/step is the difference
// of the medians of a run's time per step with and without screenshots,
// which also counts the CPU the captures take from the rest (noisy on a
// shared machine). KiB/step is the median JPEG size.
func BenchmarkStepTrace(b *testing.B) {
	c := needChromium(b)
	site := serve(b, "corpus.test", http.FileServer(http.Dir(filepath.Join("..", "browser", "testdata", "corpus"))))
	pages, _ := filepath.Glob(filepath.Join("..", "browser", "testdata", "corpus", "*.html"))
	cases := []struct {
		name    string
		latency time.Duration
		secrets []task.Secret
	}{
		{"model=0ms", 0, nil},
		{"model=500ms", 500 * time.Millisecond, nil},
		{"model=500ms/secrets", 500 * time.Millisecond, []task.Secret{{Match: "*", Fields: map[string]string{"email": "alice@example.org", "password": "p@ss w0rd"}}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			perStep := map[bool][]float64{}
			var sizes, waits []float64
			for b.Loop() {
				for _, off := range []bool{false, true} {
					var script []modeltest.Step
					for _, p := range pages {
						script = append(script, delayed(tc.latency, modeltest.ToolCall("navigate", map[string]string{"url": site + "/" + filepath.Base(p)})))
					}
					script = append(script, delayed(tc.latency, modeltest.ToolCall("done", map[string]string{"answer": "read"})))
					fake := modeltest.New(b, script...)
					client, err := model.New(model.Config{BaseURL: fake.URL, APIKey: modelKey, Model: "test-model"})
					if err != nil {
						b.Fatal(err)
					}
					a := &agent.LLM{Model: client, Browser: c}
					a.Trace.Off = off
					agent.OnShotWait(a, func(d time.Duration) { waits = append(waits, float64(d.Microseconds())/1000) })
					tk := e2eTask(b, task.Spec{TaskDetails: "Read the pages", OutputType: task.OutputText, Secrets: tc.secrets,
						MaxInputTokens: task.DefaultMaxTokens, MaxOutputTokens: task.DefaultMaxTokens})
					var steps []task.Step
					start := time.Now()
					out := a.Run(context.Background(), agent.Request{Task: tk, Step: func(s task.Step) { steps = append(steps, s) }})
					took := time.Since(start)
					if out.Code != "" || len(steps) != len(pages)+1 {
						b.Fatalf("run: %+v, %d steps", out, len(steps))
					}
					perStep[off] = append(perStep[off], float64(took.Microseconds())/1000/float64(len(steps)))
					for _, s := range steps {
						if !off && (s.Screenshot == nil || s.Screenshot.Bytes == 0) {
							b.Fatalf("step %s has no screenshot: %+v", s.Action, s.Screenshot)
						}
						if s.Screenshot != nil {
							sizes = append(sizes, float64(s.Screenshot.Bytes)/1024)
						}
					}
				}
			}
			b.ReportMetric(medianOf(waits), "step-wait-ms")
			b.ReportMetric(pct(waits, 0.9), "p90-step-wait-ms")
			b.ReportMetric(medianOf(perStep[false])-medianOf(perStep[true]), "wall-diff-ms/step")
			b.ReportMetric(medianOf(sizes), "KiB/step")
			b.ReportMetric(pct(sizes, 0.9), "p90-KiB/step")
		})
	}
}

func delayed(d time.Duration, s modeltest.Step) modeltest.Step {
	return func(r modeltest.Request) modeltest.Reply {
		time.Sleep(d)
		return s(r)
	}
}

func medianOf(v []float64) float64 { return pct(v, 0.5) }

func pct(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}
