package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

// Model is the language model the agent asks what to do; *model.Client
// implements it over any OpenAI-compatible endpoint.
type Model interface {
	Complete(ctx context.Context, req model.Request) (model.Response, error)
}

// LLM is the model-driven agent: it observes the page, asks the model for
// the next action (a tool call), runs it in the browser, and repeats until
// the model answers, asks a human, or a limit is reached.
//
// It keeps the conversation small: each request carries the task, one short
// line per earlier action, the model's notes and only the latest page view,
// so a 30-step task costs about as much per step as a 3-step one.
type LLM struct {
	// Model is asked for each step. Required.
	Model Model
	// Browser gives each session its page. Required.
	Browser Browser
	// MaxSteps bounds the model calls of one run; past it the model gets one
	// last turn to answer. Default 40.
	MaxSteps int
	// RepairTurns is how many times an answer that does not match the output
	// type is sent back with the validator's messages before the task fails
	// with OUTPUT_INVALID. Default 2; negative for none.
	RepairTurns int
	// MaxObservationChars cuts a page view longer than this (the browser
	// already keeps views compact; this is a backstop). Default 16000.
	MaxObservationChars int
	// Screenshot asks the browser for a viewport image with each view.
	// Default false (the image is not sent to the model yet either way).
	Screenshot bool
	// Trace configures the screenshot kept with each step in the task's
	// trace (package trace). Default: on, JPEG quality 60, at most 300 KiB.
	Trace trace.Capture
	// Recipes keeps learned tasks: with it, tasks whose replay mode allows
	// (see task.Spec.ReplayMode) replay their recipe without the model and
	// record what the model did (package recipe). Default nil: no replay,
	// nothing recorded, and replay "require" fails with REPLAY_UNAVAILABLE.
	Recipes RecipeBook
	// ReplaySettle bounds how long a replayed step waits for the page to
	// reach the recorded state, an element to appear, or the answer to be
	// readable, before the model takes over; it waits only while the page
	// has not settled (Inspector.Quiet). Default 2s.
	ReplaySettle time.Duration
	// Now is the clock for step durations. Default time.Now.
	Now func() time.Time

	// shotWaited, when set (by tests and benchmarks), is told how long the
	// loop waited for a step screenshot.
	shotWaited func(time.Duration)
}

func (a *LLM) replaySettle() time.Duration {
	if a.ReplaySettle > 0 {
		return a.ReplaySettle
	}
	return 2 * time.Second
}

// startCallID is the id of the tool call that opens startingPoint.
const startCallID = "call_start"

func (a *LLM) repairTurns() int {
	switch {
	case a.RepairTurns == 0:
		return 2
	case a.RepairTurns < 0:
		return 0
	}
	return a.RepairTurns
}

// taskRun is the state of one Run.
type taskRun struct {
	a     *LLM
	req   Request
	spec  task.Spec
	tab   Tab
	sec   *secrets
	now   func() time.Time
	limit struct{ in, out int64 }

	maxSteps int
	schema   *output.Schema
	columns  []string
	system   string
	intro    string

	// inflight is the step screenshot being taken beside the loop, line
	// the steps waiting for theirs (trace.go).
	inflight *pendingShot
	line     *stepLine

	usage   task.Usage
	network []task.NetworkURL
	steps   int // steps recorded
	calls   int // model calls made
	// navFailure is the latest navigation's refusal or failure; a later
	// successful one clears it.
	navFailure *NavigationError
	notes      []string
	// tabNews are what happened to the tab besides the actions (a new tab
	// opened, a tab closed), to tell the model with the next page view.
	tabNews []string
	// files are the downloads kept for the task's result; fileNews what
	// the model is told of downloads with its next page view.
	files    []task.File
	fileNews []string
	turns    []turn
	repairs  int  // repair turns used
	repair   bool // the last answer was invalid: the next turn is a repair
	// learn is the run's part in learned tasks (replay, recording); nil
	// when it has none.
	learn *learning
	// firstView fingerprints the first page view; acted: a tool other
	// than an answer or a note ran, so the answer may not come from that
	// view alone (see memo.go).
	firstView string
	acted     bool
}

