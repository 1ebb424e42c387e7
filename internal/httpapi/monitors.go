package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

// monitorEvents are the events a monitor's webhook may subscribe to.
var monitorEvents = []task.Event{monitor.EventChanged, monitor.EventFailing, monitor.EventRecovered}

// maxMonitorName bounds a monitor's name.
const maxMonitorName = 200

// monitors is the monitors room of the API; every handler needs it.
func (a *api) monitors() (*runner.Runner, error) {
	if a.Monitors == nil {
		return nil, errorf(http.StatusNotFound, "NOT_FOUND", "monitors are not enabled on this server")
	}
	return a.Monitors, nil
}

func (a *api) createMonitor(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return a.answer(w)(a.createMonitorAnswer(r.Context(), tenantOf(r), body))
}

// answer writes an operation's answer, or returns its error.
func (a *api) answer(w http.ResponseWriter) func(map[string]any, error) error {
	return func(body map[string]any, err error) error {
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, body)
		return nil
	}
}

func (a *api) createMonitorAnswer(ctx context.Context, tenantID string, body map[string]json.RawMessage) (map[string]any, error) {
	mr, err := a.monitors()
	if err != nil {
		return nil, err
	}
	p, err := a.decodeMonitor(mr, body, tenantID)
	if err != nil {
		return nil, err
	}
	m, err := mr.Create(ctx, p)
	if err != nil {
		return nil, monitorError(err)
	}
	return map[string]any{"success": true, "monitorId": m.ID, "nextRunAt": webhook.FormatTime(m.NextRunAt)}, nil
}

// decodeMonitor reads a new monitor; its problems, from the task decoder
// (the same as run-task's) and from the monitor's own checks, are one 400.
func (a *api) decodeMonitor(mr *runner.Runner, body map[string]json.RawMessage, tenantID string) (runner.CreateParams, error) {
	probs := problems{}
	root := newObject("", body, probs)
	p := runner.CreateParams{TenantID: tenantID}
	if name, ok := root.requiredStr("name"); ok {
		if len(name) > maxMonitorName {
			probs.add("/name", fmt.Sprintf("must be at most %d characters", maxMonitorName))
		}
		p.Name = name
	}
	p.Schedule, _ = root.requiredStr("schedule")
	p.Timezone, _ = root.str("timezone")
	p.Paused, _ = root.boolean("paused")
	to, ok := root.object("task")
	if !ok && !root.has("task") {
		probs.add("/task", "is required: the run-task body each run runs")
	}
	if ok {
		if spec := a.decodeTask(to, modeRunTask); spec != nil {
			p.Task = *spec
		}
		if to.has("webhook") {
			probs.add("/task/webhook", "a monitor notifies through its own webhook (the top-level webhook field), only when the answer changes")
		}
	}
	taskOK := ok && !hasPrefix(probs, "/task")
	if wo, ok := root.object("webhook"); ok {
		p.Webhook = a.decodeWebhook(wo, monitorEvents)
	}
	if no, ok := root.object("notify"); ok {
		p.Notify = decodeNotify(no)
	}
	if p.Schedule != "" || root.has("timezone") || taskOK {
		check := runner.CheckParams{Schedule: p.Schedule, Timezone: p.Timezone, Task: p.Task, Notify: p.Notify}
		for _, f := range mr.Check(check) {
			switch {
			case f.Pointer == "/schedule" && p.Schedule == "":
				// "is required" already says it
			case strings.HasPrefix(f.Pointer, "/notify") && !taskOK:
				// judged against a task that is itself wrong: say that first
			default:
				probs.add(f.Pointer, f.Reason)
			}
		}
	}
	if err := probs.err(); err != nil {
		return runner.CreateParams{}, err
	}
	return p, nil
}

func hasPrefix(p problems, prefix string) bool {
	for ptr := range p {
		if ptr == prefix || strings.HasPrefix(ptr, prefix+"/") {
			return true
		}
	}
	return false
}

