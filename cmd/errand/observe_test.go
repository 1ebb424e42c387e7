package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metric reads one sample of /metrics (the sum over label sets matching
// the given label filter).
func metric(t *testing.T, s *server, name, labels string) float64 {
	t.Helper()
	body := s.metricsText(t)
	total := 0.0
	re := regexp.MustCompile(`(?m)^` + name + `(\{[^}]*\})? (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		if labels != "" && !strings.Contains(m[1], labels) {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		total += v
	}
	return total
}

func TestMetricsMove(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")
	before := map[string]float64{
		"started":   metric(t, srv, "errand_tasks_started_total", ""),
		"completed": metric(t, srv, "errand_tasks_ended_total", `status="completed"`),
		"failed":    metric(t, srv, "errand_tasks_ended_total", `status="failed"`),
		"steps":     metric(t, srv, "errand_agent_steps_total", ""),
		"delivered": metric(t, srv, "errand_webhook_attempts_total", `outcome="delivered"`),
		"lag":       metric(t, srv, "errand_webhook_delivery_lag_seconds_count", ""),
		"duration":  metric(t, srv, "errand_task_duration_seconds_count", ""),
	}
	for i := 0; i < 3; i++ {
		sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
			"webhook": map[string]any{"name": "m", "url": rc.URL, "submittedData": "just_ping"}})
		srv.waitTask(t, sid, tid)
	}
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/missing", "outputType": "structured_csv", "outputSchema": []string{"a"}})
	srv.waitTask(t, sid, tid)
	rc.waitN(t, 3, 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, srv, "errand_webhook_attempts_total", `outcome="delivered"`) < before["delivered"]+3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	after := map[string]float64{
		"started":   metric(t, srv, "errand_tasks_started_total", ""),
		"completed": metric(t, srv, "errand_tasks_ended_total", `status="completed"`),
		"failed":    metric(t, srv, "errand_tasks_ended_total", `status="failed"`),
		"steps":     metric(t, srv, "errand_agent_steps_total", ""),
		"delivered": metric(t, srv, "errand_webhook_attempts_total", `outcome="delivered"`),
		"lag":       metric(t, srv, "errand_webhook_delivery_lag_seconds_count", ""),
		"duration":  metric(t, srv, "errand_task_duration_seconds_count", ""),
	}
	want := map[string]float64{"started": 4, "completed": 3, "failed": 1, "steps": 7, "delivered": 3, "lag": 3, "duration": 4}
	for k, d := range want {
		if got := after[k] - before[k]; got != d {
			t.Errorf("%s moved by %v, want %v", k, got, d)
		}
	}
	if q := metric(t, srv, "errand_tasks_queued", ""); q != 0 {
		t.Errorf("errand_tasks_queued = %v after every task ended", q)
	}
}

// The events stream of a task shows each step in order, then the result.
func TestEventsStream(t *testing.T) {
	site := newSite(t)
	srv := startServer(t, "")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/slowish"})
	req, _ := http.NewRequest("GET", srv.URL+"/task/"+sid+"/"+tid+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	type ev struct {
		name string
		data map[string]any
	}
	var evs []ev
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var m map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m); err != nil {
				t.Fatalf("event data is not JSON: %q", line)
			}
			evs = append(evs, ev{name, m})
		}
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.name)
	}
	got := strings.Join(names, ",")
	if !regexp.MustCompile(`^(status,)*step,step,result$`).MatchString(got) {
		t.Fatalf("events = %s, want statuses, then step,step,result", got)
	}
	n := len(evs)
	if evs[n-3].data["action"] != "navigate" || evs[n-2].data["action"] != "extract" {
		t.Errorf("steps out of order: %v then %v", evs[n-3].data, evs[n-2].data)
	}
	if evs[n-1].data["type"] != "task_completed" || evs[n-1].data["taskId"] != tid {
		t.Errorf("result event = %v", evs[n-1].data)
	}
}
