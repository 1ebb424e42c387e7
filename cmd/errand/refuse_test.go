package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/model/modeltest"
)

// What is already known to fail is refused when it is submitted: a 400
// naming the field and why, and nothing queued (so no silent failure
// whose webhook, being opt-in, never comes).
func TestRefusedAtSubmission(t *testing.T) {
	srv := startServer(t, "") // the built-in extractor: no model configured
	hook := map[string]any{"name": "Zapier Integration", "url": "https://hooks.zapier.com/hooks/catch/123456/abcdef", "submittedData": "ai_response"}
	// The hosted service's third-party integration example: no startingPoint.
	contact := map[string]any{"taskDetails": "Extract contact information from the page", "outputType": "structured",
		"outputSchema": map[string]any{"type": "object", "properties": map[string]any{
			"name": map[string]any{"type": "string"}, "email": map[string]any{"type": "string"}, "phone": map[string]any{"type": "string"}}},
		"webhook": hook}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range contact {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	_, idle := srv.call(t, "POST", "/start/start-session", map[string]any{"mode": "default"})
	secrets := []map[string]any{{"match": "example.com", "fields": map[string]string{"password": "hunter2"}}}

	cases := []struct {
		name, path string
		body       any
		pointer    string
		reason     string
	}{
		{"start-session without startingPoint", "/start/start-session", map[string]any{"mode": "default", "initialTask": contact},
			"/initialTask/startingPoint", "is required: the built-in extractor (no model configured) reads the page it is given"},
		{"send-message without startingPoint", "/start/send-message", map[string]any{"sessionId": idle["sessionId"], "message": with(map[string]any{"actionType": "newTask"})},
			"/message/startingPoint", "is required: the built-in extractor"},
		{"run-task without startingPoint", "/start/run-task", contact,
			"/startingPoint", "is required: the built-in extractor"},
		{"secrets the extractor cannot type", "/start/run-task", with(map[string]any{"startingPoint": "https://example.com/", "secrets": secrets}),
			"/secrets", "cannot be used: the built-in extractor (no model configured) never types into pages"},
		{"startingPoint the task avoids", "/start/run-task", with(map[string]any{"startingPoint": "https://shop.example.com/p", "avoidDomains": []string{"example.com"}}),
			"/startingPoint", "is on a domain the task's avoidDomains forbid"},
		{"startingPoint on a refused address", "/start/run-task", with(map[string]any{"startingPoint": "http://169.254.169.254/latest/meta-data/"}),
			"/startingPoint", "which the network policy refuses"},
		{"startingUrl on a refused address", "/start/run-task", map[string]any{"taskDetails": "x", "startingUrl": "http://10.1.2.3/"},
			"/startingUrl", "which the network policy refuses"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, m := srv.call(t, "POST", tc.path, tc.body)
			details, _ := m["details"].(map[string]any)
			reason, _ := details[tc.pointer].(string)
			if code != 400 || m["code"] != "INVALID_REQUEST" || !strings.Contains(reason, tc.reason) {
				t.Errorf("got %d %v, want 400 naming %s: %q", code, m, tc.pointer, tc.reason)
			}
			if strings.Contains(mustJSON(t, m), "hunter2") {
				t.Errorf("the answer shows a secret: %v", m)
			}
		})
	}
	if n := queuedGauge(t, srv); n != "0" {
		t.Errorf("after only refusals, errand_tasks_queued = %s, want 0", n)
	}
}

// With a model configured the same requests are accepted: the agent finds
// its own page and can type secrets.
func TestModelAgentAcceptsWhatTheExtractorCannot(t *testing.T) {
	needChromium(t)
	fake := modeltest.New(t, modeltest.ToolCall("done", map[string]string{"answer": "nothing to do"}))
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	code, m := srv.call(t, "POST", "/start/run-task", map[string]any{"taskDetails": "Find the contact page",
		"secrets": []map[string]any{{"match": "example.com", "fields": map[string]string{"password": "hunter2"}}}})
	if code != 200 || m["taskId"] == nil {
		t.Fatalf("run-task with the model agent: %d %v", code, m)
	}
}

var queuedLine = regexp.MustCompile(`(?m)^errand_tasks_queued (\S+)$`)

// queuedGauge reads errand_tasks_queued from /metrics.
func queuedGauge(t *testing.T, srv *server) string {
	t.Helper()
	body := srv.metricsText(t)
	m := queuedLine.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no errand_tasks_queued in /metrics:\n%s", body)
	}
	return string(m[1])
}
