package agent_test

// Three multi-step flows on local sites — a sign-in with secrets, a
// paginated list, a form with a select and a checkbox — recorded with the
// fake model and replayed without it. The test checks the replays; the
// benchmarks measure model calls and wall time (BENCHMARKS.md, "Learned
// tasks").

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
)

// flow is one task on one local site.
type flow struct {
	name string
	// setup starts the site and returns the task, the model's script for
	// a first run, and the answer a run now should give.
	setup func(tb testing.TB) (spec task.Spec, script []modeltest.Step, want func() string)
}

var flows = []flow{
	{"login-with-secrets", func(tb testing.TB) (task.Spec, []modeltest.Step, func() string) {
		spec, script, _ := loginFlow(tb)
		return spec, script, func() string { return firstAnswer }
	}},
	{"paginated-list", func(tb testing.TB) (task.Spec, []modeltest.Step, func() string) {
		pages := [][][2]string{
			{{"Anvil", "$29.99"}, {"Rocket skates", "$149.00"}, {"Magnet", "$9.50"}},
			{{"Bird seed", "$4.00"}, {"Tornado kit", "$99.00"}, {"Earthquake pills", "$2.50"}},
			{{"Giant rubber band", "$12.00"}, {"Dehydrated boulders", "$19.99"}},
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
			n := 1
			fmt.Sscan(r.URL.Query().Get("page"), &n)
			if n < 1 || n > len(pages) {
				http.NotFound(w, r)
				return
			}
			var b strings.Builder
			for _, p := range pages[n-1] {
				fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td></tr>", p[0], p[1])
			}
			next := ""
			if n < len(pages) {
				next = fmt.Sprintf(`<a href="/products?page=%d">Next page</a>`, n+1)
			}
			page("Products", fmt.Sprintf(`<h1>Products</h1><table><thead><tr><th>Product</th><th>Price</th></tr></thead><tbody>%s</tbody></table><p>Page %d of %d</p>%s`,
				b.String(), n, len(pages), next))(w, r)
		})
		site := serve(tb, "catalog.test", mux)
		var csv strings.Builder
		csv.WriteString("product,price\n")
		for _, pg := range pages {
			for _, p := range pg {
				csv.WriteString(p[0] + "," + p[1] + "\n")
			}
		}
		spec := task.Spec{TaskDetails: "List every product with its price, across all pages.", StartingPoint: site + "/products?page=1",
			OutputType: task.OutputCSV, OutputSchema: []byte(`["product","price"]`), Replay: task.ReplayAuto}
		noteAndNext := func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "note", Args: map[string]any{"text": "rows so far"}},
				{Name: "click", Args: map[string]any{"id": elementID(tb, r.Body.Last(), `<a href="/products\?page=\d">Next page`)}},
			}}
		}
		return spec, []modeltest.Step{noteAndNext, noteAndNext, answerTurn(csv.String())}, func() string { return csv.String() }
	}},
	{"form-select-checkbox", func(tb testing.TB) (task.Spec, []modeltest.Step, func() string) {
		var orders atomic.Int64
		orders.Store(1041)
		var mu sync.Mutex
		last := ""
		mux := http.NewServeMux()
		mux.Handle("GET /order", page("Order a mug", `<h1>Order a mug</h1><form method=post action=/order>
<label>Your name <input name=name required></label>
<label>Size <select name=size><option value=s>Small</option><option value=l>Large</option></select></label>
<label><input type=checkbox name=gift value=yes> Gift wrap</label>
<button type=submit>Place order</button></form>`))
		mux.HandleFunc("POST /order", func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			size := map[string]string{"s": "Small", "l": "Large"}[r.PostForm.Get("size")]
			gift := "no"
			if r.PostForm.Get("gift") == "yes" {
				gift = "yes"
			}
			n := orders.Add(1)
			mu.Lock()
			last = fmt.Sprintf(`{"order":"F-%d","size":"%s","giftWrap":"%s"}`, n, size, gift)
			mu.Unlock()
			page("Thank you", fmt.Sprintf(`<h1>Thank you, %s</h1><p>Order number: F-%d</p><p>Size: %s</p><p>Gift wrap: %s</p>`,
				r.PostForm.Get("name"), n, size, gift))(w, r)
		})
		site := serve(tb, "mugs.test", mux)
		spec := task.Spec{TaskDetails: "Order a large mug, gift wrapped, for Ada Lovelace; give me the order number.", StartingPoint: site + "/order",
			OutputType: task.OutputJSON, Replay: task.ReplayAuto,
			OutputSchema: []byte(`{"type":"object","properties":{"order":{"type":"string"},"size":{"type":"string"},"giftWrap":{"type":"string"}},"required":["order","size","giftWrap"]}`)}
		fill := func(r modeltest.Request) modeltest.Reply {
			obs := r.Body.Last()
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "type", Args: map[string]any{"id": elementID(tb, obs, `<input type=text label="Your name"`), "text": "Ada Lovelace"}},
				{Name: "select", Args: map[string]any{"id": elementID(tb, obs, `<select`), "value": "Large"}},
				{Name: "click", Args: map[string]any{"id": elementID(tb, obs, `<input type=checkbox`)}},
			}}
		}
		answer := func(r modeltest.Request) modeltest.Reply {
			mu.Lock()
			defer mu.Unlock()
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]any{"answer": last}}}}
		}
		want := func() string {
			mu.Lock()
			defer mu.Unlock()
			return last
		}
		return spec, []modeltest.Step{fill, clickTurn(tb, `<button>Place order`), answer}, want
	}},
}