// decodeNotify reads the notify object; the monitor's checks judge it
// against the output schema after.
func decodeNotify(o object) monitor.Notify {
	var n monitor.Notify
	n.On, _ = o.str("on")
	n.Watch, _ = o.strings("watch")
	n.Key, _ = o.str("key")
	n.Ignore, _ = o.strings("ignore")
	n.FirstRun, _ = o.str("firstRun")
	if f, ok := o.integer("failuresBeforeAlert", 1, monitor.MaxFailuresBeforeAlert); ok {
		n.FailuresBeforeAlert = int(f)
	}
	raw, ok := o.raw("rules")
	if !ok {
		return n
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		o.probs.add(o.at("rules"), "must be an array of rules such as {\"path\": \"/price\", \"below\": 100}")
		return n
	}
	for i, item := range items {
		var fields map[string]json.RawMessage
		ptr := fmt.Sprintf("%s/%d", o.at("rules"), i)
		if err := json.Unmarshal(item, &fields); err != nil || fields == nil {
			o.probs.add(ptr, "must be an object such as {\"path\": \"/price\", \"below\": 100}")
			continue
		}
		ro := newObject(ptr, fields, o.probs)
		var rule monitor.Rule
		rule.Path, _ = ro.requiredStr("path")
		if !ro.has("path") {
			continue
		}
		rule.Below = ro.number("below")
		rule.Above = ro.number("above")
		rule.ChangeByPercent = ro.number("changeByPercent")
		rule.ChangeByAbsolute = ro.number("changeByAbsolute")
		if eq, present := fields["equals"]; present {
			rule.Equals = compact(eq)
		}
		n.Rules = append(n.Rules, rule)
	}
	return n
}

// number reads a number field (nil when absent).
func (o object) number(name string) *float64 {
	v, ok := o.raw(name)
	if !ok {
		return nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		o.probs.add(o.at(name), "must be a number")
		return nil
	}
	return &f
}

func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

func (a *api) listMonitors(w http.ResponseWriter, r *http.Request) error {
	return a.answer(w)(a.listMonitorsAnswer(r.Context(), tenantOf(r), r.URL.Query()))
}

func (a *api) listMonitorsAnswer(ctx context.Context, tenantID string, q url.Values) (map[string]any, error) {
	mr, err := a.monitors()
	if err != nil {
		return nil, err
	}
	limit, err := pageLimitParam(q)
	if err != nil {
		return nil, err
	}
	page, err := mr.List(ctx, runner.ListParams{TenantID: tenantID, Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		return nil, monitorError(err)
	}
	return pageAnswer("monitors", page.Monitors, monitorView, page.Next), nil
}

// pageAnswer is one page of items as {"success", key: [views],
// "nextCursor"?}.
func pageAnswer[T any](key string, items []T, view func(T) map[string]any, next string) map[string]any {
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		out = append(out, view(it))
	}
	body := map[string]any{"success": true, key: out}
	if next != "" {
		body["nextCursor"] = next
	}
	return body
}

// pageLimitParam reads ?limit= (1 to runner.MaxPageLimit).
func pageLimitParam(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > runner.MaxPageLimit {
		return 0, errorf(http.StatusBadRequest, "INVALID_REQUEST", "limit must be a whole number from 1 to %d", runner.MaxPageLimit)
	}
	return n, nil
}

func (a *api) getMonitor(w http.ResponseWriter, r *http.Request) error {
	mr, err := a.monitors()
	if err != nil {
		return err
	}
	m, err := mr.Get(r.Context(), tenantOf(r), r.PathValue("monitorId"))
	if err != nil {
		return monitorError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "monitor": monitorView(m)})
	return nil
}