// turn is one model answer and what its tool calls did, kept in compact
// form for later requests.
type turn struct {
	assistant model.Message
	results   []model.Message // one per tool call, full text
	short     []string        // the same, shortened for older turns
	nudge     string          // a user message after a turn without tool call
}

// Run implements Agent: prepare, open the starting point, then one turn
// after another (observe, ask, act) until a turn ends the task.
func (a *LLM) Run(ctx context.Context, req Request) task.Outcome {
	r := &taskRun{a: a, req: req, spec: req.Task.Spec, now: a.Now, sec: newSecrets(req.Task.Spec.Secrets, a.Now)}
	if r.now == nil {
		r.now = time.Now
	}
	out := r.drive(ctx)
	out = r.lastDownloads(ctx, out)
	return r.finish(r.conclude(ctx, out))
}

func (r *taskRun) drive(ctx context.Context) task.Outcome {
	if out := r.prepare(ctx); out != nil {
		return *out
	}
	if out := r.plan(ctx); out != nil {
		return *out
	}
	if r.learn != nil && r.learn.prev != nil {
		if out, done := r.replay(ctx); done {
			return out
		}
	} else if out := r.openStart(ctx); out != nil {
		return *out
	}
	for {
		if out := r.next(ctx); out != nil {
			return *out
		}
	}
}

// finish fills in what every outcome reports (usage, network) and masks
// what is reported by webhook and stored.
func (r *taskRun) finish(out task.Outcome) task.Outcome {
	r.settleShot()
	if r.line != nil {
		r.line.drain() // every step recorded before the outcome
	}
	if r.tab != nil {
		r.collectNetwork()
	}
	out.Usage.InputTokens = r.usage.InputTokens
	out.Usage.OutputTokens = r.usage.OutputTokens
	out.Network = r.network
	out.Files = r.files
	out.Message = r.sec.mask(out.Message)
	out.Error = r.sec.mask(out.Error)
	out.Question = r.sec.mask(out.Question)
	if out.PageHash == "" && !r.acted && out.Status() == task.StatusCompleted {
		out.PageHash = r.firstView
	}
	return out
}

// prepare checks the configuration, compiles the output type, writes the
// prompts and opens the session's page.
func (r *taskRun) prepare(ctx context.Context) *task.Outcome {
	a := r.a
	if a.Model == nil || a.Browser == nil {
		return &task.Outcome{Code: task.CodeModelError, Error: "the agent has no model or no browser configured"}
	}
	r.limit.in, r.limit.out = int64(r.spec.MaxInputTokens), int64(r.spec.MaxOutputTokens)
	if r.limit.in <= 0 {
		r.limit.in = task.DefaultMaxTokens
	}
	if r.limit.out <= 0 {
		r.limit.out = task.DefaultMaxTokens
	}
	r.maxSteps = a.MaxSteps
	if r.maxSteps <= 0 {
		r.maxSteps = 40
	}
	if out := r.compileOutput(); out != nil {
		return out
	}
	r.system = r.systemPrompt()
	r.intro = r.taskMessage()

	tab, err := a.Browser.Tab(ctx, r.req.Task.SessionID, pageOptions(r.spec))
	if err != nil {
		if ctx.Err() != nil {
			out := ctxOutcome(ctx)
			return &out
		}
		return &task.Outcome{Code: task.CodeBrowserError, Error: "the browser could not open a page: " + r.sec.mask(err.Error())}
	}
	r.tab = tab
	return nil
}

