package webhookkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event names, as in the Errand-Event header and the bodies.
const (
	EventCompleted = "task_completed"
	EventFailed    = "task_failed"
	EventGuardrail = "guardrail_trigger"
)

// GuardrailHumanInput is the data.type of a guardrail_trigger: the agent
// asks a human and waits for the answer.
const GuardrailHumanInput = "human_input_needed"

// timeLayout is RFC 3339 in UTC with exactly three fractional digits, the
// API's one time format ("2024-01-15T10:30:00.000Z"). Fixed width, so that
// the strings sort as the times do.
const timeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime writes t as the API does: RFC 3339, UTC, milliseconds
// (truncated), e.g. 2024-01-15T10:30:00.000Z.
func FormatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// Timestamp is a time in a payload. It encodes with FormatTime and decodes
// any RFC 3339 time; use it as a time.Time (its methods are promoted).
type Timestamp struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + FormatTime(t.Time) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("webhookkit: time: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("webhookkit: time: %w", err)
	}
	t.Time = v.UTC()
	return nil
}

// The payload types below are the wire contract; errand builds its bodies
// from these very structs, so field order here is key order on the wire.

// Usage is what a task consumed, in the camelCase keys of the seed.
type Usage struct {
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
	ComputeTime  float64 `json:"computeTime"` // seconds
	Cost         float64 `json:"cost"`        // USD
	// ReplayUsage is there (its keys follow cost) when the task replayed
	// or recorded a learned task (a recipe); nil otherwise.
	*ReplayUsage
}

// ReplayUsage is what a run that replayed a recipe did without the model,
// and what that saved against the run that recorded it.
type ReplayUsage struct {
	ReplayedSteps     int     `json:"replayedSteps"`
	ModelSteps        int     `json:"modelSteps"`
	SavedInputTokens  int64   `json:"savedInputTokens"`
	SavedOutputTokens int64   `json:"savedOutputTokens"`
	SavedCost         float64 `json:"savedCost"` // USD
}

// Replay says how a learned task (recipe) served the run: its name and
// the version replayed, the mode (recorded, replayed, healed, failed),
// where the model took over and why, and the version this run recorded.
type Replay struct {
	Recipe     string `json:"recipe"`
	Version    int    `json:"version,omitempty"`
	Mode       string `json:"mode"`
	TookOverAt int    `json:"tookOverAt,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Recorded   int    `json:"recorded,omitempty"`
}

// CompletedData is data of a full_response task_completed, in the seed's
// snake_case keys.
type CompletedData struct {
	// Message is the result: markdown (text), a JSON text (structured_json)
	// or CSV with a header row (structured_csv).
	Message          string  `json:"message"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	TotalTokens      int64   `json:"total_tokens"`
	CompletionTime   float64 `json:"completion_time"` // seconds
	// Files are the files the task downloaded, when it downloaded any
	// (the key is left out otherwise, so the seed's shape is unchanged).
	Files []File `json:"files,omitempty"`
}

// File is a file a task downloaded, as a full_response lists it. Fetch
// its bytes at URL with the API key (Authorization: Bearer …); URL is a
// path on the errand server that sent the webhook.
type File struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"` // media type
	Size int64  `json:"size"` // bytes
	URL  string `json:"url"`
}

// Completed is task_completed with submittedData full_response:
//
//	{"type":"task_completed","sessionId","taskId",
//	 "data":{"message","prompt_tokens","completion_tokens","total_tokens","completion_time"},
//	 "usage":{"inputTokens","outputTokens","computeTime","cost"},"completedAt"}
//
// A task that downloaded files also has "files" at the end of data.
//
// A task that replayed or recorded a recipe also has the ReplayUsage keys
// in usage, and "replay" before completedAt.
type Completed struct {
	Type        string        `json:"type"`
	SessionID   string        `json:"sessionId"`
	TaskID      string        `json:"taskId"`
	Data        CompletedData `json:"data"`
	Usage       Usage         `json:"usage"`
	Replay      *Replay       `json:"replay,omitempty"`
	CompletedAt Timestamp     `json:"completedAt"`
}

