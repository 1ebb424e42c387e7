package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
)

// What callers outside the HTTP server use of the API — errand run and the
// MCP tools (internal/mcp) — so that a task is read, checked, answered and
// refused in one way, whichever door it comes in by.

// Decoder reads request bodies as the API's handlers do: the same checks,
// the same problems named by JSON Pointer (an *Error with Details).
type Decoder struct {
	// Engine says what its agent can run. Required.
	Engine *engine.Engine
	// Policy judges page and webhook URLs. Default nil: URLs are only
	// checked to be absolute http(s) URLs.
	Policy *netguard.Policy
}

func (d Decoder) api() *api { return &api{Deps: Deps{Engine: d.Engine, Policy: d.Policy}} }

// RunTask reads a run-task body.
func (d Decoder) RunTask(body map[string]json.RawMessage) (task.Spec, error) {
	return d.api().decodeRunTask(body)
}

// StartSession reads a start-session body: its initial task, or nil for
// an idle session.
func (d Decoder) StartSession(body map[string]json.RawMessage) (*task.Spec, error) {
	return d.api().decodeStartSession(body)
}

// Message reads a send-message body.
func (d Decoder) Message(body map[string]json.RawMessage) (Message, error) {
	return d.api().decodeMessage(body)
}

// Monitors carries out the API's monitor operations — POST /monitors,
// GET /monitors, GET /monitors/{id}/runs, DELETE /monitors/{id} — with
// their checks, answers and errors.
type Monitors struct {
	Decoder
	// Runner keeps the monitors. Default nil: every operation answers
	// that monitors are not enabled.
	Runner *runner.Runner
}

func (m Monitors) api() *api {
	return &api{Deps: Deps{Engine: m.Engine, Policy: m.Policy, Monitors: m.Runner}}
}

// Create makes a monitor from a POST /monitors body.
func (m Monitors) Create(ctx context.Context, tenantID string, body map[string]json.RawMessage) (map[string]any, error) {
	return m.api().createMonitorAnswer(ctx, tenantID, body)
}

// List is GET /monitors's answer for the query (limit, cursor).
func (m Monitors) List(ctx context.Context, tenantID string, q url.Values) (map[string]any, error) {
	return m.api().listMonitorsAnswer(ctx, tenantID, q)
}

// Runs is GET /monitors/{id}/runs's answer for the query (limit, cursor).
func (m Monitors) Runs(ctx context.Context, tenantID, id string, q url.Values) (map[string]any, error) {
	return m.api().monitorRunsAnswer(ctx, tenantID, id, q)
}

// Delete removes a monitor, as DELETE /monitors/{id}.
func (m Monitors) Delete(ctx context.Context, tenantID, id string) (map[string]any, error) {
	return m.api().deleteMonitorAnswer(ctx, tenantID, id)
}

// DecodeTask validates a task object (run-task's body) given as Go values,
// for `errand run`.
func DecodeTask(eng *engine.Engine, policy *netguard.Policy, body map[string]any) (task.Spec, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return task.Spec{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return task.Spec{}, err
	}
	return Decoder{Engine: eng, Policy: policy}.RunTask(fields)
}

// ErrorOf is err as the API reports it: an *Error as it is, an engine
// error with its code and status, anything else an INTERNAL error whose
// message leaks nothing (the cause stays in Internal, for the log).
func ErrorOf(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return mapEngineError(err)
}

// Invalid is the API's answer to a request with bad fields: details maps
// each field's JSON Pointer to what is wrong with it.
func Invalid(details map[string]string) *Error { return invalid(details) }

// Body is the error envelope the API answers with (docs/API.md).
func (e *Error) Body() map[string]any {
	body := map[string]any{"success": false, "error": e.Message, "code": e.Code}
	if len(e.Details) > 0 {
		body["details"] = e.Details
	}
	return body
}

// TaskAnswer is a task as the API shows it when polled (docs/API.md).
func TaskAnswer(t task.Task) map[string]any {
	_, body := taskView(t)
	return body
}

// StepsAnswer is a task's step log as the API shows it.
func StepsAnswer(steps []task.Step) []map[string]any { return stepsView(steps) }

// OpenAPI is the API's OpenAPI 3.1 document (openapi.json), whose request
// schemas describe what the decoder accepts.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// Tenant is the tenant of the API key that authenticated the request whose
// context ctx is, for handlers mounted in the API (Deps.MCP).
func Tenant(ctx context.Context) (string, bool) {
	t, ok := ctx.Value(tenantKey{}).(string)
	return t, ok && t != ""
}
