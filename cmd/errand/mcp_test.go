package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/errandhq/errand/internal/mcp/mcptest"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/testenv"
)

// mcpCall calls a tool and returns its structured answer and whether the
// tool said it failed.
func mcpCall(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, meta sdk.Meta) (map[string]any, bool) {
	t.Helper()
	return mcptest.Call(t, cs, name, args, meta)
}

// gatedSite is newSite (its /product, /slow2s, …) and, on a server of its
// own, /gate, whose answer waits until the request is abandoned; each
// request it holds is sent on held.
type gatedSite struct {
	*httptest.Server
	gate *httptest.Server
	held chan *http.Request
}

func newGatedSite(t *testing.T) *gatedSite {
	t.Helper()
	g := &gatedSite{Server: newSite(t), held: make(chan *http.Request, 8)}
	g.gate = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.held <- r
		<-r.Context().Done()
	}))
	t.Cleanup(g.gate.Close)
	return g
}

// productSchema asks for the product page's name and price.
var productSchema = map[string]any{"type": "object", "required": []any{"name", "price"},
	"properties": map[string]any{"name": map[string]any{"type": "string"}, "price": map[string]any{"type": "number"}}}

// checkProductRun runs the product task through run_task and checks its
// answer and its progress: a notification per step of its log.
func checkProductRun(t *testing.T, cs *sdk.ClientSession, p *mcptest.Progress, page string) (sid, tid string) {
	t.Helper()
	got, isErr := mcpCall(t, cs, "run_task", map[string]any{
		"taskDetails": "The product's name and price", "startingPoint": page,
		"outputType": "structured_json", "outputSchema": productSchema,
	}, sdk.Meta{"progressToken": "product"})
	if isErr || got["type"] != "task_completed" {
		t.Fatalf("run_task: %v", got)
	}
	msg := got["data"].(map[string]any)["message"].(string)
	if msg != `{"name":"Acme Anvil","price":29.99}` {
		t.Errorf("answer = %s", msg)
	}
	sid, tid = got["sessionId"].(string), got["taskId"].(string)
	task, _ := mcpCall(t, cs, "get_task", map[string]any{"sessionId": sid, "taskId": tid}, nil)
	steps, _ := task["steps"].([]any)
	if len(steps) < 2 {
		t.Fatalf("get_task's step log: %v", task)
	}
	// The task's status (with its ids), then each of its steps.
	all := p.WaitSteps(t, len(steps))
	if want := fmt.Sprintf("task %s of session %s is queued", tid, sid); len(all) == 0 || all[0] != want {
		t.Errorf("progress = %q, want %q first", all, want)
	}
	msgs := mcptest.Steps(all)
	if len(msgs) != len(steps) {
		t.Fatalf("progress = %q for %d steps", all, len(steps))
	}
	for i, s := range steps {
		if want := fmt.Sprintf("step %d: %s %s", i+1, s.(map[string]any)["action"], page); msgs[i] != want {
			t.Errorf("progress %d = %q, want %q", i, msgs[i], want)
		}
	}
	return sid, tid
}

