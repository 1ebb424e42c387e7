package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func validTask(extra map[string]any) map[string]any {
	m := map[string]any{"taskDetails": "Extract the title", "startingPoint": "https://example.com/"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func hook(extra map[string]any) map[string]any {
	m := map[string]any{"name": "h", "url": "https://hooks.example.com/x", "submittedData": "ai_response"}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// Every malformed request gets the documented status, code and field
// pointer; none gets a 500.
func TestMalformedRequests(t *testing.T) {
	srv := startServer(t, "")
	_, sess := srv.call(t, "POST", "/start/start-session", map[string]any{})
	sid := sess["sessionId"].(string)
	big := strings.Repeat("a", 1<<20+10)

	cases := []struct {
		name    string
		path    string
		body    any
		status  int
		code    string
		pointer string
	}{
		{"not json", "/start/start-session", `{"mode":`, 400, "INVALID_REQUEST", ""},
		{"array body", "/start/start-session", `[1,2]`, 400, "INVALID_REQUEST", ""},
		{"empty body run-task", "/start/run-task", ``, 400, "INVALID_REQUEST", ""},
		{"mode wrong", "/start/start-session", map[string]any{"mode": "turbo"}, 400, "INVALID_REQUEST", "/mode"},
		{"mode wrong type", "/start/start-session", map[string]any{"mode": 3}, 400, "INVALID_REQUEST", "/mode"},
		{"initialTask not object", "/start/start-session", map[string]any{"initialTask": "go"}, 400, "INVALID_REQUEST", "/initialTask"},
		{"taskDetails number", "/start/start-session", map[string]any{"initialTask": map[string]any{"taskDetails": 5}}, 400, "INVALID_REQUEST", "/initialTask/taskDetails"},
		{"maxDuration string", "/start/run-task", validTask(map[string]any{"maxDuration": "300000"}), 400, "INVALID_REQUEST", "/maxDuration"},
		{"maxDuration fraction", "/start/run-task", validTask(map[string]any{"maxDuration": 1.5}), 400, "INVALID_REQUEST", "/maxDuration"},
		{"maxDuration negative", "/start/run-task", validTask(map[string]any{"maxDuration": -1}), 400, "INVALID_REQUEST", "/maxDuration"},
		{"maxInputTokens zero", "/start/run-task", validTask(map[string]any{"maxInputTokens": 0}), 400, "INVALID_REQUEST", "/maxInputTokens"},
		{"settleTimeout zero", "/start/run-task", validTask(map[string]any{"settleTimeout": 0}), 400, "INVALID_REQUEST", "/settleTimeout"},
		{"settleTimeout over a minute", "/start/run-task", validTask(map[string]any{"settleTimeout": 60001}), 400, "INVALID_REQUEST", "/settleTimeout"},
		{"settleTimeout string", "/start/run-task", validTask(map[string]any{"settleTimeout": "3s"}), 400, "INVALID_REQUEST", "/settleTimeout"},
		{"avoidDomains not array", "/start/run-task", validTask(map[string]any{"avoidDomains": "x.com"}), 400, "INVALID_REQUEST", "/avoidDomains"},
		{"avoidDomains bad entry", "/start/run-task", validTask(map[string]any{"avoidDomains": []string{"ok.com", "http://x/"}}), 400, "INVALID_REQUEST", "/avoidDomains/1"},
		{"terminateOnCompletion string", "/start/run-task", validTask(map[string]any{"terminateOnCompletion": "yes"}), 400, "INVALID_REQUEST", "/terminateOnCompletion"},
		{"unknown outputType", "/start/run-task", validTask(map[string]any{"outputType": "xml"}), 400, "INVALID_REQUEST", "/outputType"},
		{"json without schema", "/start/run-task", validTask(map[string]any{"outputType": "structured_json"}), 400, "INVALID_REQUEST", "/outputSchema"},
		{"invalid json schema", "/start/run-task", validTask(map[string]any{"outputType": "structured_json", "outputSchema": map[string]any{"type": "objekt"}}), 400, "INVALID_REQUEST", "/outputSchema"},
		{"schema remote ref", "/start/run-task", validTask(map[string]any{"outputType": "structured", "outputSchema": map[string]any{"$ref": "file:///etc/passwd"}}), 400, "INVALID_REQUEST", "/outputSchema"},
		{"schema root string", "/start/run-task", validTask(map[string]any{"outputType": "structured_json", "outputSchema": map[string]any{"type": "string"}}), 400, "INVALID_REQUEST", "/outputSchema"},
		{"csv duplicate columns", "/start/run-task", validTask(map[string]any{"outputType": "structured_csv", "outputSchema": []string{"a", "a"}}), 400, "INVALID_REQUEST", "/outputSchema"},
		{"csv empty column", "/start/run-task", validTask(map[string]any{"outputType": "structured_csv", "outputSchema": []string{"a", ""}}), 400, "INVALID_REQUEST", "/outputSchema"},
		{"csv not strings", "/start/run-task", validTask(map[string]any{"outputType": "structured_csv", "outputSchema": []any{1, 2}}), 400, "INVALID_REQUEST", "/outputSchema"},
		{"startingPoint not url", "/start/run-task", validTask(map[string]any{"startingPoint": "not a url"}), 400, "INVALID_REQUEST", "/startingPoint"},
		{"startingUrl ftp", "/start/run-task", map[string]any{"taskDetails": "x", "startingUrl": "ftp://example.com/"}, 400, "INVALID_REQUEST", "/startingUrl"},
		{"run-task no details", "/start/run-task", map[string]any{"startingPoint": "https://example.com/"}, 400, "INVALID_REQUEST", "/taskDetails"},
		{"webhook not object", "/start/run-task", validTask(map[string]any{"webhook": "https://x"}), 400, "INVALID_REQUEST", "/webhook"},
		{"webhook no name", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"name": nil})}), 400, "INVALID_REQUEST", "/webhook/name"},
		{"webhook no url", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"url": nil})}), 400, "INVALID_REQUEST", "/webhook/url"},
		{"webhook no submittedData", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"submittedData": nil})}), 400, "INVALID_REQUEST", "/webhook/submittedData"},
		{"webhook unknown submittedData", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"submittedData": "everything"})}), 400, "INVALID_REQUEST", "/webhook/submittedData"},
		{"webhook http public", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"url": "http://hooks.example.com/x"})}), 400, "INVALID_REQUEST", "/webhook/url"},
		{"webhook metadata ip", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"url": "https://169.254.169.254/latest"})}), 400, "INVALID_REQUEST", "/webhook/url"},
		{"webhook private ip", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"url": "https://10.0.0.8/x"})}), 400, "INVALID_REQUEST", "/webhook/url"},
		{"webhook bad events", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"events": []string{"task_exploded"}})}), 400, "INVALID_REQUEST", "/webhook/events/0"},
		{"webhook maxAttempts 21", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"maxAttempts": 21})}), 400, "INVALID_REQUEST", "/webhook/maxAttempts"},
		{"webhook bad secret", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"secret": "hunter2"})}), 400, "INVALID_REQUEST", "/webhook/secret"},
		{"webhook auth not string", "/start/run-task", validTask(map[string]any{"webhook": hook(map[string]any{"auth": 42})}), 400, "INVALID_REQUEST", "/webhook/auth"},
		{"send-message no sessionId", "/start/send-message", map[string]any{"message": map[string]any{"actionType": "newTask", "taskDetails": "x"}}, 400, "INVALID_REQUEST", "/sessionId"},
		{"send-message no message", "/start/send-message", map[string]any{"sessionId": sid}, 400, "INVALID_REQUEST", "/message"},
		{"send-message unknown action", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{"actionType": "dance"}}, 400, "INVALID_REQUEST", "/message/actionType"},
		{"send-message interaction", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{"actionType": "interaction"}}, 400, "INVALID_REQUEST", "/message/actionType"},
		{"send-message bad state", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{"actionType": "state", "newState": "explode"}}, 400, "INVALID_REQUEST", "/message/newState"},
		{"send-message newTask bad type", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{"actionType": "newTask", "taskDetails": "x", "outputType": 7}}, 400, "INVALID_REQUEST", "/message/outputType"},
		{"send-message unknown session", "/start/send-message", map[string]any{"sessionId": "sess_nope", "message": map[string]any{"actionType": "newTask", "taskDetails": "x", "startingPoint": "https://example.com/"}}, 404, "SESSION_NOT_FOUND", ""},
		{"too large", "/start/run-task", `{"taskDetails":"` + big + `"}`, 413, "PAYLOAD_TOO_LARGE", ""},
		{"unknown task", "/task/" + sid + "/task_nope", nil, 404, "TASK_NOT_FOUND", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if strings.HasPrefix(tc.path, "/task/") {
				method = "GET"
			}
			code, m := srv.call(t, method, tc.path, tc.body)
			if code != tc.status || m["code"] != tc.code || m["success"] != false {
				t.Fatalf("got %d %v, want %d %s", code, m, tc.status, tc.code)
			}
			if msg, _ := m["error"].(string); msg == "" {
				t.Errorf("no error sentence: %v", m)
			}
			if tc.pointer != "" {
				details, _ := m["details"].(map[string]any)
				if reason, _ := details[tc.pointer].(string); reason == "" {
					t.Errorf("details %v do not name %s", m["details"], tc.pointer)
				}
			}
		})
	}
	if strings.Contains(srv.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a malformed request logged an error:\n%s", srv.logs.String())
	}
}