// compileOutput reads the requested output type and its schema or
// columns, which every answer is validated against.
func (r *taskRun) compileOutput() *task.Outcome {
	switch r.spec.OutputType {
	case task.OutputJSON, "structured":
		s, err := output.CompileSchema(r.spec.OutputSchema)
		if err != nil {
			return &task.Outcome{Code: task.CodeOutputInvalid, Error: err.Error()}
		}
		r.schema = s
		r.spec.OutputType = task.OutputJSON
	case task.OutputCSV:
		cols, err := output.ParseColumns(r.spec.OutputSchema)
		if err != nil {
			return &task.Outcome{Code: task.CodeOutputInvalid, Error: err.Error()}
		}
		r.columns = cols
	default:
		r.spec.OutputType = task.OutputText
	}
	return nil
}

// openStart opens startingPoint, unless this run resumes after a human's
// answer on a page that is still open (the session's tab keeps it).
func (r *taskRun) openStart(ctx context.Context) *task.Outcome {
	resuming := r.req.Task.Answer != "" && !blank(r.tab.URL())
	if r.spec.StartingPoint == "" || resuming {
		return nil
	}
	args, _ := json.Marshal(map[string]string{"url": r.spec.StartingPoint})
	call := model.ToolCall{ID: startCallID, Name: toolNavigate, Arguments: string(args)}
	began := r.now()
	res := r.perform(ctx, call)
	if out := r.record(ctx, call, res, began, model.Usage{}); out != nil {
		return out
	}
	if res.err != "" {
		// The model sees the refusal and may find another way.
		r.turns = append(r.turns, turn{
			assistant: model.Message{Role: model.RoleAssistant, ToolCalls: []model.ToolCall{call}},
			results:   []model.Message{{Role: model.RoleTool, ToolCallID: call.ID, Content: res.text}},
			short:     []string{res.text},
		})
	}
	return nil
}

// next runs one turn: observe the page, ask the model, act on its answer.
// It returns the outcome when the turn ended the task.
func (r *taskRun) next(ctx context.Context) *task.Outcome {
	if ctx.Err() != nil {
		out := ctxOutcome(ctx)
		return &out
	}
	// Past the limit the model gets turns with only done and give_up: one
	// to answer, and the repair turns that answer may need.
	final := r.calls >= r.maxSteps
	if r.calls > r.maxSteps+r.a.repairTurns() {
		out := r.noAnswer(fmt.Sprintf("the model gave no answer within %d steps", r.maxSteps))
		return &out
	}
	obs := r.observe(ctx)
	if obs.end != nil {
		return obs.end
	}
	if out := r.unchanged(obs); out != nil {
		return out
	}
	if out, done, rejoined := r.rejoin(ctx); rejoined {
		if done {
			return &out
		}
		return nil // taken over again: the next turn looks at the page anew
	}
	resp, began, out := r.ask(ctx, obs, final)
	if out != nil {
		return out
	}
	return r.actOn(ctx, resp, began)
}

// ask sends one request: the conversation so far and the current page. It
// counts the call and its tokens, and ends the task on a model error or
// past the token budget.
func (r *taskRun) ask(ctx context.Context, obs observation, final bool) (model.Response, time.Time, *task.Outcome) {
	msgs := r.messages(obs.text, final)
	// A screenshot could show a secret the agent typed: tasks with secrets
	// never send one.
	if obs.image != nil && len(r.spec.Secrets) == 0 {
		msgs[len(msgs)-1].Images = [][]byte{obs.image}
	}
	mreq := model.Request{Messages: msgs, Tools: tools(r.spec.OutputType, final)}
	if r.repair && r.schema != nil && r.schema.Root().Is("object") {
		// Structured outputs (where the endpoint supports them) make the
		// repaired answer valid by construction. Only object roots: OpenAI
		// refuses others, which would switch the feature off.
		mreq.Schema = &model.Schema{Name: "answer", Schema: r.schema.Raw()}
	}
	began := r.now()
	resp, err := r.a.Model.Complete(ctx, mreq)
	r.calls++
	if err != nil {
		if ctx.Err() != nil {
			out := ctxOutcome(ctx)
			return resp, began, &out
		}
		msg := r.sec.mask(err.Error())
		r.step(task.Step{Action: "model", Error: msg, URL: r.sec.mask(r.tab.URL()), DurationMs: r.since(began)})
		var me *model.Error
		if !errors.As(err, &me) {
			msg = "the model call failed: " + msg
		}
		return resp, began, &task.Outcome{Code: task.CodeModelError, Error: msg}
	}
	r.usage.InputTokens += resp.Usage.PromptTokens
	r.usage.OutputTokens += resp.Usage.CompletionTokens
	return resp, began, r.overBudget(resp, began)
}

