// Package webhook is how errand notifies callers, its delivery room: it
// builds the payload of each event from a task (Body), signs it per Standard
// Webhooks (Sign), POSTs it (Sender), spaces retries (Backoff), and sends
// what the store owes (Dispatcher: leases due deliveries in batches, caps
// each receiver host, records attempts in group commits, hands back what it
// did not send when it stops). The Dispatcher depends on the store only
// through Outbox; the delivery types (task.Delivery, task.Attempt, ...)
// live in the domain package, so this package does not import the store.
//
// The payload shapes are the contract of docs/API.md (the hosted service's
// webhook documentation), to the letter; the structs live in the public receiver kit (webhookkit) so that
// what errand sends and what receivers decode cannot drift, and the golden
// files in testdata/ pin every shape byte for byte.
package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/webhookkit"
)

// FormatTime writes t as every API time is written: RFC 3339, UTC, exactly
// three fractional digits, e.g. 2024-01-15T10:30:00.000Z.
func FormatTime(t time.Time) string { return webhookkit.FormatTime(t) }

// Body builds the JSON body of event e for task t, as its webhook's
// submittedData sd asks. t must carry what the event reports: the result and
// usage (task_completed), the error code and message (task_failed; a
// cancelled task without a code reports CANCELLED), or the question
// (guardrail_trigger); EndedAt is the event's time (completedAt, failedAt,
// triggeredAt). The body is fixed when the event is raised and sent as is on
// every attempt, so that every attempt carries the same signed bytes.
//
// Shapes, by event and sd (keys in this order, nothing else):
//
//	task_completed    full_response  {"type":"task_completed","sessionId","taskId","data":{"message","prompt_tokens","completion_tokens","total_tokens","completion_time"},"usage":{"inputTokens","outputTokens","computeTime","cost"},"completedAt"}
//	task_completed    ai_response    structured_json: the result's JSON value; text: {"text"}; structured_csv: {"csv"}
//	task_completed    just_ping      {"event":"task_completed","sessionId","taskId","completedAt"}
//	task_failed       full/ai        {"type":"task_failed","sessionId","taskId","error","code","usage":{…},"failedAt"}
//	task_failed       just_ping      {"event":"task_failed","sessionId","taskId","failedAt"}
//	guardrail_trigger full/ai        {"type":"guardrail_trigger","sessionId","taskId","data":{"type":"human_input_needed","value":"<question>"},"usage":{…},"triggeredAt"}
//	guardrail_trigger just_ping      {"event":"guardrail_trigger","sessionId","taskId","triggeredAt"}
func Body(t task.Task, e task.Event, sd task.SubmittedData) ([]byte, error) {
	switch sd {
	case task.SubmitAIResponse, task.SubmitFullResponse, task.SubmitJustPing:
	default:
		return nil, fmt.Errorf("webhook: unknown submittedData %q", sd)
	}
	if t.EndedAt.IsZero() {
		// A zero time would go out as year 1; better to fail loudly where
		// the event is raised.
		return nil, fmt.Errorf("webhook: %s of task %s has no time (EndedAt)", e, t.ID)
	}
	at := webhookkit.Timestamp{Time: t.EndedAt}
	ping := sd == task.SubmitJustPing

	var v any
	switch e {
	case task.EventCompleted:
		switch {
		case ping:
			v = webhookkit.CompletedPing{Event: string(e), SessionID: t.SessionID, TaskID: t.ID, CompletedAt: at}
		case sd == task.SubmitAIResponse:
			return aiResponse(t)
		default:
			v = webhookkit.Completed{
				Type: string(e), SessionID: t.SessionID, TaskID: t.ID,
				Data:        completedData(t),
				Usage:       usage(t),
				Replay:      replay(t.Replay),
				CompletedAt: at,
			}
		}
	case task.EventFailed:
		code, msg := t.ErrorCode, t.ErrorMessage
		if code == "" && t.Status == task.StatusCancelled {
			code = task.CodeCancelled
		}
		if code == "" {
			return nil, fmt.Errorf("webhook: task_failed of task %s has no error code", t.ID)
		}
		if msg == "" && code == task.CodeCancelled {
			msg = "the task was cancelled"
		}
		if ping {
			v = webhookkit.FailedPing{Event: string(e), SessionID: t.SessionID, TaskID: t.ID, FailedAt: at}
		} else {
			v = webhookkit.Failed{
				Type: string(e), SessionID: t.SessionID, TaskID: t.ID,
				Error: msg, Code: code, Usage: usage(t), Replay: replay(t.Replay), FailedAt: at,
			}
		}
	case task.EventGuardrail:
		if ping {
			v = webhookkit.GuardrailPing{Event: string(e), SessionID: t.SessionID, TaskID: t.ID, TriggeredAt: at}
		} else {
			v = webhookkit.Guardrail{
				Type: string(e), SessionID: t.SessionID, TaskID: t.ID,
				Data:        webhookkit.GuardrailData{Type: webhookkit.GuardrailHumanInput, Value: t.Question},
				Usage:       usage(t),
				TriggeredAt: at,
			}
		}
	default:
		return nil, fmt.Errorf("webhook: unknown event %q", e)
	}
	return encode(v)
}

