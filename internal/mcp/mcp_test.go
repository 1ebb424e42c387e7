package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/mcp"
	"github.com/errandhq/errand/internal/mcp/mcptest"
	"github.com/errandhq/errand/internal/node"
)

const apiKey = "mcp-test-key-0123456789"

// fixture is a real errand node (SQLite on disk, the built-in extractor
// over plain HTTP), its API on loopback, and a site to read.
type fixture struct {
	n    *node.Node
	api  *httptest.Server
	site *httptest.Server
	// gate holds /gate's answer until it is closed; gated is told of each
	// request it holds.
	gate     chan struct{}
	gated    chan *http.Request
	gateOnce sync.Once
}

const productPage = `<!doctype html><html><head><title>Acme Anvil — Acme Store</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Acme Anvil",
"offers":{"@type":"Offer","price":"29.99","priceCurrency":"USD"}}</script></head>
<body><main><h1>Acme Anvil</h1><p class="price">$29.99</p><p>Forged steel, 50 kg.</p></main></body></html>`

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg := node.Default()
	cfg.Data, cfg.Browser, cfg.AllowNetworks, cfg.APIKey = t.TempDir(), "http", "127.0.0.0/8", apiKey
	cfg.InlineWait = 0
	// Monitors may run every second, looked for every 100 ms.
	cfg.MonitorMinInterval, cfg.MonitorPoll = time.Second, 100*time.Millisecond
	n, err := node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n.Monitors.Start()
	f := &fixture{n: n, gate: make(chan struct{}), gated: make(chan *http.Request, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/product", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, productPage) })
	mux.HandleFunc("/gate", func(w http.ResponseWriter, r *http.Request) {
		f.gated <- r
		select {
		case <-f.gate:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, `<html><head><title>Late</title></head><body><h1>Late news</h1><p>It came.</p></body></html>`)
	})
	f.site = httptest.NewServer(mux)
	f.api = httptest.NewServer(n.Handler)
	t.Cleanup(func() {
		f.api.Close()
		f.openGate()
		f.site.Close()
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n.Monitors.Stop(stop)
		n.Engine.Stop(stop)
		n.Close()
	})
	return f
}

func (f *fixture) openGate() { f.gateOnce.Do(func() { close(f.gate) }) }

// errands are the two errands the tools work on, over the same node.
func (f *fixture) errands() map[string]func(t testing.TB, opts *sdk.ClientOptions) *sdk.ClientSession {
	return map[string]func(t testing.TB, opts *sdk.ClientOptions) *sdk.ClientSession{
		"local": func(t testing.TB, opts *sdk.ClientOptions) *sdk.ClientSession {
			return connect(t, mcp.Config{Errand: mcp.Local{Engine: f.n.Engine, Policy: f.n.Policy, Monitors: f.n.Monitors}, Tenant: httpapi.BootstrapTenant}, opts)
		},
		"remote": func(t testing.TB, opts *sdk.ClientOptions) *sdk.ClientSession {
			return connect(t, mcp.Config{Errand: mcp.Remote{URL: f.api.URL, Key: apiKey}}, opts)
		},
	}
}

// connect is an MCP client of a server made with c, over an in-memory
// transport.
func connect(t testing.TB, c mcp.Config, opts *sdk.ClientOptions) *sdk.ClientSession {
	t.Helper()
	srv, err := mcp.NewServer(c)
	if err != nil {
		t.Fatal(err)
	}
	st, ct := sdk.NewInMemoryTransports()
	ss, err := srv.Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, opts).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	return cs
}

func call(t testing.TB, cs *sdk.ClientSession, name string, args map[string]any, meta sdk.Meta) (map[string]any, bool) {
	t.Helper()
	return mcptest.Call(t, cs, name, args, meta)
}

// post sends a body to the HTTP API with the key.
func (f *fixture) post(t testing.TB, path string, body any) (int, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", f.api.URL+path, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %s", path, raw)
	}
	return resp.StatusCode, m
}

