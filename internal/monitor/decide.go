package monitor

import (
	"github.com/errandhq/errand/internal/task"
)

// Ending is how a monitor's run ended, as Decide needs it.
type Ending struct {
	// Status is the task's final status: completed, failed or cancelled.
	Status task.Status
	// Answer is the completed task's message.
	Answer string
	// PageHash is what the agent reported of the page it read (see
	// State.PageHash); empty when the answer did not come from the
	// starting page alone.
	PageHash string
}

// Decision is what a run's end means for its monitor.
type Decision struct {
	// State is the monitor's state after the run.
	State State
	// Changed: the watched answer differs from the previous one.
	Changed   bool
	Changes   []Change
	Truncated bool
	Fired     []Fired
	// Events are the events the run raises, in the order they are to be
	// sent: monitor.recovered before monitor.changed.
	Events []task.Event
}

// Decide judges a run's end against the monitor's state before it.
//
//   - A cancelled run (the monitor was deleted, the node stopped) changes
//     nothing.
//   - A failed run is not a change: the stored answer stays; the
//     FailuresBeforeAlert-th failure in a row raises monitor.failing, once.
//   - A successful run after monitor.failing raises monitor.recovered.
//   - The first answer is the baseline: FirstRunBaseline sends nothing;
//     FirstRunNotify sends it when a rule holds (without rules: always),
//     every value listed as added.
//   - Later answers are compared with the stored one; with rules only a
//     fired rule notifies (a change that fires none is recorded and sends
//     nothing); OnEveryRun notifies on every successful run.
//
// c compares answers of the monitor's output type under n (NewComparer).
func Decide(c *Comparer, n Notify, prev State, end Ending) Decision {
	d := Decision{State: prev}
	switch end.Status {
	case task.StatusCompleted:
	case task.StatusFailed:
		d.State.Failures++
		if d.State.Failures >= n.failuresBeforeAlert() && !d.State.Alerting {
			d.State.Alerting = true
			d.Events = append(d.Events, EventFailing)
		}
		return d
	default:
		return d
	}

	d.State.Failures = 0
	if d.State.Alerting {
		d.State.Alerting = false
		d.Events = append(d.Events, EventRecovered)
	}
	d.State.Answer = end.Answer
	d.State.PageHash = end.PageHash
	doc, docErr := decodeAnswer(c.kind, end.Answer)
	if docErr != nil || (c.kind != task.OutputJSON && c.kind != task.OutputCSV) {
		doc = nil // text: no rules apply (Check refuses them)
	}

	var notify bool
	if !prev.Baseline {
		d.State.Baseline = true
		ev := Evaluate(n.Rules, nil, doc)
		d.State.Rules = ev.States
		if n.FirstRun == FirstRunNotify {
			d.Changes, d.Truncated = c.Initial(end.Answer)
			d.Changed = len(d.Changes) > 0
			d.Fired = ev.Fired
			notify = len(n.Rules) == 0 || len(ev.Fired) > 0
		}
	} else {
		d.Changes, d.Truncated = c.Diff(prev.Answer, end.Answer)
		d.Changed = len(d.Changes) > 0 || d.Truncated
		ev := Evaluate(n.Rules, prev.Rules, doc)
		d.State.Rules = ev.States
		d.Fired = ev.Fired
		switch {
		case n.On == OnEveryRun:
			notify = true
		case len(n.Rules) > 0:
			notify = len(ev.Fired) > 0
		default:
			notify = d.Changed
		}
	}
	if notify {
		d.State.Rules = Notified(n.Rules, d.State.Rules, doc)
		d.Events = append(d.Events, EventChanged)
	}
	return d
}
