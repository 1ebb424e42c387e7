package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var rfc3339ms = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// The seed's "Basic Example", sent as written with only the URLs pointed at
// local servers: the receiver gets exactly the documented full_response.
func TestSeedBasicExampleFullResponse(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")

	body := `{
    "mode": "default",
    "initialTask": {
      "taskDetails": "Extract the main headline from the page",
      "startingPoint": "` + site.URL + `/news",
      "webhook": {
        "name": "HN Headlines",
        "url": "` + rc.URL + `/webhooks/headlines",
        "auth": "Bearer your-secret-token",
        "submittedData": "full_response"
      }
    }
  }`
	code, m := srv.call(t, "POST", "/start/start-session", body)
	if code != 200 || m["success"] != true {
		t.Fatalf("start-session: %d %v", code, m)
	}
	sid, tid := m["sessionId"].(string), m["taskId"].(string)
	if !strings.HasPrefix(sid, "sess_") || !strings.HasPrefix(tid, "task_") {
		t.Fatalf("ids: %q %q", sid, tid)
	}
	if m["expiresIn"] == nil || m["message"] == nil {
		t.Fatalf("start-session answer lacks expiresIn/message: %v", m)
	}

	d := rc.waitN(t, 1, 30*time.Second)[0]
	if got := d.Header.Get("Authorization"); got != "Bearer your-secret-token" {
		t.Errorf("Authorization = %q", got)
	}
	if got := d.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if !strings.HasPrefix(d.Header.Get("User-Agent"), "errand/") {
		t.Errorf("User-Agent = %q", d.Header.Get("User-Agent"))
	}
	if d.Header.Get("webhook-id") == "" || d.Header.Get("webhook-timestamp") == "" {
		t.Errorf("missing webhook-id/webhook-timestamp: %v", d.Header)
	}
	if d.Header.Get("Errand-Event") != "task_completed" || d.Header.Get("Errand-Session-Id") != sid || d.Header.Get("Errand-Task-Id") != tid {
		t.Errorf("Errand-* headers: %v", d.Header)
	}
	p := d.JSON(t)
	if got, want := keys(p), []string{"completedAt", "data", "sessionId", "taskId", "type", "usage"}; !slices.Equal(got, want) {
		t.Fatalf("full_response keys = %v, want %v", got, want)
	}
	data := p["data"].(map[string]any)
	if got, want := keys(data), []string{"completion_time", "completion_tokens", "message", "prompt_tokens", "total_tokens"}; !slices.Equal(got, want) {
		t.Errorf("data keys = %v, want %v", got, want)
	}
	usage := p["usage"].(map[string]any)
	if got, want := keys(usage), []string{"computeTime", "cost", "inputTokens", "outputTokens"}; !slices.Equal(got, want) {
		t.Errorf("usage keys = %v, want %v", got, want)
	}
	if p["type"] != "task_completed" || p["sessionId"] != sid || p["taskId"] != tid {
		t.Errorf("payload ids: %v", p)
	}
	for _, k := range []string{"prompt_tokens", "completion_tokens", "total_tokens", "completion_time"} {
		if _, ok := data[k].(float64); !ok {
			t.Errorf("data.%s = %#v, want a number", k, data[k])
		}
	}
	for _, k := range []string{"inputTokens", "outputTokens", "computeTime", "cost"} {
		if _, ok := usage[k].(float64); !ok {
			t.Errorf("usage.%s = %#v, want a number", k, usage[k])
		}
	}
	msg, _ := data["message"].(string)
	if !strings.Contains(msg, "Errand ships") {
		t.Errorf("message does not hold the headline: %q", msg)
	}
	if !rfc3339ms.MatchString(p["completedAt"].(string)) {
		t.Errorf("completedAt = %q, want RFC 3339 with milliseconds", p["completedAt"])
	}
	if ct := usage["computeTime"].(float64); ct <= 0 || ct != data["completion_time"].(float64) {
		t.Errorf("computeTime %v and completion_time %v should be the same real time", ct, data["completion_time"])
	}

	// Polling agrees with the webhook.
	poll := srv.waitTask(t, sid, tid)
	if poll["type"] != "task_completed" || poll["completedAt"] != p["completedAt"] {
		t.Errorf("poll = %v", poll)
	}
	pd := poll["data"].(map[string]any)
	if pd["message"] != msg {
		t.Errorf("poll message differs from webhook message")
	}
	net := pd["network"].([]any)
	if len(net) != 1 || !strings.Contains(mustJSON(t, net), site.URL+"/news") {
		t.Errorf("network = %v", net)
	}
}

