package agent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/task"
)

func priceSite(price string) *fakeSite {
	site := newFakeSite()
	site.add("https://shop.test/anvil", &fakePage{title: "Acme Anvil", text: "Acme Anvil costs $" + price,
		elems: []fakeElem{{kind: "link", label: "Reviews", href: "https://shop.test/reviews"}}})
	site.add("https://shop.test/reviews", &fakePage{title: "Reviews", text: "5 stars"})
	return site
}

func runWithMemo(t *testing.T, site agent.Browser, srv *modeltest.Server, memo *task.RunMemo) result {
	t.Helper()
	return runAgentMemo(t, site, srv, task.Task{Spec: spec("What does the anvil cost?", "https://shop.test/anvil")}, nil, memo)
}

// TestMemoAnswersAnUnchangedPageWithoutTheModel: a monitor's run whose
// page reads as at the previous run gives the previous answer again with
// no model call and 0 tokens; a changed page, or an answer that needed an
// action beyond reading the first page, is never reused.
func TestMemoAnswersAnUnchangedPageWithoutTheModel(t *testing.T) {
	first := modeltest.New(t, modeltest.ToolCall("done", map[string]string{"answer": "$30"}))
	r1 := runWithMemo(t, priceSite("30"), first, nil)
	if r1.out.Message != "$30" || r1.out.PageHash == "" || r1.out.Usage.InputTokens == 0 {
		t.Fatalf("first run: %+v", r1.out)
	}
	memo := &task.RunMemo{PageHash: r1.out.PageHash, Answer: r1.out.Message}

	// The same page: no model call at all (the script has no step).
	none := modeltest.New(t)
	r2 := runWithMemo(t, priceSite("30"), none, memo)
	if r2.out.Message != "$30" || r2.out.Code != "" || r2.out.Usage.InputTokens != 0 || r2.out.Usage.OutputTokens != 0 ||
		r2.out.PageHash != memo.PageHash || len(none.Requests()) != 0 {
		t.Fatalf("unchanged page: %+v, %d model calls", r2.out, len(none.Requests()))
	}
	if last := r2.steps[len(r2.steps)-1]; last.Action != "unchanged" {
		t.Errorf("steps %+v: want an unchanged step", r2.steps)
	}

	// The page changed: the model is asked.
	again := modeltest.New(t, modeltest.ToolCall("done", map[string]string{"answer": "$25"}))
	r3 := runWithMemo(t, priceSite("25"), again, memo)
	if r3.out.Message != "$25" || len(again.Requests()) != 1 || r3.out.PageHash == memo.PageHash {
		t.Fatalf("changed page: %+v", r3.out)
	}

	// An answer read after following a link came from more than the first
	// page: it gets no fingerprint, so it is never reused.
	clicked := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elemNumber(t, lastObs(r), "Reviews")}}}}
		},
		modeltest.ToolCall("done", map[string]string{"answer": "5 stars"}))
	r4 := runWithMemo(t, priceSite("30"), clicked, nil)
	if r4.out.Message != "5 stars" || r4.out.PageHash != "" {
		t.Fatalf("answer after an action: %+v", r4.out)
	}
}

// elemNumber finds the [n] of the element whose line mentions label.
func elemNumber(t *testing.T, obs, label string) int {
	t.Helper()
	for _, line := range strings.Split(obs, "\n") {
		if i := strings.Index(line, "["); i >= 0 && strings.Contains(line, label) {
			var n int
			if _, err := fmt.Sscanf(line[i:], "[%d]", &n); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no element %q in %s", label, obs)
	return 0
}

// staticLoader serves one page for the built-in extractor.
type staticLoader struct{ html string }

func (l staticLoader) Fetch(ctx context.Context, rawURL string, opts browser.PageOptions) (browser.Page, error) {
	return browser.Page{URL: rawURL, Status: 200, HTML: []byte(l.html)}, nil
}

func TestMemoBuiltin(t *testing.T) {
	page := func(price string) string {
		return `<html><head><title>Acme Anvil</title><script type="application/ld+json">{"@type":"Product","name":"Acme Anvil","offers":{"price":"` + price + `"}}</script></head><body><h1>Acme Anvil</h1></body></html>`
	}
	s := spec("Extract the product", "https://shop.test/anvil")
	s.OutputType, s.OutputSchema = task.OutputJSON, []byte(`{"type":"object","properties":{"title":{"type":"string"},"price":{"type":"number"}},"required":["title","price"]}`)
	run := func(html string, memo *task.RunMemo) (task.Outcome, []task.Step) {
		var steps []task.Step
		out := (&agent.Builtin{Loader: staticLoader{html}}).Run(context.Background(), agent.Request{
			Task: task.Task{ID: "task_1", Spec: s}, Step: func(st task.Step) { steps = append(steps, st) }, Memo: memo})
		return out, steps
	}
	o1, _ := run(page("30"), nil)
	if o1.Code != "" || !strings.Contains(o1.Message, `"price":30`) || o1.PageHash == "" {
		t.Fatalf("first: %+v", o1)
	}
	// A memo whose answer differs from what extraction would give shows
	// which path answered.
	memo := &task.RunMemo{PageHash: o1.PageHash, Answer: `{"title":"from the memo","price":30}`}
	o2, steps := run(page("30"), memo)
	if o2.Message != memo.Answer || steps[len(steps)-1].Action != "unchanged" {
		t.Fatalf("unchanged page: %+v %+v", o2, steps)
	}
	o3, _ := run(page("25"), memo)
	if !strings.Contains(o3.Message, `"price":25`) || o3.PageHash == o1.PageHash {
		t.Fatalf("changed page: %+v", o3)
	}
}