// A bad argument gets exactly the answer the HTTP API gives the same body:
// the same code, sentence and problems by JSON Pointer, whichever errand
// is behind the tools; and a secret's value is never in it.
func TestBadArgumentsAnsweredAsTheAPIDoes(t *testing.T) {
	f := newFixture(t)
	const secret = "hunter2-never-echoed"
	page := f.site.URL + "/product"
	cases := []struct {
		tool, path string
		body       map[string]any
	}{
		{"run_task", "/start/run-task", map[string]any{}},
		{"run_task", "/start/run-task", map[string]any{"taskDetails": " ", "startingPoint": "ftp://example.com/", "maxDuration": 1.5}},
		{"run_task", "/start/run-task", map[string]any{"taskDetails": "x", "startingPoint": page, "outputType": "structured_json"}},
		{"run_task", "/start/run-task", map[string]any{"taskDetails": "x", "startingPoint": page, "outputType": "xml", "avoidDomains": []any{"a/b"}}},
		{"run_task", "/start/run-task", map[string]any{"taskDetails": "x", "startingPoint": page,
			"secrets": []any{map[string]any{"match": "", "fields": map[string]any{"password": secret, "bad name": secret}}}}},
		{"run_task", "/start/run-task", map[string]any{"taskDetails": "x", "startingPoint": page,
			"webhook": map[string]any{"name": "w", "url": "http://10.1.2.3/hook", "auth": "Bearer " + secret + "\n", "submittedData": "all"}}},
		{"run_task", "/start/run-task", map[string]any{"taskDetails": "x"}},
		{"start_session", "/start/start-session", map[string]any{"mode": "turbo", "initialTask": map[string]any{"maxDuration": "soon"}}},
		{"send_message", "/start/send-message", map[string]any{"sessionId": "sess_x", "message": map[string]any{"actionType": "wave"}}},
		{"send_message", "/start/send-message", map[string]any{"message": map[string]any{"actionType": "newTask"}}},
		{"send_message", "/start/send-message", map[string]any{"sessionId": "sess_nope", "message": map[string]any{"actionType": "state", "newState": "pause"}}},
		{"create_monitor", "/monitors", map[string]any{"name": "x", "schedule": "every day", "timezone": "Mars/Olympus",
			"task":    map[string]any{"taskDetails": "x", "startingPoint": page, "secrets": []any{map[string]any{"match": "example.com", "fields": map[string]any{"pw": secret}}}},
			"webhook": map[string]any{"name": "w", "url": "ftp://example.com/", "submittedData": "just_ping"}, "notify": map[string]any{"on": "sometimes"}}},
		{"create_monitor", "/monitors", map[string]any{"name": "x", "schedule": "@every 1s"}},
	}
	sessions := map[string]*sdk.ClientSession{}
	for name, open := range f.errands() {
		sessions[name] = open(t, nil)
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d_%s", i, tc.tool), func(t *testing.T) {
			code, want := f.post(t, tc.path, tc.body)
			if code < 400 {
				t.Fatalf("the API accepted %v: %d %v", tc.body, code, want)
			}
			for name, cs := range sessions {
				got, isErr := call(t, cs, tc.tool, tc.body, nil)
				if !isErr {
					t.Errorf("%s: not an error result: %v", name, got)
				}
				if a, b := mustJSON(got), mustJSON(want); a != b {
					t.Errorf("%s: tool answered\n%s\nthe API\n%s", name, a, b)
				}
				if strings.Contains(mustJSON(got), secret) {
					t.Errorf("%s: the secret is echoed: %v", name, got)
				}
			}
		})
	}
	// The tool's own argument is checked the same way, and a bad one
	// queues nothing.
	for name, cs := range sessions {
		got, isErr := call(t, cs, "run_task", map[string]any{"taskDetails": "x", "startingPoint": page, "timeout": -1}, nil)
		if d, _ := got["details"].(map[string]any); !isErr || got["code"] != "INVALID_REQUEST" || d["/timeout"] != "must be between 0 and 3600" {
			t.Errorf("%s: bad timeout: %v", name, got)
		}
		list, _ := call(t, cs, "list_tasks", nil, nil)
		if tasks := list["tasks"].([]any); len(tasks) != 0 {
			t.Errorf("%s: refused calls queued %d tasks", name, len(tasks))
		}
		got, isErr = call(t, cs, "get_task", map[string]any{"sessionId": true}, nil)
		if d, _ := got["details"].(map[string]any); !isErr || d["/sessionId"] != "must be a string" || d["/taskId"] != "is required" {
			t.Errorf("%s: get_task without ids: %v", name, got)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// run_task waits for its task and answers with its result, reporting each
// step as progress; get_task gives the same answer with the step log, and
// list_tasks lists it.
func TestRunTaskAnswersWithProgress(t *testing.T) {
	f := newFixture(t)
	for name, open := range f.errands() {
		t.Run(name, func(t *testing.T) {
			p := &mcptest.Progress{}
			cs := open(t, p.Options())
			page := f.site.URL + "/product"
			got, isErr := call(t, cs, "run_task", map[string]any{
				"taskDetails": "The product's name and price", "startingPoint": page, "outputType": "structured_json",
				"outputSchema": map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}, "price": map[string]any{"type": "number"}}, "required": []any{"name", "price"}},
			}, sdk.Meta{"progressToken": "run-" + name})
			if isErr || got["type"] != "task_completed" {
				t.Fatalf("run_task: %v", got)
			}
			var answer map[string]any
			if err := json.Unmarshal([]byte(got["data"].(map[string]any)["message"].(string)), &answer); err != nil || answer["name"] != "Acme Anvil" || answer["price"] != 29.99 {
				t.Errorf("answer = %v (%v), want Acme Anvil at 29.99", answer, err)
			}
			ref := map[string]any{"sessionId": got["sessionId"], "taskId": got["taskId"]}
			task, _ := call(t, cs, "get_task", ref, nil)
			steps, _ := task["steps"].([]any)
			if task["type"] != "task_completed" || len(steps) < 2 {
				t.Fatalf("get_task: %v", task)
			}
			// Its status first (with the ids), then each step, counted.
			all := p.WaitSteps(t, len(steps))
			status := fmt.Sprintf("task %s of session %s is queued", got["taskId"], got["sessionId"])
			if all[0] != status {
				t.Errorf("first progress = %q, want %q", all[0], status)
			}
			msgs := mcptest.Steps(all)
			if len(msgs) != len(steps) {
				t.Fatalf("progress %q for %d steps", all, len(steps))
			}
			for i, s := range steps {
				st := s.(map[string]any)
				want := fmt.Sprintf("step %d: %s %s", i+1, st["action"], page)
				if msgs[i] != want {
					t.Errorf("progress %d = %q, want %q", i, msgs[i], want)
				}
			}
			_, counts := p.Got()
			for i, n := range counts {
				if n != float64(i+1) {
					t.Errorf("progress %d counts %v", i, n)
				}
			}
			delete(task, "steps")
			if mustJSON(task) != mustJSON(got) {
				t.Errorf("get_task %v\nrun_task %v", task, got)
			}
			list, _ := call(t, cs, "list_tasks", map[string]any{"sessionId": got["sessionId"]}, nil)
			tasks := list["tasks"].([]any)
			if len(tasks) != 1 || tasks[0].(map[string]any)["taskId"] != got["taskId"] || tasks[0].(map[string]any)["status"] != "completed" {
				t.Errorf("list_tasks = %v", list)
			}
		})
	}
}

