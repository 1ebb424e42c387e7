package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/errandhq/errand/internal/httpapi"
)

// Config is what NewServer needs.
type Config struct {
	// Errand is what the tools work on. Required.
	Errand Errand
	// Tenant is whose tasks the tools run and read when the transport does
	// not say: over stdio. Over HTTP (NewHTTP) it is the caller's API
	// key's. Local refuses a call without a tenant; Remote acts as its
	// key's. Default "".
	Tenant string
	// Version is errand's, announced to clients. Default "dev".
	Version string
	// DefaultTimeout is how long run_task and send_message wait for their
	// task when the call gives no timeout. Default 50s, under the 60s
	// most clients wait for a tool call.
	DefaultTimeout time.Duration
	// Logger receives what failed inside a tool (never its arguments).
	// Default: discarded.
	Logger *slog.Logger
}

// MaxTimeout is the longest a tool call waits for its task.
const MaxTimeout = time.Hour

// cancelTimeout bounds stopping a task whose tool call was cancelled.
const cancelTimeout = 10 * time.Second

// NewServer is errand's MCP server: its tools over c.Errand. It fails
// only if the API's request schemas cannot be read (a build defect).
func NewServer(c Config) (*sdk.Server, error) {
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 50 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	doc, err := parseOpenAPI(httpapi.OpenAPI())
	if err != nil {
		return nil, err
	}
	srv := sdk.NewServer(&sdk.Implementation{Name: "errand", Title: "errand", Version: c.Version}, &sdk.ServerOptions{
		Instructions: instructions,
		// Only what fails (the SDK tells of every session at Info);
		// arguments (task secrets) are never logged.
		Logger: slog.New(warnings{c.Logger.Handler()}),
		// No logging capability: nothing is sent as a log message.
		Capabilities: &sdk.ServerCapabilities{},
	})
	s := &server{Config: c}
	for _, t := range s.tools() {
		schema, err := t.schema(doc, c.DefaultTimeout)
		if err != nil {
			return nil, fmt.Errorf("tool %s: %w", t.name, err)
		}
		srv.AddTool(&sdk.Tool{
			Name: t.name, Title: t.title, Description: t.description, InputSchema: schema,
			Annotations: t.annotations,
		}, s.handler(t.run))
	}
	return srv, nil
}

const instructions = `errand runs web tasks in a headless browser: it opens a page, acts on it ` +
	`as the task says, and answers in text, JSON (to a JSON Schema) or CSV. ` +
	`run_task runs one task and waits for its answer; start_session and send_message ` +
	`run several tasks in one browser session (logins carry over). A task that outlives ` +
	`the call's timeout runs on: get_task reads its status, answer and step log later.`

// server holds the tools' shared configuration.
type server struct {
	Config
}

// tool is one of errand's tools: its name, its arguments' schema (what
// openapi.json says the endpoint behind it takes, with arguments of the
// tool's own) and what it does.
type tool struct {
	name, title, description string
	schema                   func(doc *openAPI, defaultTimeout time.Duration) (map[string]any, error)
	annotations              *sdk.ToolAnnotations
	run                      func(ctx context.Context, call *call) (*sdk.CallToolResult, error)
}

// body is the schema of a request body component; waits adds the timeout
// argument.
func body(component string, waits bool) func(*openAPI, time.Duration) (map[string]any, error) {
	return func(doc *openAPI, def time.Duration) (map[string]any, error) {
		var extra map[string]any
		if waits {
			extra = timeoutProperty(def)
		}
		return doc.bodySchema(component, extra)
	}
}

// params is the schema of an operation's parameters.
func params(method, path string) func(*openAPI, time.Duration) (map[string]any, error) {
	return func(doc *openAPI, _ time.Duration) (map[string]any, error) {
		return doc.paramsSchema(method, path, nil)
	}
}

// timeoutProperty is the timeout argument of the tools that wait for a
// task.
func timeoutProperty(def time.Duration) map[string]any {
	return map[string]any{"timeout": map[string]any{
		"type": "integer", "minimum": 0, "maximum": int(MaxTimeout.Seconds()), "default": int(def.Seconds()),
		"description": fmt.Sprintf("Seconds to wait for the task's answer (default %d, at most %d; 0 answers at once). "+
			"A task that outlives it runs on: the answer is its id and status, and get_task reads it later.",
			int(def.Seconds()), int(MaxTimeout.Seconds())),
	}}
}