// actOn runs the tool calls of the model's answer in order and keeps the
// turn for later requests.
func (r *taskRun) actOn(ctx context.Context, resp model.Response, began time.Time) *task.Outcome {
	calls := r.toolCalls(&resp, began)
	if len(calls) == 0 {
		return nil
	}
	t := turn{assistant: model.Message{Role: model.RoleAssistant, Content: clip(r.sec.mask(resp.Message.Content), 500)}}
	var end *task.Outcome
	stale := false // a previous call of this answer failed or may have changed the page
	for i, call := range calls {
		if call.ID == "" {
			call.ID = fmt.Sprintf("call_%d_%d", r.calls, i)
		}
		kept := call
		kept.Arguments = r.sec.mask(call.Arguments)
		t.assistant.ToolCalls = append(t.assistant.ToolCalls, kept)
		var res actResult
		stepBegan := r.now()
		switch {
		case end != nil:
			res = actResult{text: "not run: the task already ended"}
		case stale && call.Name != toolNote:
			// Element numbers (and the answer) belong to the page the model
			// saw; after a failure or a possible page change the rest of
			// the batch would act blind.
			res = actResult{text: "not run: the previous action failed or changed the page; look at the current page first", err: "not run", notRun: true}
		default:
			res = r.perform(ctx, call)
			r.acted = r.acted || !readsOnly(call.Name)
			if res.answer != nil {
				res = r.checkAnswer(*res.answer)
			}
			stale = stale || res.err != "" || res.navigated
		}
		usage := model.Usage{}
		if i == 0 {
			// The model call's tokens and time go to the step of its first
			// action.
			usage, stepBegan = resp.Usage, began
		}
		if end == nil {
			end = r.record(ctx, call, res, stepBegan, usage)
		}
		t.results = append(t.results, model.Message{Role: model.RoleTool, ToolCallID: call.ID, Content: res.text})
		t.short = append(t.short, shorten(res))
	}
	r.turns = append(r.turns, t)
	return end
}

// toolCalls are the calls of the model's answer. An answer without one is
// the answer itself on a repair turn (that is where response_format puts
// it), else a turn that nudges the model to act.
func (r *taskRun) toolCalls(resp *model.Response, began time.Time) []model.ToolCall {
	if calls := resp.Message.ToolCalls; len(calls) > 0 {
		return calls
	}
	if r.repair && strings.TrimSpace(resp.Message.Content) != "" {
		calls := []model.ToolCall{{ID: "call_content", Name: toolDone, Arguments: mustJSON(map[string]string{"answer": resp.Message.Content})}}
		resp.Message.Content = ""
		return calls
	}
	r.step(task.Step{Action: "message", URL: r.sec.mask(r.tab.URL()),
		InputTokens: resp.Usage.PromptTokens, OutputTokens: resp.Usage.CompletionTokens,
		DurationMs: r.since(began), Error: "the model answered without a tool call"})
	r.turns = append(r.turns, turn{
		assistant: model.Message{Role: model.RoleAssistant, Content: clip(r.sec.mask(resp.Message.Content), 500)},
		nudge:     "Act by calling one of the tools; to finish, call done with the answer.",
	})
	return nil
}