// loginFlow is the sign-in flow on a fresh shop, whose pages the caller
// may make drift.
func loginFlow(tb testing.TB) (task.Spec, []modeltest.Step, *shop) {
	sh := newShop()
	site := serve(tb, "shop.test", sh.handler())
	spec := task.Spec{
		TaskDetails: "Sign in and list my orders with their totals.", StartingPoint: site + "/login",
		OutputType: task.OutputJSON, OutputSchema: []byte(ordersSchema), Replay: task.ReplayAuto,
		Secrets: []task.Secret{{Match: "shop.test", Fields: map[string]string{"email": "ada@shop.test", "password": "first-Pa55!"}}},
	}
	return spec, []modeltest.Step{signInTurn(tb), clickTurn(tb, `<a href=/orders>Orders`), answerTurn(firstAnswer)}, sh
}

// flowRun is one run of a flow.
type flowRun struct {
	out   task.Outcome
	log   string
	calls int
	wall  time.Duration
}

var flowTask atomic.Int64

// runFlow runs spec with the model answering script, each answer after
// latency, and the recipe book book.
func runFlow(tb testing.TB, book agent.RecipeBook, spec task.Spec, script []modeltest.Step, latency time.Duration) flowRun {
	tb.Helper()
	slow := make([]modeltest.Step, len(script))
	for i, s := range script {
		slow[i] = func(r modeltest.Request) modeltest.Reply {
			time.Sleep(latency)
			return s(r)
		}
	}
	fake := modeltest.New(tb, slow...)
	client, err := model.New(model.Config{BaseURL: fake.URL, APIKey: "k", Model: "m", MaxRetryDelay: time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	a := &agent.LLM{Model: client, Browser: chromium, Recipes: book}
	tk := e2eTask(tb, spec)
	tk.TenantID = "ten_flows"
	tk.ID = fmt.Sprintf("task_flow%d", flowTask.Add(1))
	var b strings.Builder
	began := time.Now()
	out := a.Run(context.Background(), agent.Request{Task: tk, Step: func(s task.Step) {
		fmt.Fprintf(&b, "%d %s %s %s\n", s.N, s.Action, s.Args, s.Error)
	}})
	return flowRun{out: out, log: b.String(), calls: len(fake.Requests()), wall: time.Since(began)}
}

func flowBook(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(tb.TempDir(), "errand.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// Each flow: the first run asks the model at every turn and is recorded;
// the second gives the answer of now without a single model call.
func TestRecipeFlows(t *testing.T) {
	needChromium(t)
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			spec, script, want := f.setup(t)
			book := flowBook(t)
			first := runFlow(t, book, spec, script, 0)
			if first.out.Code != "" || first.calls != len(script) || first.out.Replay == nil || first.out.Replay.Recorded != 1 {
				t.Fatalf("first run: %s %s, %d calls, %+v\n%s", first.out.Code, first.out.Error, first.calls, first.out.Replay, first.log)
			}
			if strings.Contains(first.log, "not tied") {
				t.Errorf("the answer was not tied to the page:\n%s", first.log)
			}
			second := runFlow(t, book, spec, nil, 0)
			if second.out.Code != "" || second.calls != 0 || second.out.Replay.Mode != "replayed" {
				t.Fatalf("replay: %s %s, %d calls, %+v\n%s", second.out.Code, second.out.Error, second.calls, second.out.Replay, second.log)
			}
			if strings.TrimSpace(second.out.Message) != strings.TrimSpace(want()) {
				t.Errorf("replayed answer:\n%s\nwant:\n%s", second.out.Message, want())
			}
		})
	}
}

// BenchmarkLearnedTasks times each flow's first run (the model at every
// turn) and second run (the replay), with the fake model answering at once
// and after 800 ms (a realistic hosted model's turn).
//
//	go test ./internal/agent -run '^$' -bench LearnedTasks -benchtime 3x
func BenchmarkLearnedTasks(b *testing.B) {
	needChromium(b)
	for _, f := range flows {
		for _, latency := range []time.Duration{0, 800 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/model=%dms", f.name, latency.Milliseconds()), func(b *testing.B) {
				var firstWall, secondWall time.Duration
				var firstCalls, secondCalls int
				for b.Loop() {
					spec, script, _ := f.setup(b)
					book := flowBook(b)
					first := runFlow(b, book, spec, script, latency)
					second := runFlow(b, book, spec, nil, latency)
					if first.out.Code != "" || second.out.Code != "" {
						b.Fatalf("%s: %s %s / %s %s\n%s\n%s", f.name, first.out.Code, first.out.Error, second.out.Code, second.out.Error, first.log, second.log)
					}
					firstWall += first.wall
					secondWall += second.wall
					firstCalls += first.calls
					secondCalls += second.calls
				}
				n := float64(b.N)
				b.ReportMetric(float64(firstWall.Milliseconds())/n, "first-ms")
				b.ReportMetric(float64(secondWall.Milliseconds())/n, "replay-ms")
				b.ReportMetric(float64(secondWall)/float64(firstWall), "replay/first")
				b.ReportMetric(float64(firstCalls)/n, "first-calls")
				b.ReportMetric(float64(secondCalls)/n, "replay-calls")
			})
		}
	}
}

