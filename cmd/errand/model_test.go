package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/testenv"
)

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := browser.FindChromium(); err != nil {
		testenv.Chromium(t, err)
	}
}

func elemID(t *testing.T, obs, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(`\[(\d+)\]` + pattern).FindStringSubmatch(obs)
	if m == nil {
		t.Errorf("no element matching %q in:\n%s", pattern, obs)
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// signInPage is a sign-in form for signIn to fill.
const signInPage = `<html><head><title>Sign in</title></head><body><h1>Sign in</h1>
<form method=post action=/login><label>Email <input name=email type=email></label>
<label>Password <input name=password type=password></label><button type=submit>Sign in</button></form></body></html>`

// signIn is the fake model's turn that types the {{email}} and
// {{password}} secrets into the page's sign-in form and submits it.
func signIn(t *testing.T, promptTokens, completionTokens int64) func(modeltest.Request) modeltest.Reply {
	return func(r modeltest.Request) modeltest.Reply {
		obs := r.Body.Last()
		return modeltest.Reply{Calls: []modeltest.Call{
			{Name: "type", Args: map[string]any{"id": elemID(t, obs, `<input type=email`), "text": "{{email}}"}},
			{Name: "type", Args: map[string]any{"id": elemID(t, obs, `<input type=password`), "text": "{{password}}", "submit": true}},
		}, PromptTokens: promptTokens, CompletionTokens: completionTokens}
	}
}

// The model-driven agent through the whole server, in real Chromium, with
// the fake OpenAI-compatible endpoint: it signs in with task secrets the
// model never sees, asks a human (poll shows guardrail_trigger, the
// webhook gets the event), and completes after the answer.
func TestModelAgentThroughAPI(t *testing.T) {
	needChromium(t)
	const email, password = "ada@shop.example", "s3cret-Pa55-word"
	posted := make(chan url.Values, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, signInPage) })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		posted <- r.PostForm
		http.Redirect(w, r, "/orders", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Orders</title></head><body><h1>Orders</h1><p>Lamp (blue) and Lamp (red) are ready.</p></body></html>`)
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	fake := modeltest.New(t,
		signIn(t, 900, 40),
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "ask_human", Args: map[string]string{"question": "Which lamp should I pick, blue or red?"}}}, PromptTokens: 700, CompletionTokens: 20}
		},
	)
	rc := newReceiver(t, nil)
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	sid, tid := srv.runTask(t, map[string]any{
		"taskDetails": "Sign in and pick the lamp the user wants.", "startingPoint": site.URL + "/login",
		"secrets": []map[string]any{{"match": "127.0.0.1", "fields": map[string]string{"email": email, "password": password}}},
		"webhook": map[string]any{"name": "m", "url": rc.URL, "submittedData": "full_response", "events": []string{"task_completed", "task_failed", "guardrail_trigger"}},
	})
	p := srv.waitTask(t, sid, tid)
	if p["type"] != "guardrail_trigger" || p["data"].(map[string]any)["value"] != "Which lamp should I pick, blue or red?" {
		t.Fatalf("poll = %v, want guardrail_trigger with the question", p)
	}
	form := <-posted
	if form.Get("email") != email || form.Get("password") != password {
		t.Errorf("the site got %v", form)
	}
	g := rc.waitN(t, 1, 20*time.Second)[0]
	if g.Header.Get("Errand-Event") != "guardrail_trigger" || !strings.Contains(string(g.Body), "Which lamp") {
		t.Errorf("guardrail webhook: %s %s", g.Header.Get("Errand-Event"), g.Body)
	}

	fake.Append(func(r modeltest.Request) modeltest.Reply {
		if !strings.Contains(r.Body.Text(), "blue") {
			t.Errorf("the model was not told the human's answer:\n%s", r.Body.Text())
		}
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "Lamp (blue)"}}}, PromptTokens: 800, CompletionTokens: 10}
	})
	code, m := srv.call(t, "POST", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{"actionType": "guardrail", "taskDetails": "The blue one, please.", "newState": "resume"}})
	if code != 200 {
		t.Fatalf("guardrail answer: %d %v", code, m)
	}
	p = srv.waitTask(t, sid, tid)
	if p["type"] != "task_completed" || p["data"].(map[string]any)["message"] != "Lamp (blue)" {
		t.Fatalf("after the answer: %v", p)
	}
	if u := p["usage"].(map[string]any); u["prompt_tokens"].(float64) != 2400 || u["completion_tokens"].(float64) != 70 || u["cost"].(float64) <= 0 {
		t.Errorf("usage = %v, want the endpoint's token counts summed and a cost", u)
	}
	done := rc.waitN(t, 2, 20*time.Second)[1]
	if done.Header.Get("Errand-Event") != "task_completed" {
		t.Errorf("second webhook = %s", done.Header.Get("Errand-Event"))
	}
	// The secret values never reached the model, the logs, the webhooks or
	// the API's answers.
	var everything strings.Builder
	for _, r := range fake.Requests() {
		everything.Write(r.Raw)
	}
	everything.WriteString(srv.logs.String())
	for _, d := range rc.deliveries() {
		everything.Write(d.Body)
	}
	everything.WriteString(mustJSON(t, p))
	for _, secret := range []string{email, password} {
		if strings.Contains(everything.String(), secret) {
			t.Errorf("secret %q leaked to the model, logs, webhooks or answers", secret)
		}
	}
}

// chromiumChildren lists the Chromium processes this test binary started
// (the in-process server's browser), so a test can kill its own browser
// without touching other tests' browsers.
func chromiumChildren(t *testing.T) []int {
	t.Helper()
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(os.Getpid())).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		comm, _ := os.ReadFile("/proc/" + f + "/comm")
		if strings.Contains(string(comm), "chrom") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// The model-driven agent's failures, through the whole server: each ends
// with its code, and a webhook subscribed to task_failed gets the event.
func TestModelAgentFailures(t *testing.T) {
	needChromium(t)
	site := newSite(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(site.URL, "http://"), ":")
	scroll := func(r modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "scroll", Args: map[string]string{"direction": "down"}}}, PromptTokens: 600, CompletionTokens: 5}
	}
	badJSON := modeltest.ToolCall("done", map[string]string{"answer": `{"title": Acme}`})
	cases := []struct {
		name   string
		script []modeltest.Step
		task   map[string]any
		code   string
	}{
		{"invalid JSON after the repair turns", []modeltest.Step{badJSON, badJSON, badJSON},
			map[string]any{"outputType": "structured_json", "outputSchema": map[string]any{"type": "object", "properties": map[string]any{"title": map[string]any{"type": "string"}}, "required": []string{"title"}}},
			"OUTPUT_INVALID"},
		{"token budget", []modeltest.Step{scroll, scroll, scroll, scroll},
			map[string]any{"maxInputTokens": 1000}, "TOKEN_LIMIT"},
		{"maxDuration", []modeltest.Step{func(r modeltest.Request) modeltest.Reply {
			time.Sleep(3 * time.Second) // a slow model
			return scroll(r)
		}}, map[string]any{"maxDuration": 1500}, "TASK_TIMEOUT"},
		{"avoidDomains", []modeltest.Step{
			modeltest.ToolCall("navigate", map[string]string{"url": "http://localhost:" + port + "/product"}),
			func(r modeltest.Request) modeltest.Reply {
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "give_up", Args: map[string]string{"reason": "the only page is blocked"}}}}
			},
		}, map[string]any{"avoidDomains": []string{"localhost"}}, "NAVIGATION_BLOCKED"},
		{"refused network", []modeltest.Step{
			modeltest.ToolCall("navigate", map[string]string{"url": "http://169.254.169.254/latest/meta-data/"}),
			func(r modeltest.Request) modeltest.Reply {
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "give_up", Args: map[string]string{"reason": "blocked"}}}}
			},
		}, map[string]any{}, "NAVIGATION_BLOCKED"},
		{"browser killed mid-task", []modeltest.Step{func(r modeltest.Request) modeltest.Reply {
			for _, pid := range chromiumChildren(t) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(200 * time.Millisecond)
			return scroll(r)
		}, scroll, scroll}, map[string]any{}, "BROWSER_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := modeltest.New(t, tc.script...)
			rc := newReceiver(t, nil)
			srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
			body := map[string]any{"taskDetails": "Read the product page.", "startingPoint": site.URL + "/product",
				"webhook": map[string]any{"name": "f", "url": rc.URL, "submittedData": "full_response", "events": []string{"task_completed", "task_failed"}}}
			for k, v := range tc.task {
				body[k] = v
			}
			sid, tid := srv.runTask(t, body)
			p := srv.waitTask(t, sid, tid)
			if p["code"] != tc.code {
				t.Fatalf("task = %v, want code %s", p, tc.code)
			}
			d := rc.waitN(t, 1, 20*time.Second)[0]
			if m := d.JSON(t); m["type"] != "task_failed" || m["code"] != tc.code {
				t.Errorf("webhook = %s", d.Body)
			}
		})
	}
}
