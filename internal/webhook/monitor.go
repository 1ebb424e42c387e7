package webhook

import (
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/webhookkit"
)

// MonitorNotice is one event of a monitor's run, to be sent to the
// monitor's webhook.
type MonitorNotice struct {
	// Event is monitor.changed, monitor.failing or monitor.recovered.
	Event task.Event
	// Task is the run's task, ended (EndedAt is the event's time).
	Task        task.Task
	MonitorID   string
	MonitorName string
	RunAt       time.Time
	Changes     []monitor.Change
	Truncated   bool
	Fired       []monitor.Fired
	// Failures is how many runs failed in a row (monitor.failing).
	Failures int
}

// MonitorBody builds the JSON body of a monitor event, as the webhook's
// submittedData sd asks, in the seed's shapes (keys in this order):
//
//	monitor.changed   ai_response    the new answer exactly as task_completed's ai_response
//	monitor.changed   full_response  {"type":"monitor.changed","sessionId","taskId","data":{…},"usage":{…},"completedAt","monitor":{"id","name","runAt"},"change":{"fields":[…],"truncated"?,"rules":[…]}}
//	monitor.failing   full/ai        {"type":"monitor.failing","sessionId","taskId","error","code","failures","usage":{…},"failedAt","monitor":{…}}
//	monitor.recovered full/ai        {"type":"monitor.recovered","sessionId","taskId","data":{…},"usage":{…},"completedAt","monitor":{…}}
//	any               just_ping      {"event":"<event>","sessionId","taskId","completedAt"} (failedAt for monitor.failing)
func MonitorBody(n MonitorNotice, sd task.SubmittedData) ([]byte, error) {
	t := n.Task
	switch sd {
	case task.SubmitAIResponse, task.SubmitFullResponse, task.SubmitJustPing:
	default:
		return nil, fmt.Errorf("webhook: unknown submittedData %q", sd)
	}
	if t.EndedAt.IsZero() {
		return nil, fmt.Errorf("webhook: %s of task %s has no time (EndedAt)", n.Event, t.ID)
	}
	at := webhookkit.Timestamp{Time: t.EndedAt}
	info := webhookkit.MonitorInfo{ID: n.MonitorID, Name: n.MonitorName, RunAt: webhookkit.Timestamp{Time: n.RunAt}}
	if sd == task.SubmitJustPing {
		p := webhookkit.MonitorPing{Event: string(n.Event), SessionID: t.SessionID, TaskID: t.ID}
		if n.Event == monitor.EventFailing {
			p.FailedAt = &at
		} else {
			p.CompletedAt = &at
		}
		return encode(p)
	}
	switch n.Event {
	case monitor.EventChanged:
		if sd == task.SubmitAIResponse {
			return aiResponse(t)
		}
		return encode(webhookkit.MonitorChanged{
			Type: string(n.Event), SessionID: t.SessionID, TaskID: t.ID,
			Data: completedData(t), Usage: usage(t), Replay: replay(t.Replay), CompletedAt: at,
			Monitor: info, Change: change(n),
		})
	case monitor.EventFailing:
		return encode(webhookkit.MonitorFailing{
			Type: string(n.Event), SessionID: t.SessionID, TaskID: t.ID,
			Error: t.ErrorMessage, Code: t.ErrorCode, Failures: n.Failures,
			Usage: usage(t), Replay: replay(t.Replay), FailedAt: at, Monitor: info,
		})
	case monitor.EventRecovered:
		return encode(webhookkit.MonitorRecovered{
			Type: string(n.Event), SessionID: t.SessionID, TaskID: t.ID,
			Data: completedData(t), Usage: usage(t), Replay: replay(t.Replay), CompletedAt: at, Monitor: info,
		})
	}
	return nil, fmt.Errorf("webhook: unknown monitor event %q", n.Event)
}

func completedData(t task.Task) webhookkit.CompletedData {
	return webhookkit.CompletedData{
		Message:          t.Message,
		PromptTokens:     t.Usage.InputTokens,
		CompletionTokens: t.Usage.OutputTokens,
		TotalTokens:      t.Usage.InputTokens + t.Usage.OutputTokens,
		CompletionTime:   seconds(t.Usage.ComputeTime),
		Files:            files(t),
	}
}

// files lists a task's files as full_response does: nil (no key) when it
// has none.
func files(t task.Task) []webhookkit.File {
	if len(t.Files) == 0 {
		return nil
	}
	out := make([]webhookkit.File, len(t.Files))
	for i, f := range t.Files {
		out[i] = webhookkit.File{ID: f.ID, Name: f.Name, Type: f.Type, Size: f.Size, URL: FilePath(t, f.ID)}
	}
	return out
}

// FilePath is the API path of a task's file (GET with the API key).
func FilePath(t task.Task, fileID string) string {
	return "/task/" + t.SessionID + "/" + t.ID + "/files/" + fileID
}

func change(n MonitorNotice) webhookkit.MonitorChange {
	c := webhookkit.MonitorChange{Fields: []webhookkit.FieldChange{}, Truncated: n.Truncated, Rules: []webhookkit.FiredRule{}}
	for _, ch := range n.Changes {
		c.Fields = append(c.Fields, webhookkit.FieldChange{Path: ch.Path, Kind: ch.Kind, Key: ch.Key, Before: ch.Before, After: ch.After})
	}
	for _, f := range n.Fired {
		c.Rules = append(c.Rules, webhookkit.FiredRule{
			Path: f.Path, Below: f.Below, Above: f.Above, Equals: f.Equals,
			ChangeByPercent: f.ChangeByPercent, ChangeByAbsolute: f.ChangeByAbsolute,
			Value: f.Value, Reference: f.Reference,
		})
	}
	return c
}