// record logs the step of one tool call and returns the outcome if the call
// ended the task.
func (r *taskRun) record(ctx context.Context, call model.ToolCall, res actResult, began time.Time, usage model.Usage) *task.Outcome {
	switch {
	case res.navFailure != nil:
		r.navFailure = res.navFailure
	case res.navigated:
		r.navFailure = nil
	}
	r.collectNetwork()
	st := task.Step{
		Action:       call.Name,
		Args:         r.maskedArgs(call.Arguments),
		URL:          r.sec.mask(r.tab.URL()),
		InputTokens:  usage.PromptTokens,
		OutputTokens: usage.CompletionTokens,
		DurationMs:   r.since(began),
		Error:        res.err,
	}
	r.emit(st, r.shoot(ctx, call, res))
	r.tabEvents()
	if end := r.collectDownloads(ctx); end != nil {
		return end
	}
	if res.end != nil {
		return res.end
	}
	if ctx.Err() != nil {
		out := ctxOutcome(ctx)
		return &out
	}
	return nil
}

// tabEvents records what happened to the tab besides the last action, as
// steps of their own (tab_opened, tab_closed, with the page now shown),
// and keeps it for the model's next page view.
func (r *taskRun) tabEvents() {
	for _, e := range r.tab.Events() {
		action := "tab_closed"
		if e.Opened {
			action = "tab_opened"
		}
		r.step(task.Step{Action: action, URL: r.sec.mask(e.URL)})
		r.tabNews = append(r.tabNews, r.sec.mask(e.String()))
	}
}

// checkAnswer validates done's answer against the output type. A valid
// answer ends the task; an invalid one becomes a repair turn until they run
// out.
func (r *taskRun) checkAnswer(ans string) actResult {
	msg, err := r.validate(ans)
	if err == nil {
		return actResult{text: "accepted", end: &task.Outcome{Message: msg}}
	}
	problem := r.sec.mask(err.Error())
	turns := r.a.repairTurns()
	if r.repairs >= turns {
		return actResult{text: "INVALID_ANSWER: " + problem, err: problem, end: &task.Outcome{
			Code:  task.CodeOutputInvalid,
			Error: fmt.Sprintf("the model's answer does not match the requested output after %d repair turns: %s", turns, problem),
		}}
	}
	r.repairs++
	r.repair = true
	return actResult{
		text: fmt.Sprintf("INVALID_ANSWER: %s. Call done again with a corrected answer (repair %d of %d).", problem, r.repairs, turns),
		err:  problem,
	}
}

// validate checks an answer and returns the message to report: JSON
// re-encoded compactly in the schema's key order, CSV and text as given.
func (r *taskRun) validate(ans string) (string, error) {
	switch r.spec.OutputType {
	case task.OutputJSON:
		v, err := r.schema.ValidateJSON([]byte(stripFence(ans)))
		if err != nil {
			return "", err
		}
		b, err := r.schema.Marshal(v)
		if err != nil {
			return "", err
		}
		return string(b), nil
	case task.OutputCSV:
		text := stripFence(ans)
		if err := output.CheckCSV(text, r.columns); err != nil {
			return "", err
		}
		return text, nil
	}
	if err := output.CheckText(ans); err != nil {
		return "", err
	}
	return ans, nil
}

// overBudget fails the task once the usage passes either token budget.
func (r *taskRun) overBudget(resp model.Response, began time.Time) *task.Outcome {
	in, out := r.usage.InputTokens, r.usage.OutputTokens
	if in <= r.limit.in && out <= r.limit.out {
		return nil
	}
	msg := fmt.Sprintf("the task used %d input and %d output tokens, past its budget of %d and %d", in, out, r.limit.in, r.limit.out)
	action := "model"
	if len(resp.Message.ToolCalls) > 0 {
		action = resp.Message.ToolCalls[0].Name
	}
	r.step(task.Step{Action: action, URL: r.sec.mask(r.tab.URL()),
		InputTokens: resp.Usage.PromptTokens, OutputTokens: resp.Usage.CompletionTokens,
		DurationMs: r.since(began), Error: "not run: " + msg})
	return &task.Outcome{Code: task.CodeTokenLimit, Error: msg}
}

