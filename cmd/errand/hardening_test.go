package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// --rate-limit caps requests per API key: past it, 429 with Retry-After;
// another key is not affected.
func TestRateLimitPerKey(t *testing.T) {
	srv := startServer(t, "", "--rate-limit", "2")
	var codes []int
	var retryAfter string
	for range 5 {
		req, _ := http.NewRequest("POST", srv.URL+"/start/start-session", nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	if codes[0] != 400 && codes[0] != 200 || codes[4] != 429 {
		t.Fatalf("status codes = %v, want the first accepted and the last refused with 429", codes)
	}
	if s, err := strconv.Atoi(retryAfter); err != nil || s < 1 {
		t.Errorf("Retry-After = %q, want whole seconds", retryAfter)
	}
	code, m := srv.call(t, "GET", "/start/health", nil)
	if code != 200 {
		t.Errorf("health (no key) is not rate limited: %d %v", code, m)
	}
	time.Sleep(1100 * time.Millisecond)
	if code, m := srv.call(t, "POST", "/start/start-session", map[string]any{}); code != 200 {
		t.Errorf("after waiting: %d %v", code, m)
	}
}

// SIGTERM (the context of run ending) lets a running task finish within
// the grace period; its result and webhook survive the restart.
func TestGracefulShutdownFinishesRunningWork(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/slowish",
		"webhook": map[string]any{"name": "g", "url": rc.URL, "submittedData": "just_ping"}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, p := srv.call(t, "GET", "/task/"+sid+"/"+tid, nil)
		if p["status"] == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never running: %v", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.stop(t) // graceful: the 300 ms page finishes inside the 5 s grace
	if n := len(rc.deliveries()); n != 1 {
		t.Errorf("the task's webhook was not sent before the server stopped (%d requests)", n)
	}
	srv = startServer(t, srv.Data)
	if p := srv.waitTask(t, sid, tid); p["type"] != "task_completed" {
		t.Errorf("after restart: %v", p)
	}
}