// aiResponse is the task_completed body for ai_response: always a JSON
// object or array, so that strict JSON body parsers accept it.
func aiResponse(t task.Task) ([]byte, error) {
	switch t.Spec.OutputType {
	case task.OutputJSON:
		// The message is the validated JSON text: sent as is, only
		// compacted, so numbers and key order stay what the model wrote.
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(t.Message)); err != nil {
			return nil, fmt.Errorf("webhook: structured_json result of task %s is not JSON: %w", t.ID, err)
		}
		if b := buf.Bytes(); len(b) == 0 || (b[0] != '{' && b[0] != '[') {
			return nil, fmt.Errorf("webhook: structured_json result of task %s is not a JSON object or array", t.ID)
		}
		return buf.Bytes(), nil
	case task.OutputCSV:
		return encode(webhookkit.CSVResponse{CSV: t.Message})
	case task.OutputText, "":
		return encode(webhookkit.TextResponse{Text: t.Message})
	default:
		return nil, fmt.Errorf("webhook: unknown outputType %q", t.Spec.OutputType)
	}
}

func usage(t task.Task) webhookkit.Usage {
	u := t.Usage
	out := webhookkit.Usage{
		InputTokens:  u.InputTokens,
		OutputTokens: u.OutputTokens,
		ComputeTime:  seconds(u.ComputeTime),
		Cost:         dollars(u.Cost),
	}
	if r := t.Replay; r != nil {
		out.ReplayUsage = &webhookkit.ReplayUsage{
			ReplayedSteps: r.ReplayedSteps, ModelSteps: r.ModelSteps,
			SavedInputTokens: r.SavedInputTokens, SavedOutputTokens: r.SavedOutputTokens,
			SavedCost: dollars(r.SavedCost),
		}
	}
	return out
}

// replay is the "replay" object of a run that replayed or recorded a
// recipe.
func replay(r *task.Replay) *webhookkit.Replay {
	if r == nil {
		return nil
	}
	return &webhookkit.Replay{Recipe: r.Recipe, Version: r.Version, Mode: r.Mode, TookOverAt: r.TookOverAt, Reason: r.Reason, Recorded: r.Recorded}
}

// seconds rounds to the millisecond, and dollars to the millionth: the
// figures come out of float arithmetic (durations, prices per million
// tokens) and would otherwise show digits like 12.500000000000002.
func seconds(s float64) float64 { return roundTo(s, 1e3) }
func dollars(d float64) float64 { return roundTo(d, 1e6) }

func roundTo(x, scale float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0 // JSON has no NaN; a broken figure must not stop the event
	}
	return math.Round(x*scale) / scale
}

// encode writes v without escaping <, > and &: message is markdown or CSV
// that receivers read, and \u003c only makes it harder to read.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("webhook: encoding body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