// checkCancel starts a task on the held page, cancels the call once the
// page is being loaded, and checks that the load is abandoned and the task
// ends cancelled.
func checkCancel(t *testing.T, cs *sdk.ClientSession, site *gatedSite) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "run_task", Arguments: map[string]any{"taskDetails": "Read it", "startingPoint": site.gate.URL + "/gate"}})
		done <- err
	}()
	var held *http.Request
	select {
	case held = <-site.held:
	case <-time.After(20 * time.Second):
		t.Fatal("the task never loaded its page")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled call ended with %v", err)
	}
	select {
	case <-held.Context().Done():
	case <-time.After(10 * time.Second):
		t.Error("the cancelled task went on loading its page")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, _ := mcpCall(t, cs, "list_tasks", map[string]any{"status": "cancelled"}, nil)
		if tasks, _ := list["tasks"].([]any); len(tasks) == 1 {
			if tk := tasks[0].(map[string]any); tk["code"] != "CANCELLED" || tk["startingPoint"] != site.gate.URL+"/gate" {
				t.Errorf("cancelled task: %v", tk)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cancelled task: %v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mcpProcess starts the real binary as `errand mcp` with args and env and
// connects an MCP client to it over stdio.
func mcpProcess(t *testing.T, env []string, opts *sdk.ClientOptions, args ...string) (*sdk.ClientSession, *exec.Cmd, *syncBuffer) {
	t.Helper()
	bin, err := buildErrand()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"mcp"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "errand-test", Version: "1"}, opts).
		Connect(t.Context(), &sdk.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Minute}, nil)
	if err != nil {
		t.Fatalf("connect to errand mcp: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { cs.Close() })
	return cs, cmd, logs
}

// errand mcp as an assistant starts it: the real binary over stdio, an
// embedded errand in its data folder. It lists its tools, runs a task on a
// local page with the built-in extractor and reports its steps, stops a
// task whose call is cancelled, exits when the client closes stdin, and
// leaves its tasks where errand serve finds them.
func TestMCPStdio(t *testing.T) {
	site := newGatedSite(t)
	data := t.TempDir()
	p := &mcptest.Progress{}
	cs, cmd, logs := mcpProcess(t, nil, p.Options(), "--data", data, "--browser", "http", "--allow-networks", "127.0.0.0/8,::1/128")
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		if tl.InputSchema.(map[string]any)["type"] != "object" {
			t.Errorf("%s's input schema is not an object", tl.Name)
		}
	}
	slices.Sort(names)
	if want := []string{"create_monitor", "delete_monitor", "get_monitor_runs", "get_task", "list_monitors", "list_tasks", "run_task", "send_message", "start_session"}; !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}
	sid, tid := checkProductRun(t, cs, p, site.URL+"/product")
	checkCancel(t, cs, site)

	// Closing stdin is how a client ends the session: errand mcp exits
	// by itself (it would be sent SIGTERM only after minutes).
	if err := cs.Close(); err != nil || !cmd.ProcessState.Success() {
		t.Errorf("errand mcp exited with %v after the client left\n%s", err, logs.String())
	}
	// The task is in the data folder, the bootstrap key's.
	srv := startServer(t, data)
	if m := srv.waitTask(t, sid, tid); m["type"] != "task_completed" {
		t.Errorf("errand serve over the same data finds %v", m)
	}
}

// errand mcp --server talks to a running errand with the API key of its
// environment, and is refused with a wrong one; without a key it does not
// start.
func TestMCPStdioToServer(t *testing.T) {
	site := newGatedSite(t)
	srv := startServer(t, "")
	p := &mcptest.Progress{}
	cs, _, _ := mcpProcess(t, []string{"ERRAND_API_KEY=" + testKey}, p.Options(), "--server", srv.URL)
	sid, tid := checkProductRun(t, cs, p, site.URL+"/product")
	if m := srv.waitTask(t, sid, tid); m["type"] != "task_completed" {
		t.Errorf("the server's own answer: %v", m)
	}
	checkCancel(t, cs, site)

	bad, _, _ := mcpProcess(t, []string{"ERRAND_API_KEY=wrong-key"}, nil, "--server", srv.URL)
	got, isErr := mcpCall(t, bad, "run_task", map[string]any{"taskDetails": "x", "startingPoint": site.URL + "/product"}, nil)
	if !isErr || got["code"] != "INVALID_API_KEY" {
		t.Errorf("wrong key: %v", got)
	}
	var out, errOut syncBuffer
	err := run(t.Context(), []string{"mcp", "--server", srv.URL}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "ERRAND_API_KEY") {
		t.Errorf("--server without a key: %v", err)
	}
}

// bearer adds an API key to each request.
type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.base.RoundTrip(r)
}

