package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// /metrics on the API listener needs a valid key, sent as Prometheus sends
// it (a bearer token); --metrics-addr serves the same metrics without one,
// and nothing else. The health routes and /openapi.json stay public.
func TestMetricsNeedAKey(t *testing.T) {
	srv := startServer(t, "", "--metrics-addr", "127.0.0.1:0")
	get := func(url, key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, key := range []string{"", "not-a-key"} {
		code, body := get(srv.URL+"/metrics", key)
		if code != 401 || !strings.Contains(body, `"code":"INVALID_API_KEY"`) || strings.Contains(body, "errand_") {
			t.Errorf("/metrics with key %q: %d %s", key, code, body)
		}
	}
	if code, body := get(srv.URL+"/metrics", testKey); code != 200 || !strings.Contains(body, "errand_tasks_queued") {
		t.Errorf("/metrics with the key: %d %.200s", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/start/health", "/openapi.json"} {
		if code, _ := get(srv.URL+path, ""); code != 200 {
			t.Errorf("%s without a key: %d", path, code)
		}
	}

	// The private listener: its address is printed at start.
	line := regexp.MustCompile(`metrics on (http://\S+)/metrics`)
	var private string
	for deadline := time.Now().Add(10 * time.Second); private == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := line.FindStringSubmatch(srv.stdout.String()); m != nil {
			private = m[1]
		}
	}
	if private == "" {
		t.Fatalf("no metrics address printed:\n%s", srv.stdout.String())
	}
	if code, body := get(private+"/metrics", ""); code != 200 || !strings.Contains(body, "errand_tasks_queued") {
		t.Errorf("--metrics-addr without a key: %d %.200s", code, body)
	}
	if code, _ := get(private+"/start/health", ""); code != 404 {
		t.Errorf("--metrics-addr serves more than metrics: /start/health %d", code)
	}
	if code, _ := get(private+"/start/run-task", testKey); code != 404 && code != 405 {
		t.Errorf("--metrics-addr serves the API: %d", code)
	}
}
