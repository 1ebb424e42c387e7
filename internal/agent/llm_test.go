package agent_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/task"
)

const modelKey = "sk-agent-test-key"

// The secret values of the login tests: chosen with characters that get
// escaped in URLs and HTML, so every form of them is checked.
const (
	secretEmail    = "alice+shop@example.org"
	secretPassword = "p@ss w0rd&<42>"
)

type result struct {
	out   task.Outcome
	steps []task.Step
}

// runAgent runs one task through the production model client against srv
// and the in-memory site.
func runAgent(t *testing.T, site agent.Browser, srv *modeltest.Server, tk task.Task, mut func(*agent.LLM)) result {
	t.Helper()
	return runAgentMemo(t, site, srv, tk, mut, nil)
}

// runAgentMemo is runAgent for a monitor's run, with the previous run's
// memo (see memo_test.go).
func runAgentMemo(t *testing.T, site agent.Browser, srv *modeltest.Server, tk task.Task, mut func(*agent.LLM), memo *task.RunMemo) result {
	t.Helper()
	client, err := model.New(model.Config{BaseURL: srv.URL, APIKey: modelKey, Model: "test-model", MaxRetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.LLM{Model: client, Browser: site}
	if mut != nil {
		mut(a)
	}
	if tk.SessionID == "" {
		tk.SessionID = "sess_1"
	}
	if tk.ID == "" {
		tk.ID = "task_1"
	}
	var res result
	res.out = a.Run(context.Background(), agent.Request{Task: tk, Step: func(s task.Step) { res.steps = append(res.steps, s) }, Memo: memo})
	return res
}

func spec(details, start string) task.Spec {
	return task.Spec{TaskDetails: details, StartingPoint: start, OutputType: task.OutputText,
		MaxInputTokens: task.DefaultMaxTokens, MaxOutputTokens: task.DefaultMaxTokens}
}

// lastObs is the latest page view in a request (the last message).
func lastObs(r modeltest.Request) string { return r.Body.Last() }

// toolResults joins the tool results a request carries.
func toolResults(r modeltest.Request) string {
	var b strings.Builder
	for _, m := range r.Body.Messages {
		if m.Role == "tool" {
			b.WriteString(m.Text() + "\n")
		}
	}
	return b.String()
}

func loginSite() *fakeSite {
	site := newFakeSite()
	site.add("https://shop.test/login", &fakePage{
		title: "Sign in",
		text:  "Sign in to Shop",
		elems: []fakeElem{
			{kind: "input", name: "email", label: "Email"},
			{kind: "input", name: "password", label: "Password"},
			{kind: "button", label: "Sign in", submit: true},
		},
		submit: func(v map[string]string) string {
			if v["email"] == secretEmail && v["password"] == secretPassword {
				// A GET form: the values land in the address.
				return "https://shop.test/account?email=" + url.QueryEscape(v["email"]) + "&pw=" + url.QueryEscape(v["password"])
			}
			return "https://shop.test/login?error=1"
		},
	})
	site.add("https://shop.test/account?email="+url.QueryEscape(secretEmail)+"&pw="+url.QueryEscape(secretPassword), &fakePage{
		title: "Your account",
		text:  "Welcome back, " + secretEmail + ". You have 3 open orders.",
	})
	site.add("https://evil.test/login", &fakePage{
		title: "Sign in",
		text:  "Totally shop.test",
		elems: []fakeElem{{kind: "input", name: "password", label: "Password"}},
	})
	return site
}

func loginTask() task.Task {
	s := spec("Log in and tell me how many open orders I have.", "https://shop.test/login")
	s.Secrets = []task.Secret{{Match: "*.shop.test", Fields: map[string]string{"email": secretEmail, "password": secretPassword}}}
	return task.Task{Spec: s}
}

// assertNoSecrets fails if any request the model received contains a
// secret value in any form.
func assertNoSecrets(t *testing.T, srv *modeltest.Server, values ...string) {
	t.Helper()
	for i, r := range srv.Requests() {
		text := string(r.Raw) + "\n" + r.Body.Text()
		for _, v := range values {
			for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v), mustMarshal(v)} {
				if strings.Contains(text, strings.Trim(form, `"`)) {
					t.Errorf("request %d contains secret %q (as %q)", i+1, v, form)
				}
			}
		}
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestLoginWithSecrets(t *testing.T) {
	site := loginSite()
	srv := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			sys := r.Body.Messages[0].Text()
			if !strings.Contains(sys, "{{email}}") || !strings.Contains(sys, "{{password}}") {
				t.Errorf("the system prompt does not list the placeholders: %s", sys)
			}
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "type", Args: map[string]any{"id": modeltest.ElementID(lastObs(r), "name=email"), "text": "{{email}}"}},
				{Name: "type", Args: map[string]any{"id": modeltest.ElementID(lastObs(r), "name=password"), "text": "{{password}}", "submit": true}},
			}}
		},
		func(r modeltest.Request) modeltest.Reply {
			if !strings.Contains(lastObs(r), "3 open orders") {
				t.Errorf("after login the model sees: %s", lastObs(r))
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "You have 3 open orders."}}}}
		},
	)
	res := runAgent(t, site, srv, loginTask(), nil)
	if res.out.Code != "" || res.out.Message != "You have 3 open orders." {
		t.Fatalf("outcome = %+v", res.out)
	}
	tab := site.tabs["sess_1"]
	if got := strings.Join(tab.typed, "|"); got != secretEmail+"|"+secretPassword {
		t.Errorf("the page received %q, want the real values", got)
	}
	assertNoSecrets(t, srv, secretEmail, secretPassword)

	// Steps: navigate, type, type, done; arguments and URLs masked.
	var actions []string
	for _, s := range res.steps {
		actions = append(actions, s.Action)
		blob := string(s.Args) + s.URL + s.Error
		for _, v := range []string{secretEmail, secretPassword, url.QueryEscape(secretEmail), url.QueryEscape(secretPassword)} {
			if strings.Contains(blob, v) {
				t.Errorf("step %d shows a secret: %s", s.N, blob)
			}
		}
	}
	if got := strings.Join(actions, ","); got != "navigate,type,type,done" {
		t.Errorf("steps = %s", got)
	}
	if !strings.Contains(string(res.steps[2].Args), "{{password}}") {
		t.Errorf("type step args = %s, want the placeholder", res.steps[2].Args)
	}
	if res.steps[1].InputTokens == 0 || res.steps[2].InputTokens != 0 {
		t.Errorf("tokens go to the first action of a model call: %+v / %+v", res.steps[1], res.steps[2])
	}
	for _, n := range res.out.Network {
		if strings.Contains(n.URL, url.QueryEscape(secretPassword)) {
			t.Errorf("network URL shows the password: %s", n.URL)
		}
	}
	if res.out.Usage.InputTokens == 0 || res.out.Usage.OutputTokens == 0 {
		t.Errorf("usage = %+v", res.out.Usage)
	}
}