// A task that outlives the call's timeout runs on: the call answers its
// status, and get_task reads the result later.
func TestTimeoutLeavesTheTaskRunning(t *testing.T) {
	f := newFixture(t)
	cs := f.errands()["remote"](t, nil)
	got, isErr := call(t, cs, "run_task", map[string]any{"taskDetails": "Read the news", "startingPoint": f.site.URL + "/gate", "timeout": 1}, nil)
	if isErr || got["status"] != "running" || !strings.Contains(got["message"].(string), "get_task") {
		t.Fatalf("run_task past its timeout: %v", got)
	}
	f.openGate()
	ref := map[string]any{"sessionId": got["sessionId"], "taskId": got["taskId"]}
	deadline := time.Now().Add(20 * time.Second)
	for {
		task, _ := call(t, cs, "get_task", ref, nil)
		if task["type"] == "task_completed" {
			if msg := task["data"].(map[string]any)["message"].(string); !strings.Contains(msg, "It came.") {
				t.Errorf("answer = %q", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task did not complete: %v", task)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Cancelling a tool call stops its task, wherever it is: a running task
// (its page load is abandoned) and one queued behind another in its
// session, which runs on.
func TestCancelStopsTheTask(t *testing.T) {
	for _, name := range []string{"local", "remote"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			cs := f.errands()[name](t, nil)
			// A running task.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "run_task", Arguments: map[string]any{"taskDetails": "Read", "startingPoint": f.site.URL + "/gate"}})
				done <- err
			}()
			r := <-f.gated
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled call: %v", err)
			}
			select {
			case <-r.Context().Done(): // errand abandoned the page
			case <-time.After(10 * time.Second):
				t.Errorf("the cancelled task's page load went on")
			}
			list := waitList(t, cs, map[string]any{"status": "cancelled"}, 1)
			if tk := list[0].(map[string]any); tk["code"] != "CANCELLED" {
				t.Errorf("cancelled task: %v", tk)
			}

			// A task queued behind a running one in the same session.
			s, _ := call(t, cs, "start_session", map[string]any{}, nil)
			sid := s["sessionId"]
			first, _ := call(t, cs, "send_message", map[string]any{"sessionId": sid, "timeout": 0,
				"message": map[string]any{"actionType": "newTask", "taskDetails": "Read", "startingPoint": f.site.URL + "/gate"}}, nil)
			<-f.gated
			ctx, cancel = context.WithCancel(context.Background())
			go func() {
				_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "send_message", Arguments: map[string]any{"sessionId": sid,
					"message": map[string]any{"actionType": "newTask", "taskDetails": "Then the product", "startingPoint": f.site.URL + "/product"}}})
				done <- err
			}()
			waitList(t, cs, map[string]any{"sessionId": sid, "status": "queued"}, 1)
			cancel()
			<-done
			waitList(t, cs, map[string]any{"sessionId": sid, "status": "cancelled"}, 1)
			ref := map[string]any{"sessionId": sid, "taskId": first["taskId"]}
			if task, _ := call(t, cs, "get_task", ref, nil); task["status"] != "running" {
				t.Errorf("the task ahead of the cancelled one: %v", task)
			}
			end, isErr := call(t, cs, "send_message", map[string]any{"sessionId": sid, "message": map[string]any{"actionType": "state", "newState": "terminate"}}, nil)
			if isErr || end["message"] != "Session terminated" {
				t.Errorf("terminate: %v", end)
			}
		})
	}
}