// noAnswer is the outcome of a run that stopped without an answer.
func (r *taskRun) noAnswer(why string) task.Outcome {
	if f := r.navFailure; f != nil && f.Blocked {
		return task.Outcome{Code: task.CodeNavigationBlocked, Error: why + "; the page needed is blocked by the network policy or avoidDomains"}
	}
	return task.Outcome{Code: task.CodeOutputInvalid, Error: why}
}

type observation struct {
	text  string
	image []byte // a JPEG of the viewport, when Screenshot is on
	end   *task.Outcome
	hash  string // pageHash of the view before clipping (see memo.go)
}

func (r *taskRun) observe(ctx context.Context) observation {
	o, err := r.tab.Observe(ctx, ObserveOptions{Screenshot: r.a.Screenshot})
	if err != nil {
		var be *BrowserError
		switch {
		case ctx.Err() != nil:
			out := ctxOutcome(ctx)
			return observation{end: &out}
		case errors.As(err, &be):
			return observation{end: &task.Outcome{Code: task.CodeBrowserError, Error: "the browser failed: " + r.sec.mask(err.Error())}}
		}
		return observation{text: "(the page could not be read: " + r.sec.mask(err.Error()) + ")"}
	}
	if r.learn != nil {
		// What the model sees is what a recipe reads its answer from; a
		// page that cannot be described is only not recorded.
		if _, err := r.look(ctx); err != nil && r.learn.rec.broken == "" {
			r.learn.rec.broken = "the page could not be described: " + r.sec.mask(err.Error())
		}
	}
	limit := r.a.MaxObservationChars
	if limit <= 0 {
		limit = 16000
	}
	var b strings.Builder
	for _, n := range append(r.tabNews, r.fileNews...) {
		b.WriteString("Note: " + n + "\n")
	}
	r.tabNews, r.fileNews = nil, nil
	fmt.Fprintf(&b, "URL: %s\nTitle: %s\n", o.URL, o.Title)
	b.WriteString(clip(o.Text, limit))
	// The screenshot may show a typed secret; the browser masks password
	// fields, and secrets are only typed into fields the model asked for.
	return observation{text: r.sec.mask(b.String()), image: o.Screenshot, hash: pageHash(r.spec, o.URL, o.Title, r.sec.mask(o.Text))}
}

func (r *taskRun) step(s task.Step) { r.emit(s, nil) }

func (r *taskRun) since(t time.Time) int64 { return r.now().Sub(t).Milliseconds() }

func (r *taskRun) collectNetwork() {
	for _, n := range r.tab.Network() {
		n.URL = r.sec.mask(n.URL)
		r.network = append(r.network, n)
	}
}

func (r *taskRun) maskedArgs(args string) json.RawMessage {
	args = r.sec.mask(strings.TrimSpace(args))
	if args == "" || !json.Valid([]byte(args)) {
		if args == "" {
			return nil
		}
		b, _ := json.Marshal(map[string]string{"invalid": clip(args, 500)})
		return b
	}
	return json.RawMessage(args)
}

// ctxOutcome is the outcome of a run whose context ended; the engine
// replaces it with TASK_TIMEOUT or CANCELLED as the cause says.
func ctxOutcome(ctx context.Context) task.Outcome {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return task.Outcome{Code: task.CodeTaskTimeout, Error: "the task ran past its maxDuration"}
	}
	return task.Outcome{Code: task.CodeCancelled, Error: "the task was stopped"}
}

func blank(u string) bool { return u == "" || u == "about:blank" }

// stripFence removes a markdown code fence models like to wrap answers in.
func stripFence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	t = strings.TrimSuffix(t[3:], "```")
	if nl := strings.IndexByte(t, '\n'); nl >= 0 && !strings.ContainsAny(t[:nl], "{[,\"") {
		t = t[nl+1:] // the language tag line
	}
	return strings.TrimSpace(t) + "\n"
}

func compactJSON(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// EndSession drops the session's browser context (its cookies and storage).
func (a *LLM) EndSession(sessionID string) { a.Browser.CloseSession(sessionID) }