// The seed's "With Structured Output" example: ai_response delivers the
// schema-valid object itself.
func TestSeedStructuredOutputAIResponse(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")

	body := `{
    "mode": "default",
    "initialTask": {
      "taskDetails": "Extract product information from the page",
      "startingPoint": "` + site.URL + `/product",
      "maxDuration": 300000,
      "outputType": "structured_json",
      "outputSchema": {
        "type": "object",
        "properties": {
          "title": { "type": "string" },
          "price": { "type": "number" },
          "inStock": { "type": "boolean" },
          "description": { "type": "string" }
        },
        "required": ["title", "price"],
        "additionalProperties": false
      },
      "webhook": {
        "name": "Product Webhook",
        "url": "` + rc.URL + `/products",
        "auth": "Bearer token123",
        "submittedData": "ai_response"
      }
    }
  }`
	code, m := srv.call(t, "POST", "/start/start-session", body)
	if code != 200 {
		t.Fatalf("start-session: %d %v", code, m)
	}
	d := rc.waitN(t, 1, 30*time.Second)[0]
	p := d.JSON(t)
	want := map[string]any{"title": "Acme Anvil", "price": 29.99, "inStock": true, "description": "A great anvil for every workshop"}
	if mustJSON(t, p) != mustJSON(t, want) {
		t.Errorf("ai_response = %s\nwant %s", d.Body, mustJSON(t, want))
	}
	if d.Header.Get("Authorization") != "Bearer token123" {
		t.Errorf("Authorization = %q", d.Header.Get("Authorization"))
	}
	if d.Header.Get("Errand-Task-Id") != m["taskId"] {
		t.Errorf("Errand-Task-Id = %q, want %v", d.Header.Get("Errand-Task-Id"), m["taskId"])
	}
}

func TestJustPingAndAuthAbsent(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")
	code, m := srv.call(t, "POST", "/start/start-session", map[string]any{
		"initialTask": map[string]any{
			"taskDetails":   "Monitor the page for price changes",
			"startingPoint": site.URL + "/product",
			"webhook":       map[string]any{"name": "Price Alert", "url": rc.URL + "/alerts", "submittedData": "just_ping"},
		},
	})
	if code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	d := rc.waitN(t, 1, 30*time.Second)[0]
	p := d.JSON(t)
	if got, want := keys(p), []string{"completedAt", "event", "sessionId", "taskId"}; !slices.Equal(got, want) {
		t.Fatalf("just_ping keys = %v, want %v", got, want)
	}
	if p["event"] != "task_completed" || p["sessionId"] != m["sessionId"] || p["taskId"] != m["taskId"] {
		t.Errorf("just_ping = %v", p)
	}
	if _, ok := d.Header["Authorization"]; ok {
		t.Errorf("Authorization sent without auth: %q", d.Header.Get("Authorization"))
	}
}

