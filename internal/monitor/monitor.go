package monitor

import (
	"encoding/json"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// Events a monitor's webhook can receive. monitor.changed is the default;
// the failure events are sent only to webhooks that list them in events.
const (
	EventChanged   task.Event = "monitor.changed"
	EventFailing   task.Event = "monitor.failing"
	EventRecovered task.Event = "monitor.recovered"
)

// When a monitor notifies (Notify.On).
const (
	OnChange   = "change"    // when the watched answer changes, or a rule fires (default)
	OnEveryRun = "every_run" // after every successful run
)

// What a monitor's first answer does (Notify.FirstRun).
const (
	FirstRunBaseline = "baseline" // stored as the baseline, nothing sent (default)
	FirstRunNotify   = "notify"   // sent when a rule already holds (or, without rules, always)
)

// DefaultFailuresBeforeAlert is how many failed runs in a row raise
// monitor.failing when Notify.FailuresBeforeAlert is 0.
const DefaultFailuresBeforeAlert = 3

// Notify is when a monitor notifies and what counts as a change.
type Notify struct {
	// On is OnChange or OnEveryRun. Default OnChange.
	On string `json:"on,omitempty"`
	// Watch lists JSON Pointers into the answer (a CSV answer is an array
	// of row objects, column name to cell); "*" matches every array item.
	// Default: the whole answer.
	Watch []string `json:"watch,omitempty"`
	// Key names the field (or CSV column) that identifies an item of an
	// array of objects, so that items are matched by it, not by position,
	// and added and removed items are told apart from changed ones.
	// Default: none (by position).
	Key string `json:"key,omitempty"`
	// Ignore lists regular expressions (RE2) whose matches are removed
	// from text before comparing: from each line of a text answer, and
	// from every string of a JSON or CSV answer. Default: none.
	Ignore []string `json:"ignore,omitempty"`
	// Rules, when set, decide instead of "any change": a run notifies only
	// when one fires. Default: none.
	Rules []Rule `json:"rules,omitempty"`
	// FirstRun is FirstRunBaseline or FirstRunNotify. Default baseline.
	FirstRun string `json:"firstRun,omitempty"`
	// FailuresBeforeAlert is how many failed runs in a row raise one
	// monitor.failing event. Default 3.
	FailuresBeforeAlert int `json:"failuresBeforeAlert,omitempty"`
}

// failuresBeforeAlert is FailuresBeforeAlert with its default.
func (n Notify) failuresBeforeAlert() int {
	if n.FailuresBeforeAlert <= 0 {
		return DefaultFailuresBeforeAlert
	}
	return n.FailuresBeforeAlert
}

// Rule is one condition on a number (or, for equals, any scalar) at Path
// in the answer. Exactly one condition is set.
type Rule struct {
	Path string `json:"path"`
	// Below holds while the value is less than it.
	Below *float64 `json:"below,omitempty"`
	// Above holds while the value is greater than it.
	Above *float64 `json:"above,omitempty"`
	// Equals holds while the value equals it (numbers by value, other
	// scalars exactly).
	Equals json.RawMessage `json:"equals,omitempty"`
	// ChangeByPercent holds when the value is at least this many percent
	// away (either way) from the value last notified.
	ChangeByPercent *float64 `json:"changeByPercent,omitempty"`
	// ChangeByAbsolute holds when the value is at least this far (either
	// way) from the value last notified.
	ChangeByAbsolute *float64 `json:"changeByAbsolute,omitempty"`
}

// Change is one difference between the previous answer and the new one.
type Change struct {
	// Path is a JSON Pointer into the new answer (into the previous one
	// for removed items); for text, "/N" is line N (0-based).
	Path string `json:"path"`
	// Kind is "changed", "added" or "removed".
	Kind string `json:"kind"`
	// Key is the matched item's key value, when Notify.Key matched it.
	Key json.RawMessage `json:"key,omitempty"`
	// Before and After are the JSON values; absent for added (Before) and
	// removed (After) items.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Change kinds.
const (
	KindChanged = "changed"
	KindAdded   = "added"
	KindRemoved = "removed"
)

// Fired is a rule that fired on a run: the rule, the value that made it
// fire and, for changeBy rules, the value last notified it was measured
// against.
type Fired struct {
	Rule
	Value     json.RawMessage `json:"value"`
	Reference *float64        `json:"reference,omitempty"`
}

// RuleState is what a rule remembers between runs.
type RuleState struct {
	// Rule identifies the rule it belongs to (its fingerprint): a rule
	// that is edited starts afresh.
	Rule string `json:"rule"`
	// Holding: the condition held at the last run whose value was known.
	// A threshold rule fires only when it starts holding, so it re-arms
	// only after the value crosses back.
	Holding bool `json:"holding,omitempty"`
	// Reference is the value last notified (changeBy rules).
	Reference *float64 `json:"reference,omitempty"`
}

// State is what a monitor remembers between runs.
type State struct {
	// Baseline: a successful run has stored an answer.
	Baseline bool `json:"baseline,omitempty"`
	// Answer is the last successful run's answer, as the task reported it.
	Answer string `json:"answer,omitempty"`
	// PageHash fingerprints what the agent read to give Answer, when that
	// was the starting page alone: an unchanged page is answered again
	// without the model.
	PageHash string `json:"pageHash,omitempty"`
	// Rules holds one state per rule of Notify.Rules, in their order.
	Rules []RuleState `json:"rules,omitempty"`
	// Failures counts the failed runs since the last success.
	Failures int `json:"failures,omitempty"`
	// Alerting: monitor.failing was raised and no run succeeded since.
	Alerting bool `json:"alerting,omitempty"`
}

// Run statuses beyond a task's own (task.Status).
const (
	// RunSkipped: the tick came while the previous run still went on.
	RunSkipped = "skipped"
)

// Run is one check of a monitor, as its history lists it.
type Run struct {
	ID        string
	MonitorID string
	// DueAt is the tick the run is for; RunAt is when it was started
	// (its task queued).
	DueAt time.Time
	RunAt time.Time
	// TaskID and SessionID name the run's task (GET /task/{sessionId}/{taskId}).
	TaskID    string
	SessionID string
	// Status is the task's status (queued, running, completed, failed,
	// cancelled) until settled, then its final one.
	Status  string
	Changed bool
	Changes []Change
	// Truncated: there were more changes than MaxChanges; Changes lists
	// the first ones.
	Truncated bool
	Fired     []Fired
	// Events are what the run raised (monitor.changed, …), whether or not
	// a webhook subscribes to them.
	Events  []task.Event
	EndedAt time.Time
}

// Monitor is a recurring task and how it notifies.
type Monitor struct {
	ID       string
	TenantID string
	Name     string
	// Schedule is a 5-field cron expression or "@every 15m"; Timezone is
	// the IANA zone it is read in.
	Schedule string
	Timezone string
	// Task is what each run runs; its Webhook is nil (the monitor's own
	// Webhook is told instead) and its Secrets are kept sealed
	// (SealedSecrets).
	Task task.Spec
	// Webhook is told of the monitor's events; its credentials (auth,
	// signing secret, URL userinfo) are kept in its SealedCredentials,
	// sealed for the monitor.
	Webhook *task.Webhook
	Notify  Notify
	Paused  bool
	// SessionID is the session the monitor's runs are tasks of.
	SessionID string
	NextRunAt time.Time
	// Running is the task id of the run in progress, if any.
	Running string
	// Skipped counts ticks skipped because a run was still going.
	Skipped int64
	// Runs counts the runs started.
	Runs      int64
	LastRunAt time.Time
	State     State
	// SealedSecrets are Task.Secrets sealed for the monitor's id.
	SealedSecrets []byte
	// SealedStorage is the browser storage state (cookies, local storage)
	// the last run left, sealed for the monitor's id.
	SealedStorage []byte
	CreatedAt     time.Time
	UpdatedAt     time.Time
}
