package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/task"
)

// RecipeBook keeps learned tasks (package recipe) per tenant; the store
// implements it. A missing recipe is an error that errors.Is finds
// recipe.ErrNotFound in.
type RecipeBook interface {
	LatestRecipe(ctx context.Context, tenantID, name string) (recipe.Recipe, error)
	SaveRecipe(ctx context.Context, r recipe.Recipe) (int, error)
	RecordRecipeUse(ctx context.Context, u recipe.Use) error
}

// Inspector describes pages for recipes; Chromium's tabs implement it.
type Inspector = browser.Inspector

// learning is a run's part in learned tasks: the recipe it replays (if
// any), what it records as it goes, and the report.
type learning struct {
	insp Inspector
	name string
	mode task.ReplayMode
	// prev is the version being replayed; nil when the run records from
	// scratch.
	prev   *recipe.Recipe
	rec    recorder
	report task.Replay
	began  time.Time
	// at holds the snapshot of each recipe point the replay reached (the
	// recorder numbers points its own way once the model has acted).
	at map[int]recipe.Snapshot
	// performed lists the recipe steps replayed since the last takeover.
	performed []int
	// healing is set while the model works after a takeover; the replay
	// may rejoin at a state recorded after step minRejoin or later.
	healing   bool
	minRejoin int
	rejoins   int
	// moved is set once the model acted on the page since the takeover.
	moved bool
	// described is the live description of the element the next replayed
	// action acts on, from the candidates it was found among.
	described *recipe.Element
}

// recorder keeps the steps of a run in recipe form as they happen, and a
// snapshot of the page at each point the run looked at it.
type recorder struct {
	steps []recipe.Step
	snaps map[int]recipe.Snapshot
	start *recipe.Fingerprint
	// cur is the state at the latest look, and curAt the point it was
	// taken at (the number of steps then).
	cur   *recipe.Fingerprint
	curAt int
	// broken says why this run cannot become a recipe ("" if it can).
	broken string
}

// plan decides whether this run replays, records, or neither, and loads
// the recipe. It returns an outcome only for a task that requires replay
// and cannot have it.
func (r *taskRun) plan(ctx context.Context) *task.Outcome {
	mode := r.spec.ReplayMode()
	if mode == task.ReplayOff || r.req.Task.Answer != "" {
		// A run resumed after a human's answer is the second half of one:
		// it neither replays nor records.
		return nil
	}
	name := r.spec.Recipe
	if name == "" {
		name = recipe.AutoName(recipe.Intent{
			TaskDetails: r.spec.TaskDetails, StartingPoint: r.spec.StartingPoint,
			OutputType: string(r.spec.OutputType), OutputSchema: r.spec.OutputSchema,
		})
	}
	unavailable := func(why string) *task.Outcome {
		if mode != task.ReplayRequire {
			return nil
		}
		return &task.Outcome{Code: task.CodeReplayUnavailable, Error: fmt.Sprintf(
			"recipe %q: %s; replay is required, so the model was not asked", name, why),
			Replay: &task.Replay{Recipe: name, Mode: recipe.ModeFailed, Reason: why}}
	}
	insp, ok := r.tab.(Inspector)
	switch {
	case r.a.Recipes == nil:
		return unavailable("this server keeps no recipes")
	case !ok:
		return unavailable("this browser cannot describe pages")
	}
	l := &learning{insp: insp, name: name, mode: mode, began: r.now(), rec: recorder{snaps: map[int]recipe.Snapshot{}}, at: map[int]recipe.Snapshot{}}
	l.report.Recipe = name
	prev, err := r.a.Recipes.LatestRecipe(ctx, r.req.Task.TenantID, name)
	switch {
	case errors.Is(err, recipe.ErrNotFound):
		if out := unavailable("none has been recorded for this API key yet"); out != nil {
			return out
		}
	case err != nil:
		if out := unavailable("the recipe store failed: " + err.Error()); out != nil {
			return out
		}
		r.step(task.Step{Action: "replay", Error: "the recipe could not be loaded; the model does the task: " + r.sec.mask(err.Error())})
	case prev.Trace.Format != recipe.Format:
		if out := unavailable(fmt.Sprintf("version %d was recorded in an older format", prev.Version)); out != nil {
			return out
		}
	default:
		l.prev = &prev
		l.report.Version = prev.Version
	}
	r.learn = l
	return nil
}