// BenchmarkLearnedTaskHeal counts the model calls a drifted sign-in flow
// needs: healing its recipe, against a fresh run on the drifted site.
//
//	go test ./internal/agent -run '^$' -bench LearnedTaskHeal -benchtime 1x
func BenchmarkLearnedTaskHeal(b *testing.B) {
	needChromium(b)
	drifts := []struct {
		name, drift string
		heal, fresh func(tb testing.TB) []modeltest.Step
	}{
		{"renamed", "renamed", func(tb testing.TB) []modeltest.Step {
			return []modeltest.Step{clickTurn(tb, `<a href=/orders>Order history`)}
		}, func(tb testing.TB) []modeltest.Step {
			return []modeltest.Step{signInTurn(tb), clickTurn(tb, `<a href=/orders>Order history`), answerTurn(firstAnswer)}
		}},
		{"moved-into-menu", "menu", func(tb testing.TB) []modeltest.Step {
			return []modeltest.Step{clickTurn(tb, `<button>Account menu`), clickTurn(tb, `<a href=/orders>Orders`)}
		}, func(tb testing.TB) []modeltest.Step {
			return []modeltest.Step{signInTurn(tb), clickTurn(tb, `<button>Account menu`), clickTurn(tb, `<a href=/orders>Orders`), answerTurn(firstAnswer)}
		}},
		{"field-added", "field", func(tb testing.TB) []modeltest.Step {
			return []modeltest.Step{clickTurn(tb, `<input type=checkbox`), clickTurn(tb, `<button>Sign in`)}
		}, func(tb testing.TB) []modeltest.Step {
			return []modeltest.Step{func(r modeltest.Request) modeltest.Reply {
				obs := r.Body.Last()
				return modeltest.Reply{Calls: []modeltest.Call{
					{Name: "type", Args: map[string]any{"id": elementID(tb, obs, `<input type=email`), "text": "{{email}}"}},
					{Name: "type", Args: map[string]any{"id": elementID(tb, obs, `<input type=password`), "text": "{{password}}"}},
					{Name: "click", Args: map[string]any{"id": elementID(tb, obs, `<input type=checkbox`)}},
				}}
			}, clickTurn(tb, `<button>Sign in`), clickTurn(tb, `<a href=/orders>Orders`), answerTurn(firstAnswer)}
		}},
	}
	for _, d := range drifts {
		b.Run(d.name, func(b *testing.B) {
			var healCalls, freshCalls int
			var healWall, freshWall time.Duration
			for b.Loop() {
				spec, script, sh := loginFlow(b)
				book := flowBook(b)
				if r := runFlow(b, book, spec, script, 0); r.out.Code != "" {
					b.Fatalf("recording: %s %s", r.out.Code, r.out.Error)
				}
				sh.set(func(s *shop) { s.drift = d.drift })
				heal := runFlow(b, book, spec, d.heal(b), 0)
				fresh := runFlow(b, flowBook(b), spec, d.fresh(b), 0)
				if heal.out.Code != "" || fresh.out.Code != "" || heal.out.Replay.Mode != "healed" {
					b.Fatalf("heal %s %s %+v / fresh %s %s\n%s", heal.out.Code, heal.out.Error, heal.out.Replay, fresh.out.Code, fresh.out.Error, heal.log)
				}
				healCalls += heal.calls
				freshCalls += fresh.calls
				healWall += heal.wall
				freshWall += fresh.wall
			}
			n := float64(b.N)
			b.ReportMetric(float64(healCalls)/n, "heal-calls")
			b.ReportMetric(float64(freshCalls)/n, "fresh-calls")
			b.ReportMetric(float64(healWall.Milliseconds())/n, "heal-ms")
			b.ReportMetric(float64(freshWall.Milliseconds())/n, "fresh-ms")
		})
	}
}