func (s *server) tools() []tool {
	readOnly := &sdk.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}
	return []tool{
		{
			name: "run_task", title: "Run a web task", schema: body("RunTaskRequest", true),
			description: "Run one web task in a session of its own and wait for its answer (run-task of errand's API: " +
				"the same fields, checked the same way). Progress is reported at each step; cancelling the call stops the task.",
			annotations: &sdk.ToolAnnotations{OpenWorldHint: ptr(true)},
			run:         s.runTask,
		},
		{
			name: "start_session", title: "Start a browser session", schema: body("StartSessionRequest", false),
			description: "Open a browser session (start-session of errand's API), idle or with an initial task that is queued; " +
				"send_message adds tasks to it, which run one at a time in the same browser context.",
			annotations: &sdk.ToolAnnotations{OpenWorldHint: ptr(true)},
			run:         s.startSession,
		},
		{
			name: "send_message", title: "Send a message to a session", schema: body("SendMessageRequest", true),
			description: "Send a message to a session (send-message of errand's API): a newTask (waits for its answer like run_task), " +
				"a state change (pause, resume, stop, terminate) or a guardrail answer to a task waiting for a human.",
			annotations: &sdk.ToolAnnotations{OpenWorldHint: ptr(true)},
			run:         s.sendMessage,
		},
		{
			name: "get_task", title: "Read a task", schema: params("get", "/task/{sessionId}/{taskId}"),
			description: "A task's status, its answer once it has one, and its step log.",
			annotations: readOnly,
			run:         s.getTask,
		},
		{
			name: "list_tasks", title: "List tasks", schema: params("get", "/tasks"),
			description: "The tasks of this API key, newest first, a page at a time (nextCursor continues).",
			annotations: readOnly,
			run:         s.listTasks,
		},
		{
			name: "create_monitor", title: "Create a monitor", schema: body("CreateMonitorRequest", false),
			description: "Run a task on a schedule and notify a webhook only when its answer changes (POST /monitors of errand's API: " +
				"the same fields, checked the same way; the task is a run_task body).",
			annotations: &sdk.ToolAnnotations{OpenWorldHint: ptr(true)},
			run:         s.createMonitor,
		},
		{
			name: "list_monitors", title: "List monitors", schema: params("get", "/monitors"),
			description: "The monitors of this API key, with their schedule, next run and last answer, a page at a time.",
			annotations: readOnly,
			run:         s.listMonitors,
		},
		{
			name: "get_monitor_runs", title: "Read a monitor's runs", schema: params("get", "/monitors/{monitorId}/runs"),
			description: "A monitor's runs, newest first: each with its task, whether the answer changed, the changes and the rules that fired.",
			annotations: readOnly,
			run:         s.monitorRuns,
		},
		{
			name: "delete_monitor", title: "Delete a monitor", schema: params("delete", "/monitors/{monitorId}"),
			description: "Remove a monitor and its history; a run still going finishes and sends nothing.",
			annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
			run:         s.deleteMonitor,
		},
	}
}

func ptr[T any](v T) *T { return &v }

// call is one tool call: its arguments and whose they are.
type call struct {
	req    *sdk.CallToolRequest
	tenant string
	args   Body
}