func TestAuthAndTenantIsolation(t *testing.T) {
	site := newSite(t)
	srv := startServer(t, "")
	// A second tenant through a stored key made by `errand keys create`.
	var out, errOut syncBuffer
	if err := run(t.Context(), []string{"keys", "create", "--name", "other", "--data", srv.Data}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err == nil {
		t.Fatalf("keys create on a data folder held by a running server should fail (the store is locked)")
	}
	srv.stop(t)
	if err := run(t.Context(), []string{"keys", "create", "--name", "other", "--data", srv.Data}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("keys create: %v %s", err, errOut.String())
	}
	otherKey := strings.TrimSpace(out.String())
	if !strings.HasPrefix(otherKey, "errand_") {
		t.Fatalf("keys create printed %q", otherKey)
	}
	srv = startServer(t, srv.Data)

	code, m := srv.callKey(t, "", "POST", "/start/start-session", map[string]any{})
	if code != 401 || m["code"] != "INVALID_API_KEY" {
		t.Errorf("no key: %d %v", code, m)
	}
	code, m = srv.callKey(t, "wrong", "GET", "/task/a/b", nil)
	if code != 401 || m["code"] != "INVALID_API_KEY" {
		t.Errorf("wrong key: %d %v", code, m)
	}
	code, m = srv.call(t, "GET", "/start/health", nil)
	if code != 200 || m["status"] != "healthy" || !rfc3339ms.MatchString(m["timestamp"].(string)) {
		t.Errorf("health: %d %v", code, m)
	}

	code, m = srv.call(t, "POST", "/start/run-task", map[string]any{"taskDetails": "read", "startingUrl": site.URL + "/news"})
	if code != 200 {
		t.Fatalf("run-task: %d %v", code, m)
	}
	sid, tid := m["sessionId"].(string), m["taskId"].(string)
	srv.waitTask(t, sid, tid)
	for _, path := range []string{"/task/" + sid + "/" + tid, "/task/" + sid + "/" + tid + "/deliveries"} {
		code, m = srv.callKey(t, otherKey, "GET", path, nil)
		if code != 404 || m["code"] != "TASK_NOT_FOUND" {
			t.Errorf("other tenant GET %s: %d %v", path, code, m)
		}
	}
	_, s2 := srv.call(t, "POST", "/start/start-session", map[string]any{})
	code, m = srv.callKey(t, otherKey, "POST", "/start/send-message", map[string]any{
		"sessionId": s2["sessionId"], "message": map[string]any{"actionType": "newTask", "taskDetails": "x", "startingPoint": "https://example.com/"},
	})
	if code != 404 || m["code"] != "SESSION_NOT_FOUND" {
		t.Errorf("other tenant send-message: %d %v", code, m)
	}
	// The other tenant's own session works with its key.
	code, m = srv.callKey(t, otherKey, "POST", "/start/start-session", map[string]any{})
	if code != 200 {
		t.Errorf("other tenant start-session: %d %v", code, m)
	}
	if strings.Contains(srv.logs.String(), otherKey) || strings.Contains(srv.logs.String(), testKey) {
		t.Errorf("logs contain an API key")
	}
}

// Inline answers, pending + pollUrl, ordering, terminate and expiry.
func TestInlineAndPendingAnswers(t *testing.T) {
	site := newSite(t)
	srv := startServer(t, "", "--inline-wait", "20s", "--session-idle", "2s")

	_, s := srv.call(t, "POST", "/start/start-session", map[string]any{"mode": "default"})
	sid := s["sessionId"].(string)
	if _, ok := s["taskId"]; ok {
		t.Errorf("an idle session has no task: %v", s)
	}
	// Ends within the inline wait: the answer is the result itself.
	code, m := srv.call(t, "POST", "/start/send-message", map[string]any{
		"sessionId": sid, "message": map[string]any{"actionType": "newTask", "taskDetails": "read", "startingPoint": site.URL + "/news"},
	})
	if code != 200 || m["type"] != "task_completed" {
		t.Fatalf("inline answer: %d %v", code, m)
	}
	if msg := m["data"].(map[string]any)["message"].(string); !strings.Contains(msg, "Errand ships") {
		t.Errorf("inline message = %q", msg)
	}

	// A slow page: pending with a pollUrl that works.
	srv2 := startServer(t, "", "--inline-wait", "200ms")
	code, m = srv2.call(t, "POST", "/start/run-task", map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/slow", "maxDuration": 1000})
	if code != 200 || m["status"] != "pending" {
		t.Fatalf("pending answer: %d %v", code, m)
	}
	pollURL := m["pollUrl"].(string)
	if !strings.HasPrefix(pollURL, srv2.URL+"/task/") {
		t.Fatalf("pollUrl = %q", pollURL)
	}
	code, p := srv2.call(t, "GET", strings.TrimPrefix(pollURL, srv2.URL), nil)
	if code != 200 || (p["status"] != "running" && p["status"] != "queued") {
		t.Errorf("poll while running: %d %v", code, p)
	}
	p = srv2.waitTask(t, m["sessionId"].(string), m["taskId"].(string))
	if p["status"] != "failed" || p["code"] != "TASK_TIMEOUT" || p["success"] != false {
		t.Errorf("slow task past maxDuration: %v", p)
	}

	// Expiry: after the idle time the session answers 410.
	time.Sleep(2500 * time.Millisecond)
	code, m = srv.call(t, "POST", "/start/send-message", map[string]any{
		"sessionId": sid, "message": map[string]any{"actionType": "newTask", "taskDetails": "again", "startingPoint": site.URL + "/news"},
	})
	if code != http.StatusGone || m["code"] != "SESSION_EXPIRED" {
		t.Errorf("expired session: %d %v", code, m)
	}
}

func TestSessionOrderTerminateAndStop(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")
	_, s := srv.call(t, "POST", "/start/start-session", map[string]any{})
	sid := s["sessionId"].(string)
	var ids []string
	for i := 0; i < 4; i++ {
		page := "/news"
		if i == 0 {
			page = "/slow"
		}
		code, m := srv.call(t, "POST", "/start/send-message", map[string]any{
			"sessionId": sid, "message": map[string]any{
				"actionType": "newTask", "taskDetails": "read", "startingPoint": site.URL + page,
				"webhook": map[string]any{"name": "n", "url": rc.URL, "submittedData": "just_ping", "events": []string{"task_completed", "task_failed"}},
			},
		})
		if code != 200 || m["status"] != "pending" {
			t.Fatalf("newTask: %d %v", code, m)
		}
		ids = append(ids, m["taskId"].(string))
	}
	// The first (slow) task runs; the others wait their turn.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, p := srv.call(t, "GET", "/task/"+sid+"/"+ids[0], nil)
		if p["status"] == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first task never ran: %v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range ids[1:] {
		if _, p := srv.call(t, "GET", "/task/"+sid+"/"+id, nil); p["status"] != "queued" {
			t.Fatalf("task %s = %v while the first one runs, want queued", id, p)
		}
	}
	code, m := srv.call(t, "POST", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{"actionType": "state", "newState": "terminate"}})
	if code != 200 || m["success"] != true {
		t.Fatalf("terminate: %d %v", code, m)
	}
	for _, id := range ids {
		p := srv.waitTask(t, sid, id)
		if p["status"] != "cancelled" || p["code"] != "CANCELLED" {
			t.Errorf("task %s after terminate = %v, want cancelled", id, p)
		}
	}
	// Every cancelled task raises its task_failed event.
	got := rc.waitN(t, 4, 20*time.Second)
	for _, d := range got {
		if p := d.JSON(t); p["event"] != "task_failed" {
			t.Errorf("event = %v", p)
		}
	}
	code, m = srv.call(t, "POST", "/start/send-message", map[string]any{
		"sessionId": sid, "message": map[string]any{"actionType": "newTask", "taskDetails": "x", "startingPoint": "https://example.com/"},
	})
	if code != 410 || m["code"] != "SESSION_EXPIRED" {
		t.Errorf("newTask after terminate: %d %v", code, m)
	}
}
