package trace

import (
	"encoding/json"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// View is a task's trace as the API and the dashboard show it.
type View struct {
	SessionID     string          `json:"sessionId"`
	TaskID        string          `json:"taskId"`
	Status        task.Status     `json:"status"`
	TaskDetails   string          `json:"taskDetails"`
	StartingPoint string          `json:"startingPoint,omitempty"`
	OutputType    task.OutputType `json:"outputType"`
	// Answer is the task's answer once completed: the validated message.
	Answer string `json:"answer,omitempty"`
	// ErrorCode and ErrorMessage say why a failed or cancelled task ended.
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	// Question is what the task asks a human while it waits for one.
	Question  string `json:"question,omitempty"`
	Usage     Usage  `json:"usage"`
	CreatedAt Time   `json:"createdAt"`
	StartedAt *Time  `json:"startedAt,omitempty"`
	EndedAt   *Time  `json:"endedAt,omitempty"`
	Steps     []Step `json:"steps"`
}

// Usage is what the task used in all.
type Usage struct {
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
	ComputeTime  float64 `json:"computeTime"`
	Cost         float64 `json:"cost"`
}

// Step is one step of a trace.
type Step struct {
	// Index numbers the steps of the task from 1, in order; the
	// screenshot's URL uses it.
	Index int `json:"index"`
	// N is the agent's number for the step within its run (a task that
	// restarts or resumes after a human's answer counts again from 1; 0
	// for the engine's notes, such as a move to another node).
	N            int             `json:"n"`
	Action       string          `json:"action"`
	Args         json.RawMessage `json:"args,omitempty"`
	URL          string          `json:"url,omitempty"`
	InputTokens  int64           `json:"inputTokens"`
	OutputTokens int64           `json:"outputTokens"`
	// Cost is the step's tokens and time at the server's prices, USD.
	Cost       float64 `json:"cost"`
	DurationMs int64   `json:"durationMs"`
	Error      string  `json:"error,omitempty"`
	At         Time    `json:"at"`
	// Screenshot is the viewport after the step; nil for steps that did
	// not act on a page.
	Screenshot *Shot `json:"screenshot,omitempty"`
	// Answer is set on a step that gave an answer: the model's done, or
	// the last step of a completed task.
	Answer *Answer `json:"answer,omitempty"`
}

// Shot is a step's screenshot as listed: where to get it, or why there is
// none.
type Shot struct {
	URL    string `json:"url,omitempty"`
	Bytes  int    `json:"bytes"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// Omitted says why there is no image.
	Omitted string `json:"omitted,omitempty"`
}

// Answer is an answer a step gave and whether it validated against the
// task's output type.
type Answer struct {
	Text  string `json:"text"`
	Valid bool   `json:"valid"`
	// Problem is the validator's message for an answer that did not
	// validate.
	Problem string `json:"problem,omitempty"`
}

// BuildParams is what Build needs besides the task and its steps.
type BuildParams struct {
	// Cost prices a step's tokens and time (the engine's prices).
	// Default: zero cost.
	Cost func(task.Usage) float64
	// ShotURL is the URL of step index's screenshot. Required.
	ShotURL func(index int) string
}

// Build makes a task's trace from the task and its steps (with their
// screenshots' details, store.Store.Steps).
func Build(t task.Task, steps []task.Step, p BuildParams) View {
	v := View{
		SessionID: t.SessionID, TaskID: t.ID, Status: t.Status,
		TaskDetails: t.Spec.TaskDetails, StartingPoint: t.Spec.StartingPoint, OutputType: t.Spec.OutputType,
		ErrorCode: t.ErrorCode, ErrorMessage: t.ErrorMessage,
		Usage:     Usage{InputTokens: t.Usage.InputTokens, OutputTokens: t.Usage.OutputTokens, ComputeTime: t.Usage.ComputeTime, Cost: t.Usage.Cost},
		CreatedAt: Time(t.CreatedAt), StartedAt: timePtr(t.StartedAt), EndedAt: timePtr(t.EndedAt),
		Steps: make([]Step, 0, len(steps)),
	}
	if v.OutputType == "" {
		v.OutputType = task.OutputText
	}
	switch t.Status {
	case task.StatusCompleted:
		v.Answer = t.Message
	case task.StatusGuardrail:
		v.Question = t.Question
	}
	cost := p.Cost
	if cost == nil {
		cost = func(task.Usage) float64 { return 0 }
	}
	last := -1 // the last step the agent numbered: the one that answered
	for i, s := range steps {
		st := Step{
			Index: i + 1, N: s.N, Action: s.Action, Args: s.Args, URL: s.URL,
			InputTokens: s.InputTokens, OutputTokens: s.OutputTokens, DurationMs: s.DurationMs,
			Error: s.Error, At: Time(s.At),
			Cost: cost(task.Usage{InputTokens: s.InputTokens, OutputTokens: s.OutputTokens, ComputeTime: float64(s.DurationMs) / 1000}),
		}
		if sh := s.Screenshot; sh != nil {
			st.Screenshot = &Shot{Bytes: sh.Bytes, Width: sh.Width, Height: sh.Height, Omitted: sh.Omitted}
			if sh.Bytes > 0 {
				st.Screenshot.URL = p.ShotURL(st.Index)
			}
		}
		if s.Action == "done" {
			st.Answer = doneAnswer(s)
		}
		if s.N > 0 {
			last = i
		}
		v.Steps = append(v.Steps, st)
	}
	if t.Status == task.StatusCompleted && last >= 0 {
		// The answer as validated and reported, on the step that gave it.
		v.Steps[last].Answer = &Answer{Text: t.Message, Valid: true}
	}
	return v
}

// doneAnswer reads the answer of a done step and its validation: done's
// error is the validator's message.
func doneAnswer(s task.Step) *Answer {
	var args struct {
		Answer json.RawMessage `json:"answer"`
	}
	if json.Unmarshal(s.Args, &args) != nil || len(args.Answer) == 0 {
		return &Answer{Valid: false, Problem: s.Error}
	}
	text := string(args.Answer)
	var str string
	if json.Unmarshal(args.Answer, &str) == nil {
		text = str
	}
	return &Answer{Text: text, Valid: s.Error == "", Problem: s.Error}
}

func timePtr(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	v := Time(t)
	return &v
}

// Time is a time as the API writes it: RFC 3339 in UTC with exactly three
// fractional digits.
type Time time.Time

const timeLayout = "2006-01-02T15:04:05.000Z"

// String formats t as the API does.
func (t Time) String() string { return time.Time(t).UTC().Format(timeLayout) }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) { return []byte(`"` + t.String() + `"`), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	*t = Time(v)
	return err
}
