package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/task"
)

// replayPoll is how often a replay looks again at a page that has not yet
// reached the recorded state.
const replayPoll = 100 * time.Millisecond

// replay runs the recipe's steps on the live page without the model: each
// element is found again from its description (never by the recorded
// number), each action goes through the ordinary tools (secrets typed from
// this task's own values), and after each step the page must reach the
// recorded state. The answer is read off the page and validated like any.
// It reports true when the replay ended the task; false when the model
// takes over (a heal), its task message telling it what was done.
func (r *taskRun) replay(ctx context.Context) (task.Outcome, bool) {
	l := r.learn
	tr := l.prev.Trace
	r.step(task.Step{Action: "replay", Args: mustRaw(map[string]any{"recipe": l.name, "version": l.prev.Version, "steps": len(tr.Steps)})})
	if len(tr.Steps) == 0 || !tr.Steps[0].Start {
		// Recorded on the page the session was on: open this task's
		// starting point if it has one, then check the page.
		if out := r.openStart(ctx); out != nil {
			return *out, true
		}
		if tr.Start != nil {
			if ok, why := r.settle(ctx, nil, *tr.Start, 0); !ok {
				return r.takeOver(0, "the page is not the one the recording began on: "+why)
			}
		}
	}
	return r.replayFrom(ctx, 0)
}

// replayFrom replays the recipe from step from (0-based) to the answer.
func (r *taskRun) replayFrom(ctx context.Context, from int) (task.Outcome, bool) {
	l := r.learn
	steps := l.prev.Trace.Steps
	for i := from; i < len(steps); i++ {
		s := steps[i]
		if ctx.Err() != nil {
			return ctxOutcome(ctx), true
		}
		call, why := r.resolve(ctx, i, s)
		if why != "" {
			return r.takeOver(i, why)
		}
		began := r.now()
		res := r.perform(ctx, call)
		if out := r.record(ctx, call, res, began, model.Usage{}); out != nil {
			return *out, true
		}
		if res.err != "" {
			return r.takeOver(i, fmt.Sprintf("step %d (%s) failed: %s", i+1, describeStep(s), res.err))
		}
		l.report.ReplayedSteps++
		l.performed = append(l.performed, i)
		if s.After != nil {
			if ok, why := r.settle(ctx, s.Before, *s.After, i+1); !ok {
				return r.takeOver(i, fmt.Sprintf("after step %d (%s) %s", i+1, describeStep(s), why))
			}
		}
	}
	return r.replayAnswer(ctx, len(steps))
}

// rejoin hands a healing run back to the replay when the model has
// brought the page to a state the recording reached later than where the
// replay stopped: the one recorded state it matches, none other alike.
// It reports whether it rejoined, and the replay's result if so.
func (r *taskRun) rejoin(ctx context.Context) (task.Outcome, bool, bool) {
	l := r.learn
	if l == nil || !l.healing || !l.moved || l.rejoins >= maxRejoins || l.rec.cur == nil {
		return task.Outcome{}, false, false
	}
	steps := l.prev.Trace.Steps
	at := -1
	for j := l.minRejoin; j < len(steps); j++ {
		if a := steps[j].After; a != nil {
			if ok, _ := recipe.Reached(*l.rec.cur, steps[j].Before, *a); ok {
				if at >= 0 {
					return task.Outcome{}, false, false // alike states: which one is unclear
				}
				at = j
			}
		}
	}
	if at < 0 {
		return task.Outcome{}, false, false
	}
	l.healing = false
	l.rejoins++
	l.at[at+1] = l.rec.snaps[l.rec.curAt]
	r.step(task.Step{Action: "replay", Args: mustRaw(map[string]any{"recipe": l.name, "version": l.prev.Version, "from": at + 2}),
		Error: fmt.Sprintf("the page is back at the state recorded after step %d: the replay goes on from step %d", at+1, at+2)})
	out, done := r.replayFrom(ctx, at+1)
	return out, done, true
}

// maxRejoins bounds how often one run goes back from the model to the
// replay.
const maxRejoins = 3

