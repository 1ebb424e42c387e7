package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

// monitorBodies are a monitor's webhook bodies, by the name openapi.json
// documents them under.
func monitorBodies(t *testing.T) map[string][]byte {
	t.Helper()
	at := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	below := 25.0
	out := map[string][]byte{}
	for _, ev := range []task.Event{monitor.EventChanged, monitor.EventFailing, monitor.EventRecovered} {
		for _, sd := range []task.SubmittedData{task.SubmitFullResponse, task.SubmitAIResponse, task.SubmitJustPing} {
			tk := task.Task{ID: "task_xyz789", SessionID: "sess_abc123", EndedAt: at, Status: task.StatusCompleted,
				Message: `{"title":"Acme Anvil","price":24.99}`, Spec: task.Spec{OutputType: task.OutputJSON}}
			if ev == monitor.EventFailing {
				tk.Status, tk.ErrorCode, tk.ErrorMessage = task.StatusFailed, task.CodeNavigationTimeout, "timeout"
			}
			body, err := webhook.MonitorBody(webhook.MonitorNotice{Event: ev, Task: tk, MonitorID: "mon_1", MonitorName: "n", RunAt: at,
				Changes:  []monitor.Change{{Path: "/price", Kind: monitor.KindChanged, Before: json.RawMessage(`29.99`), After: json.RawMessage(`24.99`)}},
				Fired:    []monitor.Fired{{Rule: monitor.Rule{Path: "/price", Below: &below}, Value: json.RawMessage(`24.99`)}},
				Failures: 3}, sd)
			if err != nil {
				t.Fatal(err)
			}
			name := string(ev)
			switch {
			case sd == task.SubmitJustPing:
				name += ".just_ping"
			case ev == monitor.EventChanged:
				name += "." + string(sd)
			}
			out[name] = body
		}
	}
	return out
}

func newMonitorAPI(t *testing.T) *liveAPI {
	t.Helper()
	return newLiveAPIWith(t, func(d *Deps) {
		d.Monitors = runner.New(runner.Config{Store: d.Store, Secrets: seal.NewRandom()})
	})
}

const productTask = `{"taskDetails":"Monitor the page for price changes","startingPoint":"https://example.com/product",
	"outputType":"structured_json","outputSchema":{"type":"object","properties":{"title":{"type":"string"},"price":{"type":"number"},
	"offers":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string"},"price":{"type":"number"}}}}},"required":["title","price"]}}`