func TestSecretRefusedOnOtherHost(t *testing.T) {
	site := loginSite()
	srv := modeltest.New(t,
		modeltest.ToolCall("type", map[string]any{"id": 1, "text": "{{password}}"}),
		func(r modeltest.Request) modeltest.Reply {
			last := r.Body.Messages[len(r.Body.Messages)-2] // the tool result, before the page view
			if last.Role != "tool" || !strings.Contains(last.Text(), "SECRET_NOT_ALLOWED") {
				t.Errorf("tool result = %s %q", last.Role, last.Text())
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "give_up", Args: map[string]string{"reason": "wrong site"}}}}
		},
	)
	tk := loginTask()
	tk.Spec.StartingPoint = "https://evil.test/login"
	res := runAgent(t, site, srv, tk, nil)
	if res.out.Code != task.CodeOutputInvalid {
		t.Errorf("outcome = %+v", res.out)
	}
	if typed := site.tabs["sess_1"].typed; len(typed) != 0 {
		t.Errorf("the page received %q", typed)
	}
	assertNoSecrets(t, srv, secretPassword)
}

func listSite(pages int) *fakeSite {
	site := newFakeSite()
	n := 0
	for p := 1; p <= pages; p++ {
		var items []string
		for i := 0; i < 2; i++ {
			n++
			items = append(items, "Item "+itoa(n)+" — $"+itoa(n*10))
		}
		pg := &fakePage{title: "Catalogue", text: "Page " + itoa(p) + " of " + itoa(pages) + "\n" + strings.Join(items, "\n")}
		if p < pages {
			pg.elems = []fakeElem{{kind: "link", label: "Next", href: "https://list.test/?page=" + itoa(p+1)}}
		}
		site.add("https://list.test/?page="+itoa(p), pg)
	}
	return site
}