// resolve turns a recorded step into a tool call on the live page.
func (r *taskRun) resolve(ctx context.Context, i int, s recipe.Step) (model.ToolCall, string) {
	args := map[string]any{}
	_ = json.Unmarshal(s.Args, &args)
	args["replayed"] = true
	id := fmt.Sprintf("replay_%d", i+1)
	switch {
	case s.Start:
		if r.spec.StartingPoint == "" {
			return model.ToolCall{}, "the recipe opens the task's starting point and this task has none"
		}
		args["url"] = r.spec.StartingPoint
		id = startCallID
	case s.Element != nil:
		n, why := r.refind(ctx, *s.Element)
		if why != "" {
			return model.ToolCall{}, fmt.Sprintf("step %d (%s): %s", i+1, describeStep(s), why)
		}
		args["id"] = n
		args["element"] = s.Element.String()
	case s.Tool == toolClick || s.Tool == toolType || s.Tool == toolSelect:
		return model.ToolCall{}, fmt.Sprintf("step %d (%s): the recording does not describe its element", i+1, s.Tool)
	}
	return model.ToolCall{ID: id, Name: s.Tool, Arguments: mustJSON(args)}, ""
}

// refind finds the recorded element on the live page. One that is not
// there (or not shown) is waited for only while the page has not settled
// (the tab already waited for that, up to its settle timeout, after the
// last action); an ambiguous page is answered at once.
func (r *taskRun) refind(ctx context.Context, want recipe.Element) (int, string) {
	wctx, cancel := context.WithTimeout(ctx, r.a.replaySettle())
	defer cancel()
	for {
		// The observation (re)installs the page helpers the actions use.
		if _, err := r.tab.Observe(ctx, ObserveOptions{}); err != nil {
			return 0, "the page could not be read: " + r.sec.mask(err.Error())
		}
		live, err := r.learn.insp.Candidates(ctx)
		if err != nil {
			return 0, "the page's elements could not be listed: " + r.sec.mask(err.Error())
		}
		m := recipe.Refind(want, live)
		switch {
		case m.Verdict == recipe.Found:
			for _, c := range live {
				if c.ID == m.ID {
					// The live description goes into the new recording
					// as is: no need to describe the element again.
					el := c.Element
					r.learn.described = &el
				}
			}
			return m.ID, ""
		case m.Verdict == recipe.Ambiguous || r.learn.insp.Quiet(ctx) || !pause(wctx, replayPoll):
			return 0, m.Why
		}
	}
}

// settle waits until the page reaches the recorded state after a step,
// looking at it as it goes, while the page has not settled (and for at
// most replaySettle); the last look is the snapshot of recipe point
// `point`.
func (r *taskRun) settle(ctx context.Context, before *recipe.Fingerprint, after recipe.Fingerprint, point int) (bool, string) {
	wctx, cancel := context.WithTimeout(ctx, r.a.replaySettle())
	defer cancel()
	for {
		st, err := r.look(ctx)
		why := ""
		if err != nil {
			why = "the page could not be read: " + r.sec.mask(err.Error())
		} else if ok, w := recipe.Reached(st.Fingerprint(), before, after); ok {
			l := r.learn
			l.at[point] = l.rec.snaps[l.rec.curAt]
			return true, ""
		} else {
			why = w
		}
		if r.learn.insp.Quiet(ctx) || !pause(wctx, replayPoll) {
			return false, why
		}
	}
}

