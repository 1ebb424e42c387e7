package webhookkit

import "encoding/json"

// Monitor events (Errand-Event), sent to a monitor's webhook. The header
// Errand-Monitor-Id names the monitor.
const (
	// EventMonitorChanged: a run's answer changed (or a rule fired, or
	// the monitor notifies on every run).
	EventMonitorChanged = "monitor.changed"
	// EventMonitorFailing: the monitor's runs failed failuresBeforeAlert
	// times in a row (sent once, until a run succeeds again).
	EventMonitorFailing = "monitor.failing"
	// EventMonitorRecovered: a run succeeded after monitor.failing.
	EventMonitorRecovered = "monitor.recovered"
)

// HeaderMonitorID names the monitor of a monitor event.
const HeaderMonitorID = "Errand-Monitor-Id"

// MonitorInfo names the monitor and the run of a monitor event.
type MonitorInfo struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	RunAt Timestamp `json:"runAt"`
}

// FieldChange is one difference between a monitor's previous answer and
// the new one.
type FieldChange struct {
	// Path is a JSON Pointer into the new answer (the previous one for a
	// removed item); for a text answer "/N" is line N.
	Path string `json:"path"`
	// Kind is "changed", "added" or "removed".
	Kind string `json:"kind"`
	// Key is the item's key value when the monitor matches items by key.
	Key    json.RawMessage `json:"key,omitempty"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// FiredRule is a rule that fired: the rule as configured (one condition
// set), the value that made it fire and, for changeBy rules, the value
// last notified that it was measured against.
type FiredRule struct {
	Path             string          `json:"path"`
	Below            *float64        `json:"below,omitempty"`
	Above            *float64        `json:"above,omitempty"`
	Equals           json.RawMessage `json:"equals,omitempty"`
	ChangeByPercent  *float64        `json:"changeByPercent,omitempty"`
	ChangeByAbsolute *float64        `json:"changeByAbsolute,omitempty"`
	Value            json.RawMessage `json:"value"`
	Reference        *float64        `json:"reference,omitempty"`
}

// MonitorChange is what changed on a run.
type MonitorChange struct {
	Fields []FieldChange `json:"fields"`
	// Truncated: there were more changes than listed.
	Truncated bool        `json:"truncated,omitempty"`
	Rules     []FiredRule `json:"rules"`
}

// MonitorChanged is monitor.changed with submittedData full_response: the
// run's task as task_completed reports it, plus the monitor and the change.
type MonitorChanged struct {
	Type        string        `json:"type"` // monitor.changed
	SessionID   string        `json:"sessionId"`
	TaskID      string        `json:"taskId"`
	Data        CompletedData `json:"data"`
	Usage       Usage         `json:"usage"`
	Replay      *Replay       `json:"replay,omitempty"`
	CompletedAt Timestamp     `json:"completedAt"`
	Monitor     MonitorInfo   `json:"monitor"`
	Change      MonitorChange `json:"change"`
}

// MonitorAnswer is monitor.changed with submittedData ai_response: the new
// answer exactly as a task's ai_response (see AIResponse).
type MonitorAnswer struct{ AIResponse }

// MonitorFailing is monitor.failing (full_response and ai_response).
type MonitorFailing struct {
	Type      string `json:"type"` // monitor.failing
	SessionID string `json:"sessionId"`
	TaskID    string `json:"taskId"`
	Error     string `json:"error"`
	Code      string `json:"code"`
	// Failures is how many runs failed in a row.
	Failures int         `json:"failures"`
	Usage    Usage       `json:"usage"`
	Replay   *Replay     `json:"replay,omitempty"`
	FailedAt Timestamp   `json:"failedAt"`
	Monitor  MonitorInfo `json:"monitor"`
}

// MonitorRecovered is monitor.recovered (full_response and ai_response).
type MonitorRecovered struct {
	Type        string        `json:"type"` // monitor.recovered
	SessionID   string        `json:"sessionId"`
	TaskID      string        `json:"taskId"`
	Data        CompletedData `json:"data"`
	Usage       Usage         `json:"usage"`
	Replay      *Replay       `json:"replay,omitempty"`
	CompletedAt Timestamp     `json:"completedAt"`
	Monitor     MonitorInfo   `json:"monitor"`
}

// MonitorPing is a monitor event with submittedData just_ping; At is
// completedAt (changed, recovered) or failedAt (failing).
type MonitorPing struct {
	Event       string     `json:"event"`
	SessionID   string     `json:"sessionId"`
	TaskID      string     `json:"taskId"`
	CompletedAt *Timestamp `json:"completedAt,omitempty"`
	FailedAt    *Timestamp `json:"failedAt,omitempty"`
}

func (*MonitorChanged) EventName() string   { return EventMonitorChanged }
func (*MonitorAnswer) EventName() string    { return EventMonitorChanged }
func (*MonitorFailing) EventName() string   { return EventMonitorFailing }
func (*MonitorRecovered) EventName() string { return EventMonitorRecovered }
func (p *MonitorPing) EventName() string    { return p.Event }

// isMonitorEvent reports a monitor event name.
func isMonitorEvent(s string) bool {
	return s == EventMonitorChanged || s == EventMonitorFailing || s == EventMonitorRecovered
}

// decodeMonitor picks the payload type of a monitor event; kind is the
// body's marker key ("type", "event") or "" for none.
func decodeMonitor(event, kind string, body []byte) (Payload, bool) {
	switch {
	case kind == "event":
		return &MonitorPing{}, true
	case event == EventMonitorChanged && kind == "type":
		return &MonitorChanged{}, true
	case event == EventMonitorChanged:
		return &MonitorAnswer{AIResponse{Raw: append(json.RawMessage(nil), body...)}}, false
	case event == EventMonitorFailing && kind == "type":
		return &MonitorFailing{}, true
	case event == EventMonitorRecovered && kind == "type":
		return &MonitorRecovered{}, true
	}
	return nil, false
}