func (a *api) patchMonitor(w http.ResponseWriter, r *http.Request) error {
	mr, err := a.monitors()
	if err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	probs := problems{}
	root := newObject("", body, probs)
	p := runner.UpdateParams{TenantID: tenantOf(r), ID: r.PathValue("monitorId")}
	for _, fixed := range []string{"name", "task"} {
		if root.has(fixed) {
			probs.add("/"+fixed, "cannot be changed: delete the monitor and create another")
		}
	}
	if b, ok := root.boolean("paused"); ok {
		p.Paused = &b
	}
	if s, ok := root.str("schedule"); ok {
		p.Schedule = &s
	}
	if tz, ok := root.str("timezone"); ok {
		p.Timezone = &tz
	}
	if no, ok := root.object("notify"); ok {
		n := decodeNotify(no)
		p.Notify = &n
	}
	if v, present := body["webhook"]; present && string(bytes.TrimSpace(v)) == "null" {
		p.RemoveWebhook = true
	} else if wo, ok := root.object("webhook"); ok {
		p.Webhook = a.decodeWebhook(wo, monitorEvents)
	}
	if len(probs) > 0 && p.Schedule != nil {
		// Said with the other problems; Update judges it (and notify,
		// against the monitor's task) when the body is otherwise fine.
		tz := "UTC"
		if p.Timezone != nil {
			tz = *p.Timezone
		}
		if f := mr.CheckSchedule(*p.Schedule, tz); f != nil && f.Pointer == "/schedule" {
			probs.add(f.Pointer, f.Reason)
		}
	}
	if err := probs.err(); err != nil {
		return err
	}
	m, err := mr.Update(r.Context(), p)
	if err != nil {
		return monitorError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "monitor": monitorView(m)})
	return nil
}

func (a *api) deleteMonitor(w http.ResponseWriter, r *http.Request) error {
	return a.answer(w)(a.deleteMonitorAnswer(r.Context(), tenantOf(r), r.PathValue("monitorId")))
}

func (a *api) deleteMonitorAnswer(ctx context.Context, tenantID, id string) (map[string]any, error) {
	mr, err := a.monitors()
	if err != nil {
		return nil, err
	}
	if err := mr.Delete(ctx, tenantID, id); err != nil {
		return nil, monitorError(err)
	}
	return map[string]any{"success": true}, nil
}

func (a *api) runMonitor(w http.ResponseWriter, r *http.Request) error {
	mr, err := a.monitors()
	if err != nil {
		return err
	}
	run, err := mr.RunNow(r.Context(), tenantOf(r), r.PathValue("monitorId"))
	if err != nil {
		return monitorError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success": true, "runId": run.ID, "sessionId": run.SessionID, "taskId": run.TaskID,
		"runAt": webhook.FormatTime(run.RunAt),
	})
	return nil
}

func (a *api) monitorRuns(w http.ResponseWriter, r *http.Request) error {
	return a.answer(w)(a.monitorRunsAnswer(r.Context(), tenantOf(r), r.PathValue("monitorId"), r.URL.Query()))
}