// waitList waits until list_tasks with args lists n tasks.
func waitList(t *testing.T, cs *sdk.ClientSession, args map[string]any, n int) []any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, _ := call(t, cs, "list_tasks", args, nil)
		tasks, _ := list["tasks"].([]any)
		if len(tasks) == n {
			return tasks
		}
		if time.Now().After(deadline) {
			t.Fatalf("list_tasks %v = %v, want %d tasks", args, list, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A session's tasks through the tools: start_session, newTask messages
// that answer like run_task, pages of list_tasks.
func TestSessionTools(t *testing.T) {
	f := newFixture(t)
	cs := f.errands()["local"](t, nil)
	s, isErr := call(t, cs, "start_session", map[string]any{"initialTask": map[string]any{"taskDetails": "The title", "startingPoint": f.site.URL + "/product"}}, nil)
	if isErr || s["message"] != "Session started; the initial task is queued" || s["taskId"] == nil || s["expiresIn"] != float64(300) {
		t.Fatalf("start_session: %v", s)
	}
	sid := s["sessionId"]
	for range 2 {
		got, isErr := call(t, cs, "send_message", map[string]any{"sessionId": sid,
			"message": map[string]any{"actionType": "newTask", "taskDetails": "The price", "startingPoint": f.site.URL + "/product"}}, nil)
		if isErr || got["type"] != "task_completed" || !strings.Contains(got["data"].(map[string]any)["message"].(string), "29.99") {
			t.Fatalf("send_message newTask: %v", got)
		}
	}
	page1, _ := call(t, cs, "list_tasks", map[string]any{"sessionId": sid, "limit": 2}, nil)
	cursor, _ := page1["nextCursor"].(string)
	page2, _ := call(t, cs, "list_tasks", map[string]any{"sessionId": sid, "limit": 2, "cursor": cursor}, nil)
	ids := map[any]bool{}
	for _, tk := range append(page1["tasks"].([]any), page2["tasks"].([]any)...) {
		ids[tk.(map[string]any)["taskId"]] = true
	}
	if len(page1["tasks"].([]any)) != 2 || cursor == "" || len(page2["tasks"].([]any)) != 1 || page2["nextCursor"] != nil || len(ids) != 3 || !ids[s["taskId"]] {
		t.Errorf("pages: %v then %v", page1, page2)
	}
	if got, isErr := call(t, cs, "list_tasks", map[string]any{"status": "done"}, nil); !isErr || got["code"] != "INVALID_REQUEST" {
		t.Errorf("list_tasks with a bad status: %v", got)
	}
}

// The monitor tools: a monitor made through create_monitor runs on its
// schedule (its first run sets the baseline), its runs are read with
// get_monitor_runs, and delete_monitor removes it.
func TestMonitorTools(t *testing.T) {
	for _, name := range []string{"local", "remote"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			cs := f.errands()[name](t, nil)
			got, isErr := call(t, cs, "create_monitor", map[string]any{
				"name": "Anvil price", "schedule": "@every 1s",
				"task": map[string]any{"taskDetails": "The price", "startingPoint": f.site.URL + "/product", "outputType": "structured_json",
					"outputSchema": map[string]any{"type": "object", "properties": map[string]any{"price": map[string]any{"type": "number"}}, "required": []any{"price"}}},
			}, nil)
			id, _ := got["monitorId"].(string)
			if isErr || !strings.HasPrefix(id, "mon_") || got["nextRunAt"] == nil {
				t.Fatalf("create_monitor: %v", got)
			}
			list, _ := call(t, cs, "list_monitors", map[string]any{"limit": 10}, nil)
			if ms := list["monitors"].([]any); len(ms) != 1 || ms[0].(map[string]any)["monitorId"] != id || ms[0].(map[string]any)["name"] != "Anvil price" {
				t.Errorf("list_monitors: %v", list)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				runs, isErr := call(t, cs, "get_monitor_runs", map[string]any{"monitorId": id}, nil)
				rs, _ := runs["runs"].([]any)
				if isErr {
					t.Fatalf("get_monitor_runs: %v", runs)
				}
				if len(rs) > 0 && rs[len(rs)-1].(map[string]any)["endedAt"] != nil {
					first := rs[len(rs)-1].(map[string]any)
					if first["status"] != "completed" || first["changed"] != false {
						t.Errorf("first run: %v", first)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no run ended: %v", runs)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got, isErr := call(t, cs, "delete_monitor", map[string]any{"monitorId": id}, nil); isErr || got["success"] != true {
				t.Errorf("delete_monitor: %v", got)
			}
			if list, _ := call(t, cs, "list_monitors", nil, nil); len(list["monitors"].([]any)) != 0 {
				t.Errorf("after delete_monitor: %v", list)
			}
			if got, isErr := call(t, cs, "get_monitor_runs", map[string]any{"monitorId": id}, nil); !isErr || got["code"] != "MONITOR_NOT_FOUND" {
				t.Errorf("runs of a deleted monitor: %v", got)
			}
			if got, isErr := call(t, cs, "delete_monitor", map[string]any{}, nil); !isErr || got["details"].(map[string]any)["/monitorId"] != "is required" {
				t.Errorf("delete_monitor without an id: %v", got)
			}
		})
	}
}
