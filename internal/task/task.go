// Package task holds errand's domain: sessions, tasks, their states, results,
// usage and the failure codes of the API contract. It imports no
// infrastructure; the store, the HTTP API, the agent and webhook delivery all
// speak in these types.
package task

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Status is where a task is in its life.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	// StatusGuardrail means the agent asked a human and waits for the answer
	// (API name: guardrail_trigger).
	StatusGuardrail Status = "guardrail_trigger"
	StatusCancelled Status = "cancelled"
)

// Final reports whether the status can no longer change.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// OutputType is the shape of a task's result.
type OutputType string

const (
	OutputText OutputType = "text"
	OutputJSON OutputType = "structured_json"
	OutputCSV  OutputType = "structured_csv"
)

// SubmittedData selects the webhook body.
type SubmittedData string

const (
	SubmitAIResponse   SubmittedData = "ai_response"
	SubmitFullResponse SubmittedData = "full_response"
	SubmitJustPing     SubmittedData = "just_ping"
)

// Event names a webhook event.
type Event string

const (
	EventCompleted Event = "task_completed"
	EventFailed    Event = "task_failed"
	EventGuardrail Event = "guardrail_trigger"
)

// Failure codes carried by failed tasks.
const (
	CodeTaskTimeout       = "TASK_TIMEOUT"
	CodeNavigationTimeout = "NAVIGATION_TIMEOUT"
	CodeNavigationBlocked = "NAVIGATION_BLOCKED"
	CodeModelError        = "MODEL_ERROR"
	CodeOutputInvalid     = "OUTPUT_INVALID"
	CodeTokenLimit        = "TOKEN_LIMIT"
	CodeCancelled         = "CANCELLED"
	// CodeBrowserError is a crashed or hung browser.
	CodeBrowserError = "BROWSER_ERROR"
	// CodeNodeLost is a task whose node died and that could not be resumed.
	CodeNodeLost = "NODE_LOST"
	// CodeDownloadTooLarge is a task whose page downloaded a file larger
	// than the server's cap (--download-max-mib): nothing of it is kept.
	CodeDownloadTooLarge = "DOWNLOAD_TOO_LARGE"
	// CodeReplayUnavailable is a task with replay "require" that could not
	// be done from its recipe alone (none recorded, or a step that did not
	// replay): the model was not called.
	CodeReplayUnavailable = "REPLAY_UNAVAILABLE"
)

// Defaults of the task object (docs/API.md).
const (
	DefaultMaxDuration = 300 * time.Second
	DefaultMaxTokens   = 100000
)

// Webhook is where and how a task reports its end.
type Webhook struct {
	Name          string        `json:"name"`
	URL           string        `json:"url"`
	Auth          string        `json:"auth,omitempty"`
	SubmittedData SubmittedData `json:"submittedData"`
	Events        []Event       `json:"events,omitempty"`
	MaxAttempts   int           `json:"maxAttempts,omitempty"`
	Secret        string        `json:"secret,omitempty"`
	// SealedCredentials holds Auth, Secret and the URL's userinfo, sealed
	// for the task (see SealCredentials): while it is set, Auth and Secret
	// are empty and URL has no userinfo, so the stored spec holds none of
	// them in clear.
	SealedCredentials []byte `json:"sealedCredentials,omitempty"`
}

// Subscribes reports whether the webhook wants event e. The default is
// task_completed only.
func (w *Webhook) Subscribes(e Event) bool {
	if w == nil {
		return false
	}
	if len(w.Events) == 0 {
		return e == EventCompleted
	}
	for _, x := range w.Events {
		if x == e {
			return true
		}
	}
	return false
}

// Spec is what the caller asked for: the task object of the API, validated and
// with defaults applied.
type Spec struct {
	TaskDetails     string        `json:"taskDetails"`
	StartingPoint   string        `json:"startingPoint,omitempty"`
	MaxDuration     time.Duration `json:"maxDuration"`
	MaxInputTokens  int           `json:"maxInputTokens"`
	MaxOutputTokens int           `json:"maxOutputTokens"`
	AvoidDomains    []string      `json:"avoidDomains,omitempty"`
	// SettleTimeout bounds the wait for a page to settle (network and DOM
	// quiet) after each load and action. Default 0: the server's
	// (--settle-timeout, 3s).
	SettleTimeout         time.Duration   `json:"settleTimeout,omitempty"`
	TerminateOnCompletion bool            `json:"terminateOnCompletion,omitempty"`
	OutputType            OutputType      `json:"outputType"`
	OutputSchema          json.RawMessage `json:"outputSchema,omitempty"`
	Webhook               *Webhook        `json:"webhook,omitempty"`
	// Recipe names the learned task this task replays and records, shared
	// by the tasks of one tenant (API key). Empty: with replay auto, the
	// recipe is found by the task's intent (see package recipe).
	Recipe string `json:"recipe,omitempty"`
	// Replay is whether the task may replay a recipe; empty is the default
	// (see Spec.ReplayMode).
	Replay ReplayMode `json:"replay,omitempty"`
	// Secrets are credentials the agent may type on matching sites. They
	// are never serialized with the spec (so never stored in clear, logged
	// or sent in a webhook): the store keeps them only sealed (see
	// Task.SealedSecrets) until the task ends.
	Secrets []Secret `json:"-"`
	// Monitor, when set, makes the task a check of that monitor (see
	// MonitorRun).
	Monitor *MonitorRun `json:"monitor,omitempty"`
}