// text and CSV results go to ai_response as objects, so strict JSON body
// parsers accept them.
func TestAIResponseTextAndCSV(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")
	for _, tc := range []struct {
		name, outputType string
		schema           any
		key, contains    string
	}{
		{"text", "text", nil, "text", "Errand ships"},
		{"csv", "structured_csv", []string{"title", "price"}, "csv", "title,price\nAcme Anvil,$29.99\nRocket Skates,$149.00\n\"Giant Magnet, \"\"Deluxe\"\"\",$9.50\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := "/news"
			if tc.outputType == "structured_csv" {
				page = "/catalog"
			}
			taskObj := map[string]any{
				"taskDetails": "Read it", "startingPoint": site.URL + page, "outputType": tc.outputType,
				"webhook": map[string]any{"name": "n", "url": rc.URL + "/" + tc.name, "submittedData": "ai_response"},
			}
			if tc.schema != nil {
				taskObj["outputSchema"] = tc.schema
			}
			code, m := srv.call(t, "POST", "/start/run-task", taskObj)
			if code != 200 {
				t.Fatalf("%d %v", code, m)
			}
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				for _, d := range rc.deliveries() {
					if d.Header.Get("Errand-Task-Id") != m["taskId"] {
						continue
					}
					p := d.JSON(t)
					if got := keys(p); !slices.Equal(got, []string{tc.key}) {
						t.Fatalf("ai_response keys = %v, want [%s]", got, tc.key)
					}
					if s, _ := p[tc.key].(string); !strings.Contains(s, tc.contains) {
						t.Errorf("%s = %q, want it to contain %q", tc.key, s, tc.contains)
					}
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			poll := srv.waitTask(t, m["sessionId"].(string), m["taskId"].(string))
			t.Fatalf("no delivery; task: %v", poll)
		})
	}
}

// A receiver answering 401, 500, or nothing for longer than the timeout gets
// exactly one attempt; the task is still completed; the failure is visible
// with its reason, and the auth value never is.
func TestFailingReceiversGetOneAttempt(t *testing.T) {
	site := newSite(t)
	hang := make(chan struct{})
	defer close(hang)
	receivers := map[string]*receiver{
		"401": newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"Unauthorized"}`))
		}),
		"500": newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500); w.Write([]byte("boom")) }),
		"timeout": newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}),
		"redirect": newReceiver(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }),
	}
	srv := startServer(t, "", "--webhook-timeout", "1s")
	wantErr := map[string]string{"401": "401", "500": "500", "timeout": "timeout", "redirect": "redirect"}
	for name, rc := range receivers {
		t.Run(name, func(t *testing.T) {
			code, m := srv.call(t, "POST", "/start/run-task", map[string]any{
				"taskDetails": "Read", "startingPoint": site.URL + "/news",
				"webhook": map[string]any{"name": name, "url": rc.URL + "/hook", "auth": "Bearer sup3r-s3cret-" + name, "submittedData": "full_response"},
			})
			if code != 200 {
				t.Fatalf("%d %v", code, m)
			}
			sid, tid := m["sessionId"].(string), m["taskId"].(string)
			poll := srv.waitTask(t, sid, tid)
			if poll["type"] != "task_completed" {
				t.Fatalf("task = %v, want completed", poll)
			}
			var att []any
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				_, dm := srv.call(t, "GET", "/task/"+sid+"/"+tid+"/deliveries", nil)
				att, _ = dm["deliveries"].([]any)
				if len(att) > 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(att) != 1 {
				t.Fatalf("attempts = %v, want exactly 1", att)
			}
			a := att[0].(map[string]any)
			if e, _ := a["error"].(string); !strings.Contains(strings.ToLower(e), wantErr[name]) {
				t.Errorf("attempt error = %q, want it to mention %q", e, wantErr[name])
			}
			raw := mustJSON(t, a)
			if strings.Contains(raw, "sup3r-s3cret") {
				t.Errorf("deliveries answer leaks auth: %s", raw)
			}
			time.Sleep(1500 * time.Millisecond) // a retry, if one were wrongly scheduled, would show up
			if n := len(rc.deliveries()); n != 1 {
				t.Errorf("receiver got %d requests, want exactly 1", n)
			}
		})
	}
	if strings.Contains(srv.logs.String(), "sup3r-s3cret") {
		t.Errorf("logs leak a webhook auth value")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
