package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// shop is a local product page whose price (and health) change on command.
type shop struct {
	*httptest.Server
	mu     sync.Mutex
	price  string
	status int
	hits   int
}

func newShop(t *testing.T, price string) *shop {
	t.Helper()
	s := &shop{price: price, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		price, status := s.price, s.status
		s.hits++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<!doctype html><html><head><title>Acme Anvil</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Acme Anvil",
"offers":{"@type":"Offer","price":%q,"priceCurrency":"USD"}}</script></head>
<body><main><h1>Acme Anvil</h1><p class="price">$%s</p></main></body></html>`, price, price)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *shop) set(price string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.price, s.status = price, status
}

// priceTask is the seed's price alert task as a monitor's task.
func priceTask(url string) map[string]any {
	return map[string]any{
		"taskDetails":   "Monitor the page for price changes",
		"startingPoint": url,
		"outputType":    "structured_json",
		"outputSchema": map[string]any{"type": "object",
			"properties": map[string]any{"title": map[string]any{"type": "string"}, "price": map[string]any{"type": "number"}},
			"required":   []string{"title", "price"}},
	}
}

// createMonitor posts a monitor and returns its id.
func (s *server) createMonitor(t *testing.T, body map[string]any) string {
	t.Helper()
	code, m := s.call(t, "POST", "/monitors", body)
	if code != 200 {
		t.Fatalf("create monitor: %d %v", code, m)
	}
	return m["monitorId"].(string)
}

// runMonitor runs a monitor now and waits for the run to be settled: its
// task ended (the settlement is committed with the task's end). It
// returns the run as GET /monitors/{id}/runs lists it.
func (s *server) runMonitor(t *testing.T, id string) map[string]any {
	t.Helper()
	code, m := s.call(t, "POST", "/monitors/"+id+"/run", nil)
	if code != 200 {
		t.Fatalf("run monitor: %d %v", code, m)
	}
	s.waitTask(t, m["sessionId"].(string), m["taskId"].(string))
	return s.lastRun(t, id, m["runId"].(string))
}

// lastRun finds run runID in the monitor's history.
func (s *server) lastRun(t *testing.T, id, runID string) map[string]any {
	t.Helper()
	code, m := s.call(t, "GET", "/monitors/"+id+"/runs?limit=5", nil)
	if code != 200 {
		t.Fatalf("runs: %d %v", code, m)
	}
	for _, r := range m["runs"].([]any) {
		if run := r.(map[string]any); run["runId"] == runID {
			return run
		}
	}
	t.Fatalf("run %s not in the history: %v", runID, m)
	return nil
}

// deliveriesOf lists the deliveries a run's task owes, as the API shows
// them: committed with the task's end, so known as soon as it ended.
func (s *server) deliveriesOf(t *testing.T, run map[string]any) []any {
	t.Helper()
	code, m := s.call(t, "GET", "/task/"+run["sessionId"].(string)+"/"+run["taskId"].(string)+"/deliveries", nil)
	if code != 200 {
		t.Fatalf("deliveries: %d %v", code, m)
	}
	ds, _ := m["deliveries"].([]any)
	return ds
}

// TestMonitorPriceAlert: the seed's price alert as a monitor, run on
// command against a page whose price changes: the first answer is the
// baseline; a change that fires no rule is recorded and sends nothing; the
// rule fires when the price crosses below 25, not again while it stays
// below, and again after it went back above; an unchanged page is answered
// without extracting; failures are not changes, and raise one
// monitor.failing and one monitor.recovered.
func TestMonitorPriceAlert(t *testing.T) {
	page := newShop(t, "30.00")
	hooks := newReceiver(t, nil)
	s := startServer(t, "")
	id := s.createMonitor(t, map[string]any{
		"name": "Anvil price", "schedule": "@every 1h", "paused": true,
		"task": priceTask(page.URL),
		"webhook": map[string]any{"name": "Price Alert", "url": hooks.URL + "/alerts", "auth": "Bearer alert-token",
			"submittedData": "full_response", "events": []string{"monitor.changed", "monitor.failing", "monitor.recovered"}},
		"notify": map[string]any{"watch": []string{"/price"}, "rules": []any{map[string]any{"path": "/price", "below": 25}},
			"failuresBeforeAlert": 2},
	})

	steps := []struct {
		price   string
		status  int
		want    string // the run's status
		changed bool
		events  []string
	}{
		{"30.00", 200, "completed", false, nil},                        // baseline
		{"28.00", 200, "completed", true, nil},                         // a change, no rule fired
		{"24.00", 200, "completed", true, []string{"monitor.changed"}}, // crossed below 25
		{"24.00", 200, "completed", false, nil},                        // unchanged page
		{"22.00", 200, "completed", true, nil},                         // still below: no repeat
		{"30.00", 200, "completed", true, nil},                         // crossed back: re-armed
		{"20.00", 200, "completed", true, []string{"monitor.changed"}}, // crossed again
		{"20.00", 500, "failed", false, nil},                           // a failure is not a change
		{"20.00", 500, "failed", false, []string{"monitor.failing"}},   // the 2nd in a row alerts
		{"20.00", 500, "failed", false, nil},                           // once
		{"19.00", 200, "completed", true, []string{"monitor.recovered"}},
	}
	var sent []string
	for i, st := range steps {
		page.set(st.price, st.status)
		run := s.runMonitor(t, id)
		events := []string{}
		for _, e := range run["events"].([]any) {
			events = append(events, e.(string))
		}
		if run["status"] != st.want || run["changed"] != st.changed || strings.Join(events, ",") != strings.Join(st.events, ",") {
			t.Fatalf("run %d (price %s, HTTP %d): status %v changed %v events %v; want %s %v %v\n%v",
				i, st.price, st.status, run["status"], run["changed"], events, st.want, st.changed, st.events, run)
		}
		ds := s.deliveriesOf(t, run)
		if len(ds) != len(st.events) {
			t.Fatalf("run %d owes %d deliveries, want %d: %v", i, len(ds), len(st.events), ds)
		}
		sent = append(sent, st.events...)
		if i == 3 {
			// The unchanged page was answered from the last run's answer.
			_, task := s.call(t, "GET", "/task/"+run["sessionId"].(string)+"/"+run["taskId"].(string), nil)
			if msg := task["data"].(map[string]any)["message"].(string); !strings.Contains(msg, "24") {
				t.Errorf("unchanged run's answer %q", msg)
			}
		}
	}

	got := hooks.waitN(t, len(sent), 20*time.Second)
	for i, d := range got {
		if ev := d.Header.Get("Errand-Event"); ev != sent[i] {
			t.Errorf("delivery %d: Errand-Event %q, want %q", i, ev, sent[i])
		}
		if d.Header.Get("Errand-Monitor-Id") != id || d.Header.Get("Authorization") != "Bearer alert-token" {
			t.Errorf("delivery %d headers: %v", i, d.Header)
		}
	}
	first := got[0].JSON(t)
	change := first["change"].(map[string]any)
	field := change["fields"].([]any)[0].(map[string]any)
	rule := change["rules"].([]any)[0].(map[string]any)
	mon := first["monitor"].(map[string]any)
	if first["type"] != "monitor.changed" || field["path"] != "/price" || field["before"] != 28.0 || field["after"] != 24.0 ||
		rule["below"] != 25.0 || rule["value"] != 24.0 || mon["id"] != id || mon["name"] != "Anvil price" {
		t.Errorf("first notification: %s", got[0].Body)
	}
	if data := first["data"].(map[string]any); data["total_tokens"] != 0.0 || !strings.Contains(data["message"].(string), `"price":24`) {
		t.Errorf("first notification's task payload: %v", data)
	}
	failing := got[2].JSON(t)
	if failing["type"] != "monitor.failing" || failing["failures"] != 2.0 || failing["code"] == "" {
		t.Errorf("failing notification: %s", got[2].Body)
	}

	// The monitor as the API shows it.
	code, m := s.call(t, "GET", "/monitors/"+id, nil)
	if code != 200 {
		t.Fatalf("get: %d %v", code, m)
	}
	mon = m["monitor"].(map[string]any)
	state := mon["state"].(map[string]any)
	if mon["runs"] != float64(len(steps)) || state["failures"] != 0.0 || state["alerting"] != false || !strings.Contains(state["lastAnswer"].(string), "19") {
		t.Errorf("monitor after the runs: %v", mon)
	}
	raw, _ := json.Marshal(m)
	if strings.Contains(string(raw), "alert-token") {
		t.Error("the webhook's auth is shown")
	}
}