// CompletedPing is task_completed with submittedData just_ping:
//
//	{"event":"task_completed","sessionId","taskId","completedAt"}
type CompletedPing struct {
	Event       string    `json:"event"`
	SessionID   string    `json:"sessionId"`
	TaskID      string    `json:"taskId"`
	CompletedAt Timestamp `json:"completedAt"`
}

// Failed is task_failed with submittedData full_response or ai_response
// (a failed task has no AI response to send). Cancelled tasks fail with
// code CANCELLED.
//
//	{"type":"task_failed","sessionId","taskId","error","code",
//	 "usage":{"inputTokens","outputTokens","computeTime","cost"},"failedAt"}
//
// A task that failed while replaying a recipe also has "replay" (see
// Completed).
type Failed struct {
	Type      string    `json:"type"`
	SessionID string    `json:"sessionId"`
	TaskID    string    `json:"taskId"`
	Error     string    `json:"error"`
	Code      string    `json:"code"`
	Usage     Usage     `json:"usage"`
	Replay    *Replay   `json:"replay,omitempty"`
	FailedAt  Timestamp `json:"failedAt"`
}

// FailedPing is task_failed with submittedData just_ping:
//
//	{"event":"task_failed","sessionId","taskId","failedAt"}
type FailedPing struct {
	Event     string    `json:"event"`
	SessionID string    `json:"sessionId"`
	TaskID    string    `json:"taskId"`
	FailedAt  Timestamp `json:"failedAt"`
}

// GuardrailData is the agent's question, as the polling API shows it.
type GuardrailData struct {
	Type  string `json:"type"`  // human_input_needed
	Value string `json:"value"` // the question
}

// Guardrail is guardrail_trigger with submittedData full_response or
// ai_response: the task waits for a human's answer (send-message, actionType
// guardrail).
//
//	{"type":"guardrail_trigger","sessionId","taskId",
//	 "data":{"type":"human_input_needed","value":"<question>"},
//	 "usage":{"inputTokens","outputTokens","computeTime","cost"},"triggeredAt"}
type Guardrail struct {
	Type        string        `json:"type"`
	SessionID   string        `json:"sessionId"`
	TaskID      string        `json:"taskId"`
	Data        GuardrailData `json:"data"`
	Usage       Usage         `json:"usage"`
	TriggeredAt Timestamp     `json:"triggeredAt"`
}

// GuardrailPing is guardrail_trigger with submittedData just_ping:
//
//	{"event":"guardrail_trigger","sessionId","taskId","triggeredAt"}
type GuardrailPing struct {
	Event       string    `json:"event"`
	SessionID   string    `json:"sessionId"`
	TaskID      string    `json:"taskId"`
	TriggeredAt Timestamp `json:"triggeredAt"`
}

// TextResponse is the ai_response body of a text task.
type TextResponse struct {
	Text string `json:"text"` // markdown
}

// CSVResponse is the ai_response body of a structured_csv task.
type CSVResponse struct {
	CSV string `json:"csv"` // with a header row
}

// AIResponse is task_completed with submittedData ai_response: the JSON
// value of a structured_json task, or a TextResponse or CSVResponse. Which
// one depends on the task's outputType, which the receiver knows and the
// body does not say: decode Raw with DecodeInto.
type AIResponse struct {
	Raw json.RawMessage
}

// MarshalJSON implements json.Marshaler: the body is Raw itself.
func (a AIResponse) MarshalJSON() ([]byte, error) {
	if len(a.Raw) == 0 {
		return []byte("null"), nil
	}
	return a.Raw, nil
}

// DecodeInto decodes the response into v, e.g. a *TextResponse or the
// receiver's own struct for its output schema.
func (a AIResponse) DecodeInto(v any) error {
	return json.Unmarshal(a.Raw, v)
}