// perform runs one tool call and, when the run is learning, records it:
// the element it acts on is described before the action (afterwards it
// may be gone), and the step is kept if it succeeded.
func (r *taskRun) perform(ctx context.Context, call model.ToolCall) actResult {
	l := r.learn
	if l == nil {
		return r.act(ctx, call)
	}
	var args map[string]json.RawMessage
	_ = json.Unmarshal([]byte(call.Arguments), &args)
	el := l.described
	l.described = nil
	undescribed := "its element could not be described"
	switch call.Name {
	case toolClick, toolType, toolSelect:
		var id flexInt
		if el == nil && json.Unmarshal(args["id"], &id) == nil && l.rec.broken == "" {
			if d, err := l.insp.Describe(ctx, int(id)); err == nil {
				el = &d
			} else {
				undescribed += ": " + r.sec.mask(err.Error())
			}
		}
	case toolAskHuman:
		l.rec.broken = "the run asked a human"
	}
	pageURL := r.tab.URL()
	res := r.act(ctx, call)
	if res.err != "" || res.end != nil || res.answer != nil || !pageTools[call.Name] {
		return res // failed, or nothing to replay (note, extract, done)
	}
	if l.healing {
		l.moved = true
	}
	if l.rec.broken != "" {
		return res
	}
	if el == nil && (call.Name == toolClick || call.Name == toolType || call.Name == toolSelect) {
		l.rec.broken = fmt.Sprintf("step %d (%s): %s", len(l.rec.steps)+1, call.Name, undescribed)
		return res
	}
	for _, k := range []string{"id", "replayed", "element"} {
		delete(args, k)
	}
	kept, _ := json.Marshal(args)
	st := recipe.Step{Tool: call.Name, Args: kept, Element: el, URL: recipe.URLPattern(pageURL), Start: call.ID == startCallID}
	if l.rec.cur != nil && l.rec.curAt == len(l.rec.steps) {
		st.Before = l.rec.cur
	}
	l.rec.steps = append(l.rec.steps, st)
	return res
}

// pageTools are the tools a recipe replays.
var pageTools = map[string]bool{
	toolNavigate: true, toolClick: true, toolType: true, toolSelect: true,
	toolPress: true, toolScroll: true, toolBack: true, toolWait: true,
}

// look records the page's state at the current point: the fingerprint
// closes the previous step (its After) and the snapshot is what answers
// are read from. It returns the state.
func (r *taskRun) look(ctx context.Context) (recipe.PageState, error) {
	l := r.learn
	st, err := l.insp.State(ctx, true)
	if err != nil {
		return st, err
	}
	fp := st.Fingerprint()
	rec := &l.rec
	n := len(rec.steps)
	// The latest look at a point is the state the step before it led to.
	if n == 0 {
		rec.start = &fp
	} else {
		rec.steps[n-1].After = &fp
	}
	rec.cur, rec.curAt = &fp, n
	rec.snaps[n] = recipe.Snapshot{Point: n, Texts: st.Texts}
	return st, nil
}

// conclude ends a learning run: a completed run the model worked on is
// stored as a new version, a replay's use is counted, and the outcome
// gets its report.
func (r *taskRun) conclude(ctx context.Context, out task.Outcome) task.Outcome {
	l := r.learn
	if l == nil || out.Replay != nil {
		return out
	}
	rep := l.report
	rep.ModelSteps = r.calls
	switch {
	case out.Question != "":
		return out // paused: the resumed run finishes the task
	case out.Code != "":
		if l.prev == nil {
			return out
		}
		rep.Mode = recipe.ModeFailed
	case r.calls == 0 && l.prev != nil:
		rep.Mode = recipe.ModeReplayed
	default:
		rep.Mode = recipe.ModeRecorded
		if l.prev != nil {
			rep.Mode = recipe.ModeHealed
		}
		rep.Recorded = r.saveRecipe(ctx, out.Message, rep)
		if rep.Recorded == 0 && l.prev == nil {
			return out // nothing replayed, nothing recorded: the step log says why
		}
	}
	if l.prev != nil {
		if err := r.a.Recipes.RecordRecipeUse(ctx, recipe.Use{
			TenantID: r.req.Task.TenantID, Name: l.name, Version: l.prev.Version, TaskID: r.req.Task.ID,
			Mode: rep.Mode, ReplayedSteps: rep.ReplayedSteps, ModelSteps: rep.ModelSteps, At: r.now(),
		}); err != nil {
			r.step(task.Step{Action: "replay", Error: "the recipe's use was not counted: " + r.sec.mask(err.Error())})
		}
		base := l.prev.Trace.Baseline
		rep.Baseline = task.Usage{InputTokens: base.InputTokens, OutputTokens: base.OutputTokens, ComputeTime: base.Seconds}
		rep.SavedInputTokens = max(0, base.InputTokens-r.usage.InputTokens)
		rep.SavedOutputTokens = max(0, base.OutputTokens-r.usage.OutputTokens)
	}
	out.Replay = &rep
	return out
}