// handler turns a tool's run into the SDK's handler: the arguments are
// read as a request body (the API's decoder checks them, so that a bad
// argument gets the API's field-by-field message), the tenant found, and
// a failure answered as the API's error.
func (s *server) handler(run func(context.Context, *call) (*sdk.CallToolResult, error)) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (res *sdk.CallToolResult, err error) {
		// The SDK runs handlers bare: a panic would end the whole server.
		defer func() {
			if v := recover(); v != nil {
				s.Logger.ErrorContext(ctx, "MCP tool panicked", "tool", req.Params.Name, "panic", fmt.Sprint(v))
				res, err = errorResult(httpapi.ErrorOf(errors.New("panic"))), nil
			}
		}()
		c := &call{req: req, tenant: s.Tenant}
		if req.Extra != nil && req.Extra.TokenInfo != nil {
			c.tenant = req.Extra.TokenInfo.UserID
		}
		args := Body{}
		if raw := req.Params.Arguments; len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &args); err != nil || args == nil {
				return errorResult(httpapi.Invalid(map[string]string{"": "the arguments must be a JSON object"})), nil
			}
		}
		c.args = args
		res, err = run(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			ae := httpapi.ErrorOf(err)
			if ae.Status >= 500 {
				s.Logger.ErrorContext(ctx, "MCP tool failed", "tool", req.Params.Name, "code", ae.Code, "err", errors.Join(ae.Internal, err))
			}
			return errorResult(ae), nil
		}
		return res, nil
	}
}

// timeout takes the timeout argument out of the arguments (it is the
// tool's, not the request's) and checks it as the API checks its fields.
func (c *call) timeout(def time.Duration) (time.Duration, error) {
	raw, ok := c.args["timeout"]
	delete(c.args, "timeout")
	if !ok || string(raw) == "null" {
		return def, nil
	}
	var f float64
	max := MaxTimeout.Seconds()
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) {
		return 0, httpapi.Invalid(map[string]string{"/timeout": "must be an integer"})
	}
	if f < 0 || f > max {
		return 0, httpapi.Invalid(map[string]string{"/timeout": fmt.Sprintf("must be between 0 and %d", int(max))})
	}
	return time.Duration(f) * time.Second, nil
}

func (s *server) runTask(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	// A bad timeout is refused before anything is queued.
	timeout, err := c.timeout(s.DefaultTimeout)
	if err != nil {
		return nil, err
	}
	ref, err := s.Errand.RunTask(ctx, c.tenant, c.args)
	if err != nil {
		return nil, err
	}
	return s.await(ctx, c, ref, timeout)
}

func (s *server) startSession(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	a, _, err := s.Errand.StartSession(ctx, c.tenant, c.args)
	if err != nil {
		return nil, err
	}
	return answerResult(a), nil
}

func (s *server) sendMessage(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	timeout, err := c.timeout(s.DefaultTimeout)
	if err != nil {
		return nil, err
	}
	a, ref, err := s.Errand.SendMessage(ctx, c.tenant, c.args)
	if err != nil {
		return nil, err
	}
	if ref == nil {
		return answerResult(a), nil
	}
	return s.await(ctx, c, *ref, timeout)
}

func (s *server) getTask(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	path, _, err := c.params([]string{"sessionId", "taskId"})
	if err != nil {
		return nil, err
	}
	return answered(s.Errand.Task(ctx, c.tenant, Ref{SessionID: path["sessionId"], TaskID: path["taskId"]}))
}

func (s *server) listTasks(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	_, q, err := c.params(nil, "sessionId", "status", "limit", "cursor")
	if err != nil {
		return nil, err
	}
	return answered(s.Errand.Tasks(ctx, c.tenant, q))
}

func (s *server) createMonitor(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	return answered(s.Errand.CreateMonitor(ctx, c.tenant, c.args))
}

func (s *server) listMonitors(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	_, q, err := c.params(nil, "limit", "cursor")
	if err != nil {
		return nil, err
	}
	return answered(s.Errand.ListMonitors(ctx, c.tenant, q))
}

func (s *server) monitorRuns(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	path, q, err := c.params([]string{"monitorId"}, "limit", "cursor")
	if err != nil {
		return nil, err
	}
	return answered(s.Errand.MonitorRuns(ctx, c.tenant, path["monitorId"], q))
}

func (s *server) deleteMonitor(ctx context.Context, c *call) (*sdk.CallToolResult, error) {
	path, _, err := c.params([]string{"monitorId"})
	if err != nil {
		return nil, err
	}
	return answered(s.Errand.DeleteMonitor(ctx, c.tenant, path["monitorId"]))
}

// answered is an operation's answer as a tool's result.
func answered(a Answer, err error) (*sdk.CallToolResult, error) {
	if err != nil {
		return nil, err
	}
	return answerResult(a), nil
}