// ReplayMode is whether a task may replay a learned task (a recipe)
// instead of asking the model at every step.
type ReplayMode string

const (
	// ReplayAuto replays the task's recipe when there is one, lets the
	// model take over where it does not replay, and records what the
	// model did.
	ReplayAuto ReplayMode = "auto"
	// ReplayOff never replays and records nothing.
	ReplayOff ReplayMode = "off"
	// ReplayRequire replays or fails with REPLAY_UNAVAILABLE: the model is
	// never called.
	ReplayRequire ReplayMode = "require"
)

// ReplayMode is the task's replay mode with the default applied: auto
// when the task names a recipe, off otherwise. Replay is opt-in because a
// replay repeats the recorded choices: a task whose steps depend on what
// the page says ("open the cheapest offer") must not be replayed blindly.
func (s Spec) ReplayMode() ReplayMode {
	switch {
	case s.Replay != "":
		return s.Replay
	case s.Recipe != "":
		return ReplayAuto
	}
	return ReplayOff
}

// Replay reports how a learned task (recipe) served a run: full_response
// webhooks carry it. Mode is "recorded" (the model did the task and it was
// recorded), "replayed" (no model call), "healed" (replayed up to a step,
// then the model took over and the recipe was recorded again) or "failed".
type Replay struct {
	Recipe string `json:"recipe"`
	// Version is the version replayed, 0 when there was none yet.
	Version int    `json:"version,omitempty"`
	Mode    string `json:"mode"`
	// ReplayedSteps are the recipe's steps replayed; ModelSteps the model
	// calls made.
	ReplayedSteps int `json:"replayedSteps"`
	ModelSteps    int `json:"modelSteps"`
	// TookOverAt is the recipe step (from 1; one past the last for the
	// answer) where the model took over, and Reason why; 0 and "" when it
	// did not.
	TookOverAt int    `json:"tookOverAt,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Recorded is the version this run stored, 0 when none.
	Recorded int `json:"recorded,omitempty"`
	// Saved is what the run did not spend against the recipe's baseline
	// (the run that did it all with the model): tokens, and their cost and
	// compute time at the server's prices (SavedCost is filled in by the
	// engine).
	SavedInputTokens  int64   `json:"savedInputTokens"`
	SavedOutputTokens int64   `json:"savedOutputTokens"`
	SavedCost         float64 `json:"savedCost"`
	// Baseline is the recipe's baseline usage, for SavedCost.
	Baseline Usage `json:"-"`
}

// Secret is a set of named values (e.g. email, password) the agent may type
// into pages whose host matches Match. The model only ever sees the
// placeholders ({{email}}), never the values. A value written as a TOTP
// seed (see IsTOTP) is typed as the code valid at that moment.
type Secret struct {
	// Match is a host pattern: "example.com" is that host only;
	// "*.example.com" is example.com and every subdomain of it; "*" is any
	// host. An optional "https://" or "http://" prefix also requires that
	// scheme.
	Match  string            `json:"match"`
	Fields map[string]string `json:"fields"`
}

// String names the secret's match and field names, never the values, so a
// stray %v in a log line leaks nothing.
func (s Secret) String() string {
	names := make([]string, 0, len(s.Fields))
	for k := range s.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return "secret{" + s.Match + ": " + strings.Join(names, ", ") + "}"
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue is String, for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Usage is what a task consumed.
type Usage struct {
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
	ComputeTime  float64 `json:"computeTime"` // seconds
	Cost         float64 `json:"cost"`        // USD
}

// NetworkURL is one URL the task loaded.
type NetworkURL struct {
	URL       string    `json:"url"`
	Timestamp time.Time `json:"timestamp"`
}

// File is a file a task's page downloaded (a download link, a response
// with Content-Disposition: attachment, a file a script made): stored with
// the task's result and listed in it (GET /task/…, full_response webhooks),
// fetched at its own route, deleted with the task.
type File struct {
	ID   string `json:"id"`
	Name string `json:"name"` // as the site suggested it, made safe
	Type string `json:"type"` // media type
	Size int64  `json:"size"` // bytes
	// Path is the file's bytes while it waits to be stored: a temporary
	// file the agent hands over with the outcome and the engine removes
	// once the outcome is stored. Empty for a stored file.
	Path      string    `json:"-"`
	CreatedAt time.Time `json:"-"`
}

// Step is one recorded agent step.
type Step struct {
	N            int             `json:"n"`
	Action       string          `json:"action"`
	Args         json.RawMessage `json:"args,omitempty"`
	URL          string          `json:"url,omitempty"`
	InputTokens  int64           `json:"inputTokens"`
	OutputTokens int64           `json:"outputTokens"`
	DurationMs   int64           `json:"durationMs"`
	Error        string          `json:"error,omitempty"`
	At           time.Time       `json:"at"`
	// Screenshot is the viewport after the step, for the task's trace
	// (package trace); nil for steps that did not act on a page. It is
	// never serialized with the step: the trace serves it at its own URL.
	Screenshot *Screenshot `json:"-"`
}

// Screenshot is a step's picture of the page in a task's trace: a JPEG of
// the viewport, or the reason there is none.
type Screenshot struct {
	// JPEG is the image. Written with the step; left empty when steps are
	// read back (the store serves the bytes on their own).
	JPEG []byte
	// Bytes is the size of the JPEG, also when it is not loaded.
	Bytes         int
	Width, Height int
	// Omitted says why there is no image: it was not taken (a secret could
	// not be hidden) or was removed by the trace retention.
	Omitted string
}

// Task is one unit of work in a session.
type Task struct {
	ID        string
	SessionID string
	TenantID  string
	Seq       int64 // order within the session
	Spec      Spec
	Status    Status

	// Result, set when completed: the message as the API reports it
	// (markdown, a JSON text, or CSV).
	Message string
	Network []NetworkURL
	// Files are the files the task downloaded, in order: loaded with a
	// completed task by the engine (store.Store.Files).
	Files []File
	Usage Usage
	// Replay is how a recipe served the run that just ended, for the
	// webhook it raises; not stored.
	Replay *Replay

	// Failure, set when failed or cancelled.
	ErrorCode    string
	ErrorMessage string

	// Question is the agent's question while waiting in guardrail_trigger;
	// Answer is the human's reply once given.
	Question string
	Answer   string

	CancelRequested bool
	Attempts        int // how many times a runner started it
	// SealedSecrets is Spec.Secrets encrypted for this task (package seal)
	// while the task is not final: stored so that any node holding the key
	// can run it, wiped when the task ends. Never shown.
	SealedSecrets []byte
	// PreviousRunner is the node that ran the session's previous run (of
	// this task or an earlier one), as StartTask found it: when it is not
	// the node starting this run, the session's browser context is not
	// here. Empty for a session's first run.
	PreviousRunner string

	CreatedAt time.Time
	StartedAt time.Time
	EndedAt   time.Time
}

// SessionState is where a session is in its life.
type SessionState string

const (
	SessionActive     SessionState = "active"
	SessionPaused     SessionState = "paused"
	SessionTerminated SessionState = "terminated"
)

// Session groups tasks that run one at a time, in order, sharing a browser
// context.
type Session struct {
	ID        string
	TenantID  string
	State     SessionState
	CreatedAt time.Time
	// LastActive is when the session last did or was asked something; it
	// expires IdleTimeout after that unless a task is queued or running.
	LastActive time.Time
}

// Expired reports whether the session has been idle longer than idle at now.
// busy says whether it still has queued, running or waiting tasks.
func (s *Session) Expired(now time.Time, idle time.Duration, busy bool) bool {
	if s.State == SessionTerminated {
		return true
	}
	return !busy && idle > 0 && now.Sub(s.LastActive) > idle
}

// Outcome is how a run of the agent ended: exactly one of completed
// (Message set), failed (Code set) or waiting for a human (Question set).
type Outcome struct {
	Message  string
	Code     string
	Error    string
	Question string
	Network  []NetworkURL
	// Files are what the run downloaded (Path set: temporary files the
	// engine stores with a completed or waiting outcome, then removes).
	Files []File
	Usage Usage
	// Replay, when a recipe was replayed or recorded, says how.
	Replay *Replay
	// PageHash fingerprints what the agent read when the answer came from
	// the starting page alone (see RunMemo); empty otherwise. Not stored
	// with the task: a monitor keeps it.
	PageHash string
	// Storage is the browser storage a monitor's run left (cookies, local
	// storage), as the browser exported it. Not stored with the task: the
	// monitor keeps it, sealed.
	Storage []byte
}

// Status is the task status the outcome leads to.
func (o Outcome) Status() Status {
	switch {
	case o.Code == CodeCancelled:
		return StatusCancelled
	case o.Code != "":
		return StatusFailed
	case o.Question != "":
		return StatusGuardrail
	default:
		return StatusCompleted
	}
}

// Event is the webhook event the outcome raises.
func (o Outcome) Event() Event {
	switch o.Status() {
	case StatusCompleted:
		return EventCompleted
	case StatusGuardrail:
		return EventGuardrail
	default:
		return EventFailed
	}
}

// NewID returns a new opaque id with a prefix such as "sess" or "task":
// 128 random bits, base32, lower case.
func NewID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("task: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// RunRequest is one run of a task, as the engine hands it to an agent.
type RunRequest struct {
	Task Task
	// Step is called for each step as it happens, so the step log and the
	// progress stream show it while the task runs. Never nil.
	Step func(Step)
	// Memo, for a monitor's run, is what the previous run left: when the
	// page reads the same as then, the agent answers Memo.Answer without
	// the model (see RunMemo). Nil for other tasks.
	Memo *RunMemo
}
