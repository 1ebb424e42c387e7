package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// GET /tasks lists the caller's tasks newest first, a page at a time; POST
// …/cancel cancels a task wherever it is; Prefer: respond-async answers
// pending at once despite the inline wait. Every answer as documented.
func TestTaskListCancelAndPreferAsync(t *testing.T) {
	// The engine is not started: queued tasks stay queued, and an inline
	// wait would last its full 30 s.
	l := newLiveAPIWith(t, func(d *Deps) { d.InlineWait = 30 * time.Second })
	_, m := l.call(t, "POST", "/start/start-session", "/start/start-session", `{"initialTask":{"taskDetails":"first","startingPoint":"https://example.com/a"}}`, true)
	sid, first := m["sessionId"].(string), m["taskId"].(string)

	req := httptest.NewRequest("POST", "/start/run-task", strings.NewReader(`{"taskDetails":"second","startingUrl":"https://example.com/b"}`))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Prefer", "wait=5, respond-async")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { l.h.ServeHTTP(rec, req); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run-task with Prefer: respond-async waited for the task")
	}
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"pending"`) || rec.Header().Get("Preference-Applied") != "respond-async" {
		t.Fatalf("run-task with Prefer: respond-async: %d %s %v", rec.Code, rec.Body, rec.Header())
	}

	_, m = l.call(t, "GET", "/tasks", "/tasks", "", true)
	tasks := m["tasks"].([]any)
	if len(tasks) != 2 || tasks[0].(map[string]any)["taskDetails"] != "second" || tasks[1].(map[string]any)["taskId"] != first || m["nextCursor"] != nil {
		t.Fatalf("GET /tasks: %v", m)
	}
	if tk := tasks[1].(map[string]any); tk["status"] != "queued" || tk["startingPoint"] != "https://example.com/a" || tk["sessionId"] != sid {
		t.Errorf("listed task: %v", tk)
	}
	_, p1 := l.call(t, "GET", "/tasks", "/tasks?limit=1", "", true)
	cursor, _ := p1["nextCursor"].(string)
	_, p2 := l.call(t, "GET", "/tasks", "/tasks?limit=1&cursor="+cursor, "", true)
	if len(p1["tasks"].([]any)) != 1 || cursor == "" || len(p2["tasks"].([]any)) != 1 || p2["tasks"].([]any)[0].(map[string]any)["taskId"] != first {
		t.Errorf("pages: %v then %v", p1, p2)
	}
	_, m = l.call(t, "GET", "/tasks", "/tasks?sessionId="+sid, "", true)
	if len(m["tasks"].([]any)) != 1 {
		t.Errorf("one session's tasks: %v", m)
	}
	for _, q := range []string{"status=done", "limit=0", "limit=501", "cursor=nope"} {
		if code, m := l.call(t, "GET", "/tasks", "/tasks?"+q, "", true); code != 400 || m["code"] != "INVALID_REQUEST" {
			t.Errorf("GET /tasks?%s: %d %v", q, code, m)
		}
	}

	cancel := "/task/{sessionId}/{taskId}/cancel"
	if code, m := l.call(t, "POST", cancel, "/task/"+sid+"/"+first+"/cancel", "", true); code != 200 || m["status"] != "cancelled" || m["message"] != "Task cancelled" {
		t.Errorf("cancel a queued task: %d %v", code, m)
	}
	if code, m := l.call(t, "POST", cancel, "/task/"+sid+"/"+first+"/cancel", "", true); code != 200 || m["status"] != "cancelled" || m["message"] != "The task had already ended" {
		t.Errorf("cancel it again: %d %v", code, m)
	}
	if code, m := l.call(t, "POST", cancel, "/task/"+sid+"/task_nope/cancel", "", true); code != 404 || m["code"] != "TASK_NOT_FOUND" {
		t.Errorf("cancel an unknown task: %d %v", code, m)
	}
	_, m = l.call(t, "GET", "/tasks", "/tasks?status=cancelled", "", true)
	if tasks := m["tasks"].([]any); len(tasks) != 1 || tasks[0].(map[string]any)["code"] != "CANCELLED" || tasks[0].(map[string]any)["endedAt"] == nil {
		t.Errorf("cancelled tasks: %v", m)
	}
	// MCP is not served by a handler made without it.
	req = httptest.NewRequest("POST", "/mcp", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer k")
	rec = httptest.NewRecorder()
	l.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "MCP is not served") {
		t.Errorf("/mcp without MCP: %d %s", rec.Code, rec.Body)
	}
}

// A cursor is read back to the place it was made from, and no string
// read as one is taken for another place or crashes the reader.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "x", encodeCursor(time.UnixMicro(1705314585000123), "task_3vqm2x7hkzwn5cr4ftbyd6jlse"), "MTc6", "LTE6dGFza18"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		at, id, ok := decodeCursor(c)
		if !ok {
			return
		}
		if id == "" {
			t.Fatalf("%q read as a cursor without an id", c)
		}
		at2, id2, ok := decodeCursor(encodeCursor(at, id))
		if !ok || !at2.Equal(at) || id2 != id {
			t.Fatalf("%q: (%v, %q) does not survive a round trip: (%v, %q, %v)", c, at, id, at2, id2, ok)
		}
	})
}