func (a *api) monitorRunsAnswer(ctx context.Context, tenantID, id string, q url.Values) (map[string]any, error) {
	mr, err := a.monitors()
	if err != nil {
		return nil, err
	}
	limit, err := pageLimitParam(q)
	if err != nil {
		return nil, err
	}
	page, err := mr.Runs(ctx, runner.RunsParams{TenantID: tenantID, MonitorID: id, Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		return nil, monitorError(err)
	}
	return pageAnswer("runs", page.Runs, runView, page.Next), nil
}

// monitorError maps the monitor room's errors to API errors.
func monitorError(err error) error {
	var probs runner.Problems
	switch {
	case errors.As(err, &probs):
		details := map[string]string{}
		for _, f := range probs {
			if _, ok := details[f.Pointer]; !ok {
				details[f.Pointer] = f.Reason
			}
		}
		return invalid(details)
	case errors.Is(err, runner.ErrNotFound):
		return errorf(http.StatusNotFound, "MONITOR_NOT_FOUND", "monitor not found")
	case errors.Is(err, runner.ErrRunning):
		return errorf(http.StatusConflict, "MONITOR_RUNNING", "a run of this monitor is still going")
	case errors.Is(err, runner.ErrBadCursor):
		return errorf(http.StatusBadRequest, "INVALID_REQUEST", "cursor is not a cursor this server gave")
	}
	return err
}

// monitorView is a monitor as the API shows it: never a secret value, a
// webhook credential or the browser storage.
func monitorView(m monitor.Monitor) map[string]any {
	v := map[string]any{
		"monitorId": m.ID, "name": m.Name, "schedule": m.Schedule, "timezone": m.Timezone,
		"paused": m.Paused, "nextRunAt": webhook.FormatTime(m.NextRunAt), "sessionId": m.SessionID,
		"task": specView(m.Task), "notify": notifyView(m.Notify),
		"runs": m.Runs, "skipped": m.Skipped, "running": m.Running != "",
		"state": map[string]any{
			"baseline": m.State.Baseline, "lastAnswer": m.State.Answer,
			"failures": m.State.Failures, "alerting": m.State.Alerting,
		},
		"createdAt": webhook.FormatTime(m.CreatedAt), "updatedAt": webhook.FormatTime(m.UpdatedAt),
	}
	if !m.LastRunAt.IsZero() {
		v["lastRunAt"] = webhook.FormatTime(m.LastRunAt)
	}
	if m.Running != "" {
		v["runningTaskId"] = m.Running
	}
	if wh := m.Webhook; wh != nil {
		w := map[string]any{"name": wh.Name, "url": wh.URL, "submittedData": wh.SubmittedData,
			"maxAttempts": max(wh.MaxAttempts, 1)}
		events := wh.Events
		if len(events) == 0 {
			events = []task.Event{monitor.EventChanged}
		}
		w["events"] = events
		v["webhook"] = w
	}
	return v
}

// specView is a task spec as run-task takes it; secrets by match and
// field names only.
func specView(s task.Spec) map[string]any {
	v := map[string]any{
		"taskDetails": s.TaskDetails, "outputType": s.OutputType,
		"maxDuration": s.MaxDuration.Milliseconds(), "maxInputTokens": s.MaxInputTokens, "maxOutputTokens": s.MaxOutputTokens,
	}
	if s.StartingPoint != "" {
		v["startingPoint"] = s.StartingPoint
	}
	if len(s.OutputSchema) > 0 {
		v["outputSchema"] = json.RawMessage(s.OutputSchema)
	}
	if len(s.AvoidDomains) > 0 {
		v["avoidDomains"] = s.AvoidDomains
	}
	if s.SettleTimeout > 0 {
		v["settleTimeout"] = s.SettleTimeout.Milliseconds()
	}
	if s.Replay != "" {
		v["replay"] = s.Replay
	}
	if s.Recipe != "" {
		v["recipe"] = s.Recipe
	}
	return v
}

func notifyView(n monitor.Notify) map[string]any {
	v := map[string]any{
		"on": cmpOr(n.On, monitor.OnChange), "firstRun": cmpOr(n.FirstRun, monitor.FirstRunBaseline),
		"failuresBeforeAlert": cmpOr(n.FailuresBeforeAlert, monitor.DefaultFailuresBeforeAlert),
		"watch":               orEmpty(n.Watch), "ignore": orEmpty(n.Ignore), "rules": orEmpty(n.Rules),
	}
	if n.Key != "" {
		v["key"] = n.Key
	}
	return v
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clone(s)
}

func runView(run monitor.Run) map[string]any {
	v := map[string]any{
		"runId": run.ID, "runAt": webhook.FormatTime(run.RunAt), "dueAt": webhook.FormatTime(run.DueAt),
		"sessionId": run.SessionID, "taskId": run.TaskID, "status": run.Status, "changed": run.Changed,
		"changes": orEmpty(run.Changes), "firedRules": orEmpty(run.Fired), "events": orEmpty(run.Events),
	}
	if run.Truncated {
		v["truncated"] = true
	}
	if !run.EndedAt.IsZero() {
		v["endedAt"] = webhook.FormatTime(run.EndedAt)
	}
	return v
}