// saveRecipe stores what this run did as the recipe's next version and
// returns that version (0 when nothing was stored: the step log says why).
func (r *taskRun) saveRecipe(ctx context.Context, message string, rep task.Replay) int {
	l := r.learn
	if l.rec.broken != "" {
		r.step(task.Step{Action: "record", Error: "not recorded: " + l.rec.broken})
		return 0
	}
	if _, err := r.look(ctx); err != nil {
		r.step(task.Step{Action: "record", Error: "not recorded: the page could not be read: " + r.sec.mask(err.Error())})
		return 0
	}
	tr := recipe.Trace{Format: recipe.Format, Start: l.rec.start, Steps: l.rec.steps}
	snaps := make([]recipe.Snapshot, 0, len(l.rec.snaps))
	for _, s := range l.rec.snaps {
		snaps = append(snaps, s)
	}
	if answer, err := r.decodeAnswer(message); err != nil {
		tr.NoAnswer = err.Error()
	} else if node, err := recipe.Induce(answer, snaps); err != nil {
		tr.NoAnswer = err.Error()
	} else {
		tr.Answer = node
	}
	tr.Baseline = recipe.Usage{InputTokens: r.usage.InputTokens, OutputTokens: r.usage.OutputTokens, ModelCalls: r.calls, Seconds: r.now().Sub(l.began).Seconds()}
	reason := "recorded by task " + r.req.Task.ID
	if l.prev != nil {
		// The baseline stays the cost of doing it all with the model.
		if b := l.prev.Trace.Baseline; b.InputTokens+b.OutputTokens > tr.Baseline.InputTokens+tr.Baseline.OutputTokens {
			tr.Baseline = b
		}
		reason = fmt.Sprintf("healed by task %s: the model took over at step %d of version %d: %s", r.req.Task.ID, rep.TookOverAt, l.prev.Version, rep.Reason)
	}
	tr, err := tr.Scrub(r.sec.mask)
	if err != nil {
		r.step(task.Step{Action: "record", Error: "not recorded: " + err.Error()})
		return 0
	}
	if l.prev != nil && tr.Answer == nil && l.prev.Trace.Answer == nil && sameTools(tr.Steps, l.prev.Trace.Steps) {
		// Only the answer was left to the model, as before: a new version
		// would say nothing new.
		r.step(task.Step{Action: "record", Error: "not recorded again: the steps are the recorded ones and the answer is still not tied to the page"})
		return 0
	}
	v, err := r.a.Recipes.SaveRecipe(ctx, recipe.Recipe{
		TenantID: r.req.Task.TenantID, Name: l.name, TaskID: r.req.Task.ID, Reason: r.sec.mask(reason), Trace: tr, CreatedAt: r.now(),
	})
	if err != nil {
		r.step(task.Step{Action: "record", Error: "not recorded: the recipe store failed: " + r.sec.mask(err.Error())})
		return 0
	}
	st := task.Step{Action: "record", Args: mustRaw(map[string]any{"recipe": l.name, "version": v, "steps": len(tr.Steps)})}
	if tr.Answer == nil {
		st.Error = "the answer is not tied to the page, so a replay asks the model for it: " + r.sec.mask(tr.NoAnswer)
	}
	r.step(st)
	return v
}

// decodeAnswer turns a validated answer into the value recipe.Induce
// ties to the page: JSON as decoded, CSV as one object per row, text as
// the string.
func (r *taskRun) decodeAnswer(message string) (any, error) {
	switch r.spec.OutputType {
	case task.OutputJSON:
		return output.DecodeJSON([]byte(message))
	case task.OutputCSV:
		rows, err := output.ParseCSV(message, r.columns)
		if err != nil {
			return nil, err
		}
		list := make([]any, len(rows))
		for i, row := range rows {
			obj := map[string]any{}
			for j, c := range r.columns {
				obj[c] = row[j]
			}
			list[i] = obj
		}
		return list, nil
	}
	return strings.TrimSpace(message), nil
}

// encodeAnswer is decodeAnswer's inverse, for an answer read off the page.
func (r *taskRun) encodeAnswer(v any) (string, error) {
	switch r.spec.OutputType {
	case task.OutputJSON:
		b, err := json.Marshal(v)
		return string(b), err
	case task.OutputCSV:
		list, ok := v.([]any)
		if !ok {
			return "", errors.New("the recipe's answer is not a list of rows")
		}
		rows := make([][]string, len(list))
		for i, it := range list {
			obj, _ := it.(map[string]any)
			for _, c := range r.columns {
				s, _ := obj[c].(string)
				rows[i] = append(rows[i], s)
			}
		}
		return output.FormatCSV(r.columns, rows), nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errors.New("the recipe's answer is not text")
	}
	return s, nil
}

func mustRaw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// sameTools reports whether two recordings take the same actions in the
// same order.
func sameTools(a, b []recipe.Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Tool != b[i].Tool || string(a[i].Args) != string(b[i].Args) {
			return false
		}
	}
	return true
}