// mcpHTTP connects an MCP client to errand serve's /mcp with key.
func mcpHTTP(t *testing.T, srv *server, key string, opts *sdk.ClientOptions) (*sdk.ClientSession, error) {
	t.Helper()
	tr := &sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer{key, http.DefaultTransport}}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "errand-test", Version: "1"}, opts).Connect(t.Context(), tr, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// /mcp on errand serve: the same tools over streamable HTTP, with the API's
// keys. A wrong key is refused, each key sees only its tenant's tasks, and
// an MCP session cannot be used with another tenant's key.
func TestMCPOverHTTP(t *testing.T) {
	site := newGatedSite(t)
	data := t.TempDir()
	var out, errOut syncBuffer
	if err := run(t.Context(), []string{"keys", "create", "--name", "other", "--data", data}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("keys create: %v %s", err, errOut.String())
	}
	otherKey := strings.TrimSpace(out.String())
	srv := startServer(t, data)

	if _, err := mcpHTTP(t, srv, "wrong-key", nil); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("a wrong key connected: %v", err)
	}
	p := &mcptest.Progress{}
	cs, err := mcpHTTP(t, srv, testKey, p.Options())
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, srv.logs.String())
	}
	sid, tid := checkProductRun(t, cs, p, site.URL+"/product")
	checkCancel(t, cs, site)

	other, err := mcpHTTP(t, srv, otherKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, isErr := mcpCall(t, other, "get_task", map[string]any{"sessionId": sid, "taskId": tid}, nil)
	if !isErr || got["code"] != "TASK_NOT_FOUND" {
		t.Errorf("another tenant's get_task: %v", got)
	}
	if list, _ := mcpCall(t, other, "list_tasks", nil, nil); len(list["tasks"].([]any)) != 0 {
		t.Errorf("another tenant lists %v", list)
	}
	// The first client's MCP session, used with the other key.
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}}`
	req, _ := http.NewRequest("POST", srv.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+otherKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(raw), tid) {
		t.Errorf("another tenant's key on this session: %d %s", resp.StatusCode, raw)
	}
	// Behind a reverse proxy on this machine, with the public Host.
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"proxied","version":"1"}}}`
	req, _ = http.NewRequest("POST", srv.URL+"/mcp", strings.NewReader(init))
	req.Host = "errand.example.com"
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"serverInfo"`) {
		t.Errorf("initialize through a proxy: %d %s", resp.StatusCode, raw)
	}
	// Without a key, /mcp answers like every other route.
	code, m := srv.callKey(t, "", "POST", "/mcp", json.RawMessage(body))
	if code != 401 || m["code"] != "INVALID_API_KEY" {
		t.Errorf("no key: %d %v", code, m)
	}
}

// Secrets given to run_task follow the API's rules: typed into the page
// by the model-driven agent (real Chromium, the fake OpenAI-compatible
// endpoint), never in the tool's answer, its progress messages, the
// server's logs or what the model is sent.
func TestMCPSecretsNeverEchoed(t *testing.T) {
	needChromium(t)
	const email, password = "mcp-ada@shop.example", "mcp-s3cret-Pa55"
	posted := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, signInPage) })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		posted <- r.PostForm.Get("email") + " " + r.PostForm.Get("password")
		http.Redirect(w, r, "/orders", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Orders</title></head><body><h1>Orders</h1><p>Order 1042: one anvil, shipped.</p></body></html>`)
	})
	site := httptest.NewServer(mux)
	defer site.Close()
	fake := modeltest.New(t, signIn(t, 900, 40), func(r modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "Order 1042 shipped"}}}, PromptTokens: 700, CompletionTokens: 10}
	})
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	p := &mcptest.Progress{}
	cs, err := mcpHTTP(t, srv, testKey, p.Options())
	if err != nil {
		t.Fatal(err)
	}
	got, isErr := mcpCall(t, cs, "run_task", map[string]any{
		"taskDetails": "Sign in and read the last order", "startingPoint": site.URL + "/login",
		"secrets": []any{map[string]any{"match": "127.0.0.1", "fields": map[string]any{"email": email, "password": password}}},
	}, sdk.Meta{"progressToken": "signin"})
	if isErr || got["data"].(map[string]any)["message"] != "Order 1042 shipped" {
		t.Fatalf("run_task: %v", got)
	}
	if form := <-posted; form != email+" "+password {
		t.Errorf("the site got %q", form)
	}
	task, _ := mcpCall(t, cs, "get_task", map[string]any{"sessionId": got["sessionId"], "taskId": got["taskId"]}, nil)
	msgs := p.WaitSteps(t, len(task["steps"].([]any)))
	if len(msgs) < 2 {
		t.Errorf("progress = %q", msgs)
	}
	var everything strings.Builder
	everything.WriteString(mustJSON(t, got) + mustJSON(t, task) + strings.Join(msgs, "\n") + srv.logs.String())
	for _, r := range fake.Requests() {
		everything.Write(r.Raw)
	}
	for _, secret := range []string{email, password} {
		if strings.Contains(everything.String(), secret) {
			t.Errorf("secret %q leaked to an answer, a progress message, the logs or the model", secret)
		}
	}
}