func itoa(n int) string { return strconv.Itoa(n) }

// paginate is a model that notes each page's items and clicks Next until
// there is none, then answers with answer.
func paginate(t *testing.T, pages int, answer any) []modeltest.Step {
	var steps []modeltest.Step
	for p := 1; p <= pages; p++ {
		p := p
		steps = append(steps, func(r modeltest.Request) modeltest.Reply {
			obs := lastObs(r)
			if !strings.Contains(obs, "Page "+itoa(p)+" of") {
				t.Errorf("request for page %d shows: %s", p, obs)
			}
			if p > 1 && strings.Contains(r.Body.Text(), "Page "+itoa(p-1)+" of") {
				t.Errorf("request for page %d still carries the view of page %d", p, p-1)
			}
			calls := []modeltest.Call{{Name: "note", Args: map[string]string{"text": "page " + itoa(p) + " items seen"}}}
			if p < pages {
				calls = append(calls, modeltest.Call{Name: "click", Args: map[string]int{"id": modeltest.ElementID(obs, "Next")}})
			}
			return modeltest.Reply{Calls: calls}
		})
	}
	steps = append(steps, func(r modeltest.Request) modeltest.Reply {
		for p := 1; p <= pages; p++ {
			if !strings.Contains(r.Body.Last(), "page "+itoa(p)+" items seen") {
				t.Errorf("the notes of page %d are not kept", p)
			}
		}
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]any{"answer": answer}}}}
	})
	return steps
}

func TestPaginationJSON(t *testing.T) {
	schema := `{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"price":{"type":"number"}},"required":["name","price"]}}},"required":["items"]}`
	// The model sends the value itself, keys out of schema order.
	answer := map[string]any{"items": []any{
		map[string]any{"price": 10, "name": "Item 1"}, map[string]any{"price": 20, "name": "Item 2"},
		map[string]any{"price": 30, "name": "Item 3"}, map[string]any{"price": 40, "name": "Item 4"},
		map[string]any{"price": 50, "name": "Item 5"}, map[string]any{"price": 60, "name": "Item 6"},
	}}
	srv := modeltest.New(t, paginate(t, 3, answer)...)
	s := spec("Collect every item with its price.", "https://list.test/?page=1")
	s.OutputType, s.OutputSchema = task.OutputJSON, json.RawMessage(schema)
	res := runAgent(t, listSite(3), srv, task.Task{Spec: s}, nil)
	want := `{"items":[{"name":"Item 1","price":10},{"name":"Item 2","price":20},{"name":"Item 3","price":30},{"name":"Item 4","price":40},{"name":"Item 5","price":50},{"name":"Item 6","price":60}]}`
	if res.out.Code != "" || res.out.Message != want {
		t.Fatalf("outcome = %+v\nwant message %s", res.out, want)
	}
	if len(res.out.Network) != 3 {
		t.Errorf("network = %+v, want the 3 pages", res.out.Network)
	}
	// The schema is in the system prompt, once per request.
	if sys := srv.Requests()[0].Body.Messages[0].Text(); !strings.Contains(sys, `"required":["name","price"]`) {
		t.Errorf("system prompt = %s", sys)
	}
}