// replayAnswer reads the answer off the pages the replay went through,
// waiting for content that is not there yet while the page has not
// settled (at most replaySettle).
func (r *taskRun) replayAnswer(ctx context.Context, n int) (task.Outcome, bool) {
	l := r.learn
	node := l.prev.Trace.Answer
	if node == nil {
		return r.takeOver(n, "the recording's answer is not tied to the page ("+l.prev.Trace.NoAnswer+")")
	}
	wctx, cancel := context.WithTimeout(ctx, r.a.replaySettle())
	defer cancel()
	began := r.now()
	for {
		why := ""
		v, err := node.Read(l.at)
		if err == nil {
			var text string
			if text, err = r.encodeAnswer(v); err == nil {
				msg, verr := r.validate(text)
				if verr == nil {
					r.step(task.Step{Action: toolDone, Args: r.maskedArgs(mustJSON(map[string]any{"answer": json.RawMessage(mustJSON(msg)), "replayed": true})),
						URL: r.sec.mask(r.tab.URL()), DurationMs: r.since(began)})
					return task.Outcome{Message: msg}, true
				}
				err = fmt.Errorf("it does not match the requested output: %w", verr)
			}
		}
		why = "the answer could not be read off the page: " + err.Error()
		if r.learn.insp.Quiet(ctx) || !pause(wctx, replayPoll) {
			return r.takeOver(n, why)
		}
		if _, err := r.look(ctx); err != nil {
			return r.takeOver(n, "the page could not be read: "+r.sec.mask(err.Error()))
		}
		l.at[n] = l.rec.snaps[l.rec.curAt]
	}
}

// takeOver ends the replay at recipe step i (from 0; len(steps) for the
// answer), the first step not done as recorded: with replay "require" the
// task fails, otherwise the model takes over from the current page, told
// what was done and why the replay stopped. The replay may rejoin once the
// model brings the page to a state recorded after step i or later.
func (r *taskRun) takeOver(i int, why string) (task.Outcome, bool) {
	l := r.learn
	why = r.sec.mask(why)
	if l.report.TookOverAt == 0 {
		l.report.TookOverAt, l.report.Reason = i+1, why
	}
	if l.mode == task.ReplayRequire {
		return task.Outcome{Code: task.CodeReplayUnavailable, Error: fmt.Sprintf(
			"recipe %q version %d did not replay at step %d: %s; replay is required, so the model was not asked",
			l.name, l.prev.Version, i+1, why)}, true
	}
	r.step(task.Step{Action: "heal", Error: fmt.Sprintf("the model takes over at step %d of recipe %s version %d: %s", i+1, l.name, l.prev.Version, why)})
	r.intro += "\n\n" + r.brief(i, why)
	l.healing, l.minRejoin, l.moved = true, i, false
	l.performed = nil
	return task.Outcome{}, false
}

// brief tells the model taking over what the replay did.
func (r *taskRun) brief(i int, why string) string {
	l := r.learn
	steps := l.prev.Trace.Steps
	var b strings.Builder
	if len(l.performed) == 0 {
		b.WriteString("A recording of this task is being replayed; it stopped before doing anything more.")
	} else {
		b.WriteString("These steps of this task were replayed from a recording:\n")
		for _, k := range l.performed {
			fmt.Fprintf(&b, "%d. %s\n", k+1, r.sec.mask(describeStep(steps[k])))
		}
	}
	if i < len(steps) {
		fmt.Fprintf(&b, "\nThe replay stopped at step %d (%s): %s.", i+1, r.sec.mask(describeStep(steps[i])), why)
	} else {
		fmt.Fprintf(&b, "\nThe answer could not be taken from the page as recorded: %s.", why)
	}
	b.WriteString("\nContinue the task from the current page; do not redo what was done.")
	return b.String()
}

// describeStep says what a recorded step does, for the step log and the
// model.
func describeStep(s recipe.Step) string {
	var a toolArgs
	_ = json.Unmarshal(s.Args, &a)
	el := ""
	if s.Element != nil {
		el = s.Element.String()
	}
	switch s.Tool {
	case toolNavigate:
		if s.Start {
			return "open the starting point"
		}
		return "open " + a.URL
	case toolClick:
		return "click " + el
	case toolType:
		return fmt.Sprintf("type %q into %s", a.Text, el)
	case toolSelect:
		return fmt.Sprintf("select %q in %s", a.Value, el)
	case toolPress:
		return "press " + a.Key
	case toolScroll:
		return "scroll " + a.Direction
	case toolWait:
		return fmt.Sprintf("wait %gs", float64(a.Seconds))
	}
	return s.Tool
}

// pause waits d unless ctx ends first; it reports whether to go on.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