// TestMonitorsAPI walks every monitor route, each answer checked against
// openapi.json, and the bad inputs the issue lists: each a 400 naming the
// field by JSON Pointer, nothing stored.
func TestMonitorsAPI(t *testing.T) {
	l := newMonitorAPI(t)
	const one = "/monitors/{monitorId}"
	create := `{"name":"Anvil price","schedule":"*/15 * * * *","timezone":"Europe/Paris","task":` + productTask + `,
		"webhook":{"name":"Price Alert","url":"https://api.yoursite.com/alerts/price-change","auth":"Bearer alert-token","submittedData":"just_ping"},
		"notify":{"watch":["/price","/offers/*/price"],"key":"sku","rules":[{"path":"/price","below":25},{"path":"/offers/0/price","changeByPercent":10}]}}`
	code, m := l.call(t, "POST", "/monitors", "/monitors", create, true)
	if code != 200 || m["monitorId"] == nil {
		t.Fatalf("create: %d %v", code, m)
	}
	id := m["monitorId"].(string)
	next, err := time.Parse(time.RFC3339, m["nextRunAt"].(string))
	if err != nil || !next.After(time.Now().Add(-time.Second)) || next.After(time.Now().Add(15*time.Minute+time.Second)) {
		t.Errorf("nextRunAt %v: want within the next 15 minutes", m["nextRunAt"])
	}

	code, m = l.call(t, "GET", one, "/monitors/"+id, "", true)
	if code != 200 {
		t.Fatalf("get: %d %v", code, m)
	}
	mon := m["monitor"].(map[string]any)
	if mon["name"] != "Anvil price" || mon["timezone"] != "Europe/Paris" || mon["paused"] != false {
		t.Errorf("monitor %v", mon)
	}
	raw, _ := json.Marshal(m)
	if strings.Contains(string(raw), "alert-token") {
		t.Errorf("the webhook's auth is shown: %s", raw)
	}

	if code, m = l.call(t, "GET", "/monitors", "/monitors?limit=1", "", true); code != 200 || len(m["monitors"].([]any)) != 1 {
		t.Errorf("list: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", "/monitors", "/monitors?limit=0", "", true); code != 400 {
		t.Errorf("limit 0: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", "/monitors", "/monitors?cursor=nope!", "", true); code != 400 {
		t.Errorf("a bad cursor: %d %v", code, m)
	}
	if code, m = l.call(t, "PATCH", one, "/monitors/"+id, `{"paused":true,"schedule":"@every 1h"}`, true); code != 200 {
		t.Fatalf("patch: %d %v", code, m)
	} else if mon := m["monitor"].(map[string]any); mon["paused"] != true || mon["schedule"] != "@every 1h" {
		t.Errorf("after patch: %v", mon)
	}
	if code, m = l.call(t, "PATCH", one, "/monitors/"+id, `{"task":{"taskDetails":"x"},"schedule":"@every 1s"}`, true); code != 400 ||
		m["details"].(map[string]any)["/task"] == nil || m["details"].(map[string]any)["/schedule"] == nil {
		t.Errorf("patch of what cannot change: %d %v", code, m)
	}
	if code, m = l.call(t, "PATCH", one, "/monitors/"+id, `{"webhook":null}`, true); code != 200 || m["monitor"].(map[string]any)["webhook"] != nil {
		t.Errorf("removing the webhook: %d %v", code, m)
	}
	code, m = l.call(t, "POST", one+"/run", "/monitors/"+id+"/run", "", true)
	if code != 200 || m["taskId"] == nil {
		t.Fatalf("run now: %d %v", code, m)
	}
	if code, m = l.call(t, "POST", one+"/run", "/monitors/"+id+"/run", "", true); code != 409 || m["code"] != "MONITOR_RUNNING" {
		t.Errorf("a second run while the first goes on: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", one+"/runs", "/monitors/"+id+"/runs", "", true); code != 200 || len(m["runs"].([]any)) != 1 {
		t.Errorf("runs: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", one, "/monitors/mon_nope", "", true); code != 404 || m["code"] != "MONITOR_NOT_FOUND" {
		t.Errorf("unknown monitor: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", one, "/monitors/"+id, "", false); code != 401 {
		t.Errorf("no key: %d %v", code, m)
	}

	bad := []struct {
		name, body, ptr, reason string
	}{
		{"cron that does not parse", `{"name":"x","schedule":"every day","task":` + productTask + `}`, "/schedule", "cron"},
		{"unknown timezone", `{"name":"x","schedule":"@hourly","timezone":"Mars/Olympus","task":` + productTask + `}`, "/timezone", "IANA"},
		{"interval below the minimum", `{"name":"x","schedule":"@every 30s","task":` + productTask + `}`, "/schedule", "minimum interval"},
		{"watch path the schema cannot have", `{"name":"x","schedule":"@hourly","task":` + productTask + `,"notify":{"watch":["/cost"]}}`, "/notify/watch/0", "no value"},
		{"rule path the schema cannot have", `{"name":"x","schedule":"@hourly","task":` + productTask + `,"notify":{"rules":[{"path":"/cost","below":1}]}}`, "/notify/rules/0/path", "no value"},
		{"rule on a non-number", `{"name":"x","schedule":"@hourly","task":` + productTask + `,"notify":{"rules":[{"path":"/title","below":1}]}}`, "/notify/rules/0/path", "needs a number"},
		{"rule with two conditions", `{"name":"x","schedule":"@hourly","task":` + productTask + `,"notify":{"rules":[{"path":"/price","below":1,"above":2}]}}`, "/notify/rules/0", "only one"},
		{"webhook URL the policy refuses", `{"name":"x","schedule":"@hourly","task":` + productTask + `,"webhook":{"name":"w","url":"http://10.0.0.8/hook","submittedData":"just_ping"}}`, "/webhook/url", ""},
		{"webhook event of a task", `{"name":"x","schedule":"@hourly","task":` + productTask + `,"webhook":{"name":"w","url":"https://h.example/","submittedData":"just_ping","events":["task_failed"]}}`, "/webhook/events/0", "monitor.changed"},
		{"task validated as run-task", `{"name":"x","schedule":"@hourly","task":{"taskDetails":"","maxDuration":"soon"}}`, "/task/maxDuration", "integer"},
		{"task's own webhook", `{"name":"x","schedule":"@hourly","task":{"taskDetails":"x","startingPoint":"https://example.com/","webhook":{"name":"w","url":"https://h.example/","submittedData":"just_ping"}}}`, "/task/webhook", "own webhook"},
		{"missing name, schedule and task", `{}`, "/name", "required"},
		{"text answers take no rules", `{"name":"x","schedule":"@hourly","task":{"taskDetails":"x","startingPoint":"https://example.com/"},"notify":{"rules":[{"path":"/a","below":1}]}}`, "/notify/rules", "structured"},
		{"a bad ignore pattern", `{"name":"x","schedule":"@hourly","task":{"taskDetails":"x","startingPoint":"https://example.com/"},"notify":{"ignore":["("]}}`, "/notify/ignore/0", "regular expression"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			code, m := l.call(t, "POST", "/monitors", "/monitors", tt.body, true)
			if code != 400 {
				t.Fatalf("%d %v", code, m)
			}
			reason, ok := m["details"].(map[string]any)[tt.ptr].(string)
			if !ok || !strings.Contains(reason, tt.reason) {
				t.Errorf("details %v: want %s containing %q", m["details"], tt.ptr, tt.reason)
			}
		})
	}
	if _, m = l.call(t, "GET", "/monitors", "/monitors", "", true); len(m["monitors"].([]any)) != 1 {
		t.Errorf("a refused monitor was stored: %v", m)
	}

	if code, m = l.call(t, "DELETE", one, "/monitors/"+id, "", true); code != 200 {
		t.Errorf("delete: %d %v", code, m)
	}
	if code, m = l.call(t, "DELETE", one, "/monitors/"+id, "", true); code != 404 {
		t.Errorf("delete twice: %d %v", code, m)
	}
}