// params reads the arguments of a tool that takes an endpoint's
// parameters: inPath are its path's (required), inQuery its query's. A
// string or a number is passed on as the URL would carry it, for the API
// to judge as it judges its parameters; another type is a problem of its
// argument.
func (c *call) params(inPath []string, inQuery ...string) (map[string]string, url.Values, error) {
	probs := map[string]string{}
	text := func(name string) (string, bool) {
		raw, ok := c.args[name]
		if !ok || string(raw) == "null" {
			return "", false
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String(), true
		}
		probs["/"+name] = "must be a string"
		return "", false
	}
	path := map[string]string{}
	for _, name := range inPath {
		v, ok := text(name)
		switch {
		case !ok && probs["/"+name] == "":
			probs["/"+name] = "is required"
		case ok && v == "":
			probs["/"+name] = "must not be empty"
		}
		path[name] = v
	}
	q := url.Values{}
	for _, name := range inQuery {
		if v, ok := text(name); ok && v != "" {
			q.Set(name, v)
		}
	}
	if len(probs) > 0 {
		return nil, nil, httpapi.Invalid(probs)
	}
	return path, q, nil
}

// await waits up to timeout for the task's answer, telling the client of
// each step as progress. A task that outlives the timeout runs on: the
// answer is then its status as polling gives it. A cancelled call stops
// the task; a client that went away leaves it running.
func (s *server) await(ctx context.Context, c *call, ref Ref, timeout time.Duration) (*sdk.CallToolResult, error) {
	// Progress counts the notifications; each message says what happened.
	token := c.req.Params.GetProgressToken()
	n := 0
	notify := func(msg string) {
		if token == nil {
			return
		}
		n++
		// A notification that cannot be sent is not the task's failure.
		_ = c.req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: token, Progress: float64(n), Message: msg})
	}
	// The task was just queued: the first notification says so, with its
	// ids, which a client needs should the call end before the task.
	last := "queued"
	status := func(st string) { notify(fmt.Sprintf("task %s of session %s is %s", ref.TaskID, ref.SessionID, st)) }
	status(last)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a, err := s.Errand.Follow(wctx, c.tenant, ref, Watch{
		Status: func(st string) {
			if st != last {
				last = st
				status(st)
			}
		},
		Step: func(st Step) { notify(st.String()) },
	})
	switch {
	case err == nil:
		return answerResult(a), nil
	case ctx.Err() != nil:
		// An explicit cancellation (notifications/cancelled) cancels with
		// context.Canceled as its cause; a connection that closed, with
		// its read error.
		if errors.Is(context.Cause(ctx), context.Canceled) {
			cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
			defer stop()
			if cerr := s.Errand.Cancel(cctx, c.tenant, ref); cerr != nil {
				s.Logger.WarnContext(ctx, "the task of a cancelled MCP call could not be stopped", "taskId", ref.TaskID, "err", cerr)
			}
		}
		return nil, ctx.Err()
	case wctx.Err() == nil:
		return nil, err
	}
	a, err = s.Errand.Task(ctx, c.tenant, ref)
	if err != nil {
		return nil, err
	}
	delete(a, "steps")
	a["message"] = fmt.Sprintf("The task is %v after %s of waiting and runs on: call get_task with its sessionId and taskId for its answer.", a["status"], timeout)
	return answerResult(a), nil
}

// answerResult is an answer of the API as a tool's result: as text for the
// model and as structured content. A task that failed or was cancelled is
// an error of the tool (the API says success: false).
func answerResult(a Answer) *sdk.CallToolResult {
	text, _ := json.MarshalIndent(a, "", "  ")
	failed := a["success"] == false
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(text)}}, StructuredContent: a, IsError: failed}
}

// errorResult is the API's error answer as a tool's failed result.
func errorResult(ae *httpapi.Error) *sdk.CallToolResult {
	return answerResult(ae.Body())
}

// warnings passes on only warnings and errors.
type warnings struct{ slog.Handler }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnings{w.Handler.WithAttrs(attrs)}
}

func (w warnings) WithGroup(name string) slog.Handler { return warnings{w.Handler.WithGroup(name)} }