func TestPaginationCSV(t *testing.T) {
	csv := "name,price\nItem 1,10\nItem 2,20\nItem 3,30\nItem 4,40\n"
	srv := modeltest.New(t, paginate(t, 2, "```csv\n"+csv+"```")...)
	s := spec("Collect every item with its price.", "https://list.test/?page=1")
	s.OutputType, s.OutputSchema = task.OutputCSV, json.RawMessage(`["name","price"]`)
	res := runAgent(t, listSite(2), srv, task.Task{Spec: s}, nil)
	if res.out.Code != "" || res.out.Message != csv {
		t.Fatalf("outcome = %+v", res.out)
	}
	if sys := srv.Requests()[0].Body.Messages[0].Text(); !strings.Contains(sys, "name,price") {
		t.Errorf("system prompt = %s", sys)
	}
}

func TestInvalidAnswerRepairs(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]}`)
	t.Run("keeps answering invalid JSON", func(t *testing.T) {
		bad := modeltest.ToolCall("done", map[string]string{"answer": "{count: three"})
		srv := modeltest.New(t, bad, bad, bad)
		s := spec("Count.", "https://list.test/?page=1")
		s.OutputType, s.OutputSchema = task.OutputJSON, schema
		res := runAgent(t, listSite(1), srv, task.Task{Spec: s}, nil)
		if res.out.Code != task.CodeOutputInvalid || !strings.Contains(res.out.Error, "2 repair turns") {
			t.Fatalf("outcome = %+v", res.out)
		}
		reqs := srv.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%d model calls, want 1 + 2 repairs", len(reqs))
		}
		if len(reqs[0].Body.ResponseFormat) != 0 {
			t.Error("response_format sent before any repair")
		}
		for _, r := range reqs[1:] {
			if !strings.Contains(toolResults(r), "INVALID_ANSWER: the answer is not valid JSON") {
				t.Errorf("repair request lacks the validator's message: %s", r.Body.Text())
			}
			if !strings.Contains(string(r.Body.ResponseFormat), `"json_schema"`) {
				t.Errorf("repair request without response_format: %s", r.Body.ResponseFormat)
			}
		}
	})
	t.Run("repaired in the content", func(t *testing.T) {
		srv := modeltest.New(t,
			modeltest.ToolCall("done", map[string]any{"answer": map[string]string{"count": "three"}}),
			modeltest.Text(`{"count": 3}`))
		s := spec("Count.", "https://list.test/?page=1")
		s.OutputType, s.OutputSchema = task.OutputJSON, schema
		res := runAgent(t, listSite(1), srv, task.Task{Spec: s}, nil)
		if res.out.Code != "" || res.out.Message != `{"count":3}` {
			t.Fatalf("outcome = %+v", res.out)
		}
		if !strings.Contains(srv.Requests()[1].Body.Text(), "at /count") {
			t.Errorf("the repair does not say where: %s", srv.Requests()[1].Body.Text())
		}
	})
	t.Run("csv with the wrong header", func(t *testing.T) {
		bad := modeltest.ToolCall("done", map[string]string{"answer": "title,cost\nx,1\n"})
		srv := modeltest.New(t, bad, bad)
		s := spec("List.", "https://list.test/?page=1")
		s.OutputType, s.OutputSchema = task.OutputCSV, json.RawMessage(`["name","price"]`)
		res := runAgent(t, listSite(1), srv, task.Task{Spec: s}, func(a *agent.LLM) { a.RepairTurns = 1 })
		if res.out.Code != task.CodeOutputInvalid || !strings.Contains(res.out.Error, "header row") {
			t.Fatalf("outcome = %+v", res.out)
		}
	})
	t.Run("empty text", func(t *testing.T) {
		srv := modeltest.New(t, modeltest.ToolCall("done", map[string]string{"answer": "  "}))
		res := runAgent(t, listSite(1), srv, task.Task{Spec: spec("Say.", "https://list.test/?page=1")},
			func(a *agent.LLM) { a.RepairTurns = -1 })
		if res.out.Code != task.CodeOutputInvalid {
			t.Fatalf("outcome = %+v", res.out)
		}
	})
}

func TestTokenLimit(t *testing.T) {
	srv := modeltest.New(t,
		func(modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]int{"id": 1}}}, PromptTokens: 400, CompletionTokens: 10}
		},
		func(modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]int{"id": 1}}}, PromptTokens: 400, CompletionTokens: 10}
		},
	)
	s := spec("Walk.", "https://list.test/?page=1")
	s.MaxInputTokens = 500
	site := listSite(3)
	res := runAgent(t, site, srv, task.Task{Spec: s}, nil)
	if res.out.Code != task.CodeTokenLimit {
		t.Fatalf("outcome = %+v", res.out)
	}
	if res.out.Usage.InputTokens != 800 || res.out.Usage.OutputTokens != 20 {
		t.Errorf("usage = %+v", res.out.Usage)
	}
	// The second click was not run.
	if u := site.tabs["sess_1"].url; u != "https://list.test/?page=2" {
		t.Errorf("page = %s, want page 2 (one click)", u)
	}
	if last := res.steps[len(res.steps)-1]; !strings.Contains(last.Error, "budget") {
		t.Errorf("last step = %+v", last)
	}
}

func TestAskHumanThenResume(t *testing.T) {
	site := listSite(1)
	srv := modeltest.New(t, modeltest.ToolCall("ask_human", map[string]string{"question": "Which size do you want?"}))
	tk := task.Task{Spec: spec("Buy a shirt.", "https://list.test/?page=1")}
	res := runAgent(t, site, srv, tk, nil)
	if res.out.Question != "Which size do you want?" || res.out.Status() != task.StatusGuardrail {
		t.Fatalf("outcome = %+v", res.out)
	}

	// The engine runs the task again with the answer.
	srv2 := modeltest.New(t, func(r modeltest.Request) modeltest.Reply {
		text := r.Body.Text()
		if !strings.Contains(text, "Which size do you want?") || !strings.Contains(text, "Medium") {
			t.Errorf("the resumed conversation lacks the question and answer: %s", text)
		}
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "Bought a medium shirt."}}}}
	})
	tk.Question, tk.Answer = res.out.Question, "Medium"
	res = runAgent(t, site, srv2, tk, nil)
	if res.out.Code != "" || res.out.Message != "Bought a medium shirt." {
		t.Fatalf("outcome = %+v", res.out)
	}
	// The page was still open: no second navigation to startingPoint.
	if res.steps[0].Action != "done" {
		t.Errorf("steps = %+v", res.steps)
	}
}

func TestNavigationBlocked(t *testing.T) {
	t.Run("gives up", func(t *testing.T) {
		srv := modeltest.New(t, func(r modeltest.Request) modeltest.Reply {
			if !strings.Contains(toolResults(r), "NAVIGATION_BLOCKED") {
				t.Errorf("the model was not told: %s", r.Body.Text())
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "give_up", Args: map[string]string{"reason": "the site is blocked"}}}}
		})
		s := spec("Read.", "https://list.test/?page=1")
		s.AvoidDomains = []string{"list.test"}
		res := runAgent(t, listSite(1), srv, task.Task{Spec: s}, nil)
		if res.out.Code != task.CodeNavigationBlocked {
			t.Fatalf("outcome = %+v", res.out)
		}
		if res.steps[0].Action != "navigate" || !strings.Contains(res.steps[0].Error, "avoidDomains") {
			t.Errorf("first step = %+v", res.steps[0])
		}
	})
	t.Run("finds another way", func(t *testing.T) {
		site := listSite(1)
		site.blocked["mirror.test"] = true
		srv := modeltest.New(t,
			modeltest.ToolCall("navigate", map[string]string{"url": "https://mirror.test/"}),
			func(r modeltest.Request) modeltest.Reply {
				if !strings.Contains(toolResults(r), "NAVIGATION_BLOCKED") {
					t.Errorf("the model was not told: %s", r.Body.Text())
				}
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "navigate", Args: map[string]string{"url": "list.test/?page=1"}}}}
			},
			modeltest.ToolCall("done", map[string]string{"answer": "Item 1 costs $10."}),
		)
		res := runAgent(t, site, srv, task.Task{Spec: spec("Read.", "")}, nil)
		if res.out.Code != "" || res.out.Message != "Item 1 costs $10." {
			t.Fatalf("outcome = %+v", res.out)
		}
	})
}

func TestModelErrors(t *testing.T) {
	srv := modeltest.New(t, modeltest.Status(500, "down "+modelKey), modeltest.Status(502, "down"), modeltest.Status(503, "down"))
	res := runAgent(t, listSite(1), srv, task.Task{Spec: spec("Read.", "https://list.test/?page=1")}, nil)
	if res.out.Code != task.CodeModelError {
		t.Fatalf("outcome = %+v", res.out)
	}
	if strings.Contains(res.out.Error, modelKey) {
		t.Errorf("error shows the key: %s", res.out.Error)
	}
	if last := res.steps[len(res.steps)-1]; last.Action != "model" || last.Error == "" {
		t.Errorf("last step = %+v", last)
	}
}

func TestBrowserError(t *testing.T) {
	site := listSite(2)
	site.clickErr = &agent.BrowserError{Reason: "the browser crashed"}
	srv := modeltest.New(t, modeltest.ToolCall("click", map[string]int{"id": 1}))
	res := runAgent(t, site, srv, task.Task{Spec: spec("Read.", "https://list.test/?page=1")}, nil)
	if res.out.Code != task.CodeBrowserError {
		t.Fatalf("outcome = %+v", res.out)
	}
}

func TestCancelledDuringModelCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := modeltest.New(t, func(modeltest.Request) modeltest.Reply {
		cancel()
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]int{"id": 1}}}}
	})
	client, err := model.New(model.Config{BaseURL: srv.URL, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.LLM{Model: client, Browser: listSite(2)}
	out := a.Run(ctx, agent.Request{Task: task.Task{SessionID: "s", Spec: spec("Read.", "https://list.test/?page=1")}, Step: func(task.Step) {}})
	if out.Code != task.CodeCancelled {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestExtractAndCompaction(t *testing.T) {
	site := listSite(2)
	srv := modeltest.New(t,
		modeltest.ToolCall("extract", nil),
		func(r modeltest.Request) modeltest.Reply {
			res := r.Body.Messages[len(r.Body.Messages)-2]
			if res.Role != "tool" || !strings.Contains(res.Text(), "Item 2 — $20") {
				t.Errorf("extract result = %q", res.Text())
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]int{"id": 1}}}}
		},
		func(r modeltest.Request) modeltest.Reply {
			// Seven messages: system, task, extract call+result, click
			// call+result, page view; the old extract is shortened.
			if n := len(r.Body.Messages); n != 7 {
				t.Errorf("%d messages", n)
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "ok"}}}}
		},
	)
	res := runAgent(t, site, srv, task.Task{Spec: spec("Read.", "https://list.test/?page=1")}, nil)
	if res.out.Code != "" {
		t.Fatalf("outcome = %+v", res.out)
	}
}

func TestStepLimit(t *testing.T) {
	scroll := modeltest.ToolCall("scroll", map[string]string{"direction": "down"})
	srv := modeltest.New(t, scroll, scroll, func(r modeltest.Request) modeltest.Reply {
		if names := r.Body.ToolNames(); strings.Join(names, ",") != "done,give_up" {
			t.Errorf("final turn offers %v", names)
		}
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "scroll", Args: map[string]string{"direction": "down"}}}}
	}, scroll, scroll)
	res := runAgent(t, listSite(1), srv, task.Task{Spec: spec("Read.", "https://list.test/?page=1")}, func(a *agent.LLM) { a.MaxSteps = 2 })
	if res.out.Code != task.CodeOutputInvalid || !strings.Contains(res.out.Error, "within 2 steps") {
		t.Fatalf("outcome = %+v", res.out)
	}
}

func TestNoToolCallIsNudged(t *testing.T) {
	srv := modeltest.New(t,
		modeltest.Text("I think I should look around."),
		func(r modeltest.Request) modeltest.Reply {
			if !strings.Contains(r.Body.Text(), "Act by calling one of the tools") {
				t.Errorf("no nudge: %s", r.Body.Text())
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "fine"}}}}
		})
	res := runAgent(t, listSite(1), srv, task.Task{Spec: spec("Read.", "https://list.test/?page=1")}, nil)
	if res.out.Message != "fine" {
		t.Fatalf("outcome = %+v", res.out)
	}
}

func TestBadArguments(t *testing.T) {
	srv := modeltest.New(t,
		modeltest.ToolCall("click", `{"id": `),
		func(r modeltest.Request) modeltest.Reply {
			if !strings.Contains(toolResults(r), "not valid JSON") {
				t.Errorf("the model was not told: %s", r.Body.Text())
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "navigate", Args: map[string]string{"url": "file:///etc/passwd"}}}}
		},
		func(r modeltest.Request) modeltest.Reply {
			if !strings.Contains(toolResults(r), "only http and https") {
				t.Errorf("the model was not told: %s", r.Body.Text())
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "x"}}}}
		})
	res := runAgent(t, listSite(1), srv, task.Task{Spec: spec("Read.", "https://list.test/?page=1")}, nil)
	if res.out.Message != "x" || !json.Valid(res.steps[1].Args) {
		t.Fatalf("outcome = %+v, steps %+v", res.out, res.steps)
	}
}

func TestNoModel(t *testing.T) {
	a := &agent.LLM{}
	out := a.Run(context.Background(), agent.Request{Step: func(task.Step) {}})
	if out.Code != task.CodeModelError {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestTypedSecretMaskedInObservation(t *testing.T) {
	srv := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "type", Args: map[string]any{"id": modeltest.ElementID(lastObs(r), "name=email"), "text": "{{email}}"}}}}
		},
		func(r modeltest.Request) modeltest.Reply {
			// The input now holds the real value; the model sees the
			// placeholder in its place.
			if !strings.Contains(lastObs(r), `name=email value="{{email}}"`) {
				t.Errorf("observation after typing:\n%s", lastObs(r))
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "ask_human", Args: map[string]string{"question": "Is " + "{{email}}" + " right?"}}}}
		},
	)
	res := runAgent(t, loginSite(), srv, loginTask(), nil)
	if res.out.Question == "" {
		t.Fatalf("outcome = %+v", res.out)
	}
	assertNoSecrets(t, srv, secretEmail, secretPassword)
}

func TestBatchStopsAfterPageChange(t *testing.T) {
	site := listSite(2)
	srv := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "click", Args: map[string]int{"id": modeltest.ElementID(lastObs(r), "Next")}},
				{Name: "done", Args: map[string]string{"answer": "guessed before seeing page 2"}},
			}}
		},
		func(r modeltest.Request) modeltest.Reply {
			if !strings.Contains(toolResults(r), "not run") || !strings.Contains(lastObs(r), "Page 2 of 2") {
				t.Errorf("tool results: %s\npage: %s", toolResults(r), lastObs(r))
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "Item 3 and Item 4"}}}}
		})
	res := runAgent(t, site, srv, task.Task{Spec: spec("Read page 2.", "https://list.test/?page=1")}, nil)
	if res.out.Message != "Item 3 and Item 4" {
		t.Fatalf("outcome = %+v", res.out)
	}
	var actions []string
	for _, s := range res.steps {
		actions = append(actions, s.Action+":"+s.Error)
	}
	if got := strings.Join(actions, ","); got != "navigate:,click:,done:not run,done:" {
		t.Errorf("steps = %s", got)
	}
}