// Payload is a decoded delivery body: one of *Completed, *CompletedPing,
// *AIResponse, *Failed, *FailedPing, *Guardrail, *GuardrailPing, or for a
// monitor's events *MonitorChanged, *MonitorAnswer, *MonitorFailing,
// *MonitorRecovered, *MonitorPing (see monitor.go).
type Payload interface {
	// EventName is the event the payload reports (an Event* constant).
	EventName() string
}

// EventName implements Payload.
func (*Completed) EventName() string     { return EventCompleted }
func (*CompletedPing) EventName() string { return EventCompleted }
func (*AIResponse) EventName() string    { return EventCompleted }
func (*Failed) EventName() string        { return EventFailed }
func (*FailedPing) EventName() string    { return EventFailed }
func (*Guardrail) EventName() string     { return EventGuardrail }
func (*GuardrailPing) EventName() string { return EventGuardrail }

// Errors of Decode.
var (
	ErrUnknownEvent  = errors.New("webhookkit: unknown event")
	ErrEventMismatch = errors.New("webhookkit: body does not match the Errand-Event header")
	ErrInvalidBody   = errors.New("webhookkit: invalid body")
)

// Decode decodes a delivery body. event is the Errand-Event header; when it
// is empty the event is taken from the body's "type" or "event" key (an
// ai_response body has neither and decodes as task_completed).
//
// The shape is told apart by its keys: "type" marks a full_response (or the
// failure and guardrail bodies of ai_response), "event" a just_ping, and a
// task_completed body with neither is an ai_response. A structured_json
// result whose own top-level keys are "type" or "event" set to an event name
// is therefore ambiguous; a receiver that expects ai_response bodies should
// build an AIResponse from the body directly.
func Decode(event string, body []byte) (Payload, error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, fmt.Errorf("%w: not JSON", ErrInvalidBody)
	}
	var keys struct {
		Type  *string `json:"type"`
		Event *string `json:"event"`
	}
	isObject := len(body) > 0 && body[0] == '{'
	if isObject {
		// A key of another JSON type (a structured_json result may have
		// "type": 3) just means this is no envelope.
		_ = json.Unmarshal(body, &keys)
	}
	marker, kind := "", ""
	switch {
	case keys.Type != nil && isEvent(*keys.Type):
		marker, kind = *keys.Type, "type"
	case keys.Event != nil && isEvent(*keys.Event):
		marker, kind = *keys.Event, "event"
	}
	if event == "" {
		event = marker
		if event == "" {
			event = EventCompleted
		}
	}
	if !isEvent(event) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, event)
	}
	if marker != "" && marker != event {
		return nil, fmt.Errorf("%w: header %s, body %s", ErrEventMismatch, event, marker)
	}

	var p Payload
	if isMonitorEvent(event) {
		mp, unmarshal := decodeMonitor(event, kind, body)
		switch {
		case mp == nil:
			return nil, fmt.Errorf("%w: %s body without a \"type\" or \"event\" key", ErrInvalidBody, event)
		case !unmarshal:
			return mp, nil
		}
		p = mp
	}
	switch {
	case p != nil:
	case event == EventCompleted && kind == "type":
		p = &Completed{}
	case event == EventCompleted && kind == "event":
		p = &CompletedPing{}
	case event == EventCompleted:
		return &AIResponse{Raw: append(json.RawMessage(nil), body...)}, nil
	case event == EventFailed && kind == "type":
		p = &Failed{}
	case event == EventFailed && kind == "event":
		p = &FailedPing{}
	case event == EventGuardrail && kind == "type":
		p = &Guardrail{}
	case event == EventGuardrail && kind == "event":
		p = &GuardrailPing{}
	default:
		return nil, fmt.Errorf("%w: %s body without a \"type\" or \"event\" key", ErrInvalidBody, event)
	}
	if err := json.Unmarshal(body, p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidBody, err)
	}
	return p, nil
}

func isEvent(s string) bool {
	return s == EventCompleted || s == EventFailed || s == EventGuardrail || isMonitorEvent(s)
}
