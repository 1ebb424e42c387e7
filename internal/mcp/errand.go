package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// Errand is the errand the tools work on: one in this process (Local) or
// one reached over its HTTP API (Remote). Requests are the API's bodies,
// answers its JSON answers (docs/API.md) and failures its errors (an
// *httpapi.Error, its Details naming bad fields by JSON Pointer), so a tool
// answers the same whichever errand is behind it. tenant is whose tasks
// they are; Remote acts as its API key's tenant and ignores it.
type Errand interface {
	// RunTask queues a run-task body.
	RunTask(ctx context.Context, tenant string, body Body) (Ref, error)
	// StartSession opens a session from a start-session body. The answer
	// is start-session's; ref names the initial task, if any.
	StartSession(ctx context.Context, tenant string, body Body) (answer Answer, ref *Ref, err error)
	// SendMessage sends a send-message body. A newTask or guardrail
	// message returns the task it queued; a state message, the answer.
	SendMessage(ctx context.Context, tenant string, body Body) (answer Answer, ref *Ref, err error)
	// Task is the task's answer as polling gives it, with its step log
	// under "steps".
	Task(ctx context.Context, tenant string, ref Ref) (Answer, error)
	// Follow tells w of the task's progress and returns the task's answer
	// once it has ended or waits for a human. When ctx ends first it
	// returns ctx's error.
	Follow(ctx context.Context, tenant string, ref Ref, w Watch) (Answer, error)
	// Cancel stops the task, wherever it is in its session.
	Cancel(ctx context.Context, tenant string, ref Ref) error
	// Tasks lists the tenant's tasks, newest first: GET /tasks with the
	// query q.
	Tasks(ctx context.Context, tenant string, q url.Values) (Answer, error)

	// CreateMonitor makes a monitor from a POST /monitors body.
	CreateMonitor(ctx context.Context, tenant string, body Body) (Answer, error)
	// ListMonitors lists the tenant's monitors: GET /monitors with the query q.
	ListMonitors(ctx context.Context, tenant string, q url.Values) (Answer, error)
	// MonitorRuns lists a monitor's runs: GET /monitors/{id}/runs with the
	// query q.
	MonitorRuns(ctx context.Context, tenant, id string, q url.Values) (Answer, error)
	// DeleteMonitor removes a monitor.
	DeleteMonitor(ctx context.Context, tenant, id string) (Answer, error)
}

// Body is a request body, field by field, as the API reads it.
type Body = map[string]json.RawMessage

// Answer is an answer of the API, as it is sent.
type Answer = map[string]any

// Ref names a task.
type Ref struct {
	SessionID string `json:"sessionId"`
	TaskID    string `json:"taskId"`
}

// refOf reads the task an answer names.
func refOf(a Answer) (Ref, bool) {
	sid, _ := a["sessionId"].(string)
	tid, _ := a["taskId"].(string)
	return Ref{SessionID: sid, TaskID: tid}, sid != "" && tid != ""
}

// Watch is what Follow tells of a task as it runs.
type Watch struct {
	// Status is called when the task is seen in a new status before it
	// ends (queued, running). Default: nothing is called.
	Status func(status string)
	// Step is called with each of the task's steps, in order. Default:
	// nothing is called.
	Step func(Step)
}

func (w Watch) status(s string) {
	if w.Status != nil {
		w.Status(s)
	}
}

func (w Watch) step(s Step) {
	if w.Step != nil {
		w.Step(s)
	}
}

// Step is one step of a task's log as the API shows it.
type Step struct {
	N          int    `json:"n"`
	Action     string `json:"action"`
	URL        string `json:"url,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// String is the step as a progress message says it.
func (s Step) String() string {
	msg := fmt.Sprintf("step %d: %s", s.N, s.Action)
	if s.URL != "" {
		msg += " " + s.URL
	}
	if s.Error != "" {
		msg += " (" + s.Error + ")"
	}
	return msg
}