// The reference TypeScript SDK (@modelcontextprotocol/sdk, installed from
// npm by .ci/run) as errand's client, over stdio (the real binary) and
// over HTTP: it lists the tools and compiles their input schemas with a
// JSON Schema 2020-12 validator, runs a task with progress, gets the API's
// answer to a bad argument, cancels a task, and is refused with a wrong
// key.
func TestMCPTypeScriptSDK(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "Node.js", "apt-get install nodejs npm", err)
	}
	const dir = "testdata/mcpclient"
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		testenv.Missing(t, "the MCP TypeScript SDK", "npm ci --prefix cmd/errand/testdata/mcpclient", err)
	}
	bin, err := buildErrand()
	if err != nil {
		t.Fatal(err)
	}
	site := newGatedSite(t)
	srv := startServer(t, "")
	cases := map[string]map[string]any{
		"stdio": {"transport": "stdio", "command": bin,
			"args": []string{"mcp", "--data", t.TempDir(), "--browser", "http", "--allow-networks", "127.0.0.0/8,::1/128"}},
		"http": {"transport": "http", "url": srv.URL + "/mcp", "key": testKey, "badKey": "wrong-key"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			cfg["product"], cfg["slow"], cfg["gate"] = site.URL+"/product", site.URL+"/slow2s", site.gate.URL+"/gate"
			cmd := exec.CommandContext(t.Context(), nodeBin, "client.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "ERRAND_MCP_TEST="+mustJSON(t, cfg))
			var stderr syncBuffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("the TypeScript client failed: %v\n%s", err, stderr.String())
			}
			var r struct {
				Tools        []string
				SchemaErrors map[string]string
				RunArgsValid bool
				BadArgsValid bool
				Progress     []struct {
					Progress float64
					Message  string
				}
				Run         map[string]any
				RunIsError  bool
				Slow        map[string]any
				Steps       []map[string]any
				Bad         map[string]any
				BadIsError  bool
				CancelError string
				Cancelled   map[string]any
				BadKeyError *string
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("report: %v\n%s", err, out)
			}
			if want := []string{"create_monitor", "delete_monitor", "get_monitor_runs", "get_task", "list_monitors", "list_tasks", "run_task", "send_message", "start_session"}; !slices.Equal(r.Tools, want) {
				t.Errorf("tools = %v", r.Tools)
			}
			if len(r.SchemaErrors) > 0 || !r.RunArgsValid || r.BadArgsValid {
				t.Errorf("input schemas: errors %v, task valid %v, bad outputType valid %v", r.SchemaErrors, r.RunArgsValid, r.BadArgsValid)
			}
			if data, _ := r.Run["data"].(map[string]any); r.RunIsError || data["message"] != `{"name":"Acme Anvil","price":29.99}` {
				t.Errorf("run_task: %v", r.Run)
			}
			// The slow task's progress: its ids first (sent as it is queued,
			// seconds before its answer), then what it did, in order. A
			// notification written together with the answer can be lost by
			// this SDK (typescript-sdk#2580), so later ones may be missing.
			ids := fmt.Sprintf("task %s of session %s is ", r.Slow["taskId"], r.Slow["sessionId"])
			want := []string{ids + "queued", ids + "running"}
			for i, s := range r.Steps {
				want = append(want, fmt.Sprintf("step %d: %s %s", i+1, s["action"], cfg["slow"]))
			}
			if r.Slow["type"] != "task_completed" || len(r.Steps) < 2 || len(r.Progress) == 0 || r.Progress[0].Message != want[0] {
				t.Fatalf("slow task %v: progress %v, want %q first", r.Slow, r.Progress, want[0])
			}
			next := 0
			for i, p := range r.Progress {
				for next < len(want) && want[next] != p.Message {
					next++
				}
				if next == len(want) || p.Progress != float64(i+1) {
					t.Errorf("progress %d = %v %q: not the next of %q", i, p.Progress, p.Message, want)
					break
				}
			}
			if d, _ := r.Bad["details"].(map[string]any); !r.BadIsError || r.Bad["code"] != "INVALID_REQUEST" || d["/outputType"] == nil {
				t.Errorf("bad argument: %v", r.Bad)
			}
			if !strings.Contains(r.CancelError, "changed their mind") || r.Cancelled["code"] != "CANCELLED" || r.Cancelled["startingPoint"] != cfg["gate"] {
				t.Errorf("cancel: call ended %q, task %v", r.CancelError, r.Cancelled)
			}
			if name == "http" && (r.BadKeyError == nil || !strings.Contains(*r.BadKeyError, "INVALID_API_KEY")) {
				t.Errorf("a wrong key: %q", deref(r.BadKeyError))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "(not tried)"
	}
	return *s
}

// The README's MCP client configurations are what errand takes: each is
// JSON; a stdio one's arguments are errand mcp's flags, its environment
// variables ones errand mcp reads; an HTTP one points at /mcp with a
// bearer key.
func TestREADMEMCPConfigurations(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Use it from an assistant or IDE (MCP)")
	section, _, _ = strings.Cut(section, "\n## ")
	if !ok {
		t.Fatal("the README has no MCP section")
	}
	var help syncBuffer
	if err := run(t.Context(), []string{"mcp", "--help"}, func(string) string { return "" }, strings.NewReader(""), &help, io.Discard); err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(section, "```json\n")[1:]
	if len(blocks) < 3 {
		t.Fatalf("%d JSON configurations in the README's MCP section, want stdio, --server and HTTP", len(blocks))
	}
	for i, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		var cfg struct {
			MCPServers map[string]struct {
				Command string            `json:"command"`
				Args    []string          `json:"args"`
				Env     map[string]string `json:"env"`
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
			} `json:"mcpServers"`
		}
		if err := json.Unmarshal([]byte(b), &cfg); err != nil || len(cfg.MCPServers) != 1 {
			t.Errorf("configuration %d is not one MCP server in JSON: %v\n%s", i, err, b)
			continue
		}
		for _, s := range cfg.MCPServers {
			switch {
			case s.Command != "":
				var out, errOut syncBuffer
				args := append(slices.Clone(s.Args), "--help")
				if !strings.HasSuffix(s.Command, "errand") || len(s.Args) == 0 || s.Args[0] != "mcp" {
					t.Errorf("configuration %d does not start errand mcp: %s %v", i, s.Command, s.Args)
				} else if err := run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
					t.Errorf("configuration %d: errand %v: %v %s", i, s.Args, err, errOut.String())
				}
				for name := range s.Env {
					if !strings.Contains(help.String(), "\n  "+name+" ") {
						t.Errorf("configuration %d sets %s, which errand mcp does not read", i, name)
					}
				}
			case !strings.HasSuffix(s.URL, "/mcp") || !strings.HasPrefix(s.Headers["Authorization"], "Bearer "):
				t.Errorf("configuration %d is not /mcp with a bearer key: %s %v", i, s.URL, s.Headers)
			}
		}
	}
}
