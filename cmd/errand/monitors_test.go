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

// waitFor polls cond every 20ms until it holds, failing after within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// monitorField reads one field of GET /monitors/{id}.
func (s *server) monitor(t *testing.T, id string) map[string]any {
	t.Helper()
	code, m := s.call(t, "GET", "/monitors/"+id, nil)
	if code != 200 {
		t.Fatalf("get monitor: %d %v", code, m)
	}
	return m["monitor"].(map[string]any)
}

// TestMonitorScheduleRunsPausesAndDeletes: with a 1-second schedule the
// node's scheduler runs the monitor on its own, each change notified once;
// a paused monitor does not run; resumed, it does; a run still going
// skips the next tick and counts it; deleting a monitor while its run goes
// on lets the run finish and sends nothing.
func TestMonitorScheduleRunsPausesAndDeletes(t *testing.T) {
	page := newShop(t, "30.00")
	hooks := newReceiver(t, nil)
	s := startServer(t, "", "--monitor-min-interval", "1s")
	id := s.createMonitor(t, map[string]any{
		"name": "every second", "schedule": "@every 1s", "task": priceTask(page.URL),
		"webhook": map[string]any{"name": "w", "url": hooks.URL, "submittedData": "ai_response"},
	})
	runs := func() float64 { return s.monitor(t, id)["runs"].(float64) }
	waitFor(t, "the first scheduled runs", 20*time.Second, func() bool { return runs() >= 2 })
	page.set("25.00", 200)
	got := hooks.waitN(t, 1, 20*time.Second)
	if body := got[0].JSON(t); body["price"] != 25.0 || got[0].Header.Get("Errand-Event") != "monitor.changed" {
		t.Fatalf("notification: %s %v", got[0].Body, got[0].Header)
	}

	// Paused: no run starts (the one going, if any, ends first).
	if code, m := s.call(t, "PATCH", "/monitors/"+id, map[string]any{"paused": true}); code != 200 {
		t.Fatalf("pause: %d %v", code, m)
	}
	waitFor(t, "the paused monitor's last run to end", 20*time.Second, func() bool { return s.monitor(t, id)["running"] == false })
	before := runs()
	page.set("20.00", 200)
	time.Sleep(2500 * time.Millisecond) // two ticks that must not run
	if after := runs(); after != before {
		t.Fatalf("a paused monitor ran: %v runs, then %v", before, after)
	}
	if len(hooks.deliveries()) != 1 {
		t.Fatalf("a paused monitor notified: %d deliveries", len(hooks.deliveries()))
	}
	if code, m := s.call(t, "PATCH", "/monitors/"+id, map[string]any{"paused": false}); code != 200 {
		t.Fatalf("resume: %d %v", code, m)
	}
	got = hooks.waitN(t, 2, 20*time.Second)
	if body := got[1].JSON(t); body["price"] != 20.0 {
		t.Fatalf("after resuming: %s", got[1].Body)
	}

	// Deleted mid-run: the page answers slowly, the monitor is deleted
	// while its run waits for it; the run ends and sends nothing.
	slow := newSlowShop(t)
	id2 := s.createMonitor(t, map[string]any{
		"name": "slow", "schedule": "@every 1s", "paused": true, "task": priceTask(slow.URL),
		"webhook": map[string]any{"name": "w", "url": hooks.URL, "submittedData": "just_ping"},
		"notify":  map[string]any{"on": "every_run"},
	})
	code, m := s.call(t, "POST", "/monitors/"+id2+"/run", nil)
	if code != 200 {
		t.Fatalf("run: %d %v", code, m)
	}
	<-slow.entered
	// The next ticks come while the run goes on: skipped, and counted.
	if code, m := s.call(t, "PATCH", "/monitors/"+id2, map[string]any{"paused": false}); code != 200 {
		t.Fatalf("resume: %d %v", code, m)
	}
	waitFor(t, "a skipped tick", 20*time.Second, func() bool { return s.monitor(t, id2)["skipped"].(float64) >= 1 })
	if code, m := s.call(t, "DELETE", "/monitors/"+id2, nil); code != 200 {
		t.Fatalf("delete: %d %v", code, m)
	}
	close(slow.release)
	task := s.waitTask(t, m["sessionId"].(string), m["taskId"].(string))
	if task["type"] != "task_completed" {
		t.Fatalf("the deleted monitor's run: %v", task)
	}
	_, ds := s.call(t, "GET", "/task/"+m["sessionId"].(string)+"/"+m["taskId"].(string)+"/deliveries", nil)
	if len(ds["deliveries"].([]any)) != 0 {
		t.Fatalf("a deleted monitor's run notified: %v", ds)
	}
	if code, _ := s.call(t, "GET", "/monitors/"+id2, nil); code != 404 {
		t.Fatalf("deleted monitor: %d", code)
	}
	if code, m := s.call(t, "DELETE", "/monitors/"+id, nil); code != 200 {
		t.Fatalf("delete: %d %v", code, m)
	}
	n := len(hooks.deliveries())
	time.Sleep(1500 * time.Millisecond) // a tick after the deletion
	if len(hooks.deliveries()) != n {
		t.Fatalf("a deleted monitor kept notifying")
	}
}

// slowShop holds each request until released.
type slowShop struct {
	*httptest.Server
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newSlowShop(t *testing.T) *slowShop {
	t.Helper()
	s := &slowShop{entered: make(chan struct{}), release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.once.Do(func() { close(s.entered) })
		select {
		case <-s.release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><title>Acme Anvil</title><script type="application/ld+json">{"@type":"Product","name":"Acme Anvil","offers":{"price":"9.00"}}</script></head><body><h1>Acme Anvil</h1></body></html>`)
	}))
	t.Cleanup(func() {
		s.once.Do(func() { close(s.entered) })
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		s.Close()
	})
	return s
}

// catalog is a product table whose rows change on command.
type catalog struct {
	*httptest.Server
	mu    sync.Mutex
	rows  [][3]string // product, price, sku
	stamp string
}

func newCatalog(t *testing.T, rows ...[3]string) *catalog {
	t.Helper()
	c := &catalog{rows: rows, stamp: "10:00:00"}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Catalog</title></head><body><main><h1>Catalog</h1>
<p>Prices as of `+c.stamp+`</p>
<table><thead><tr><th>Product</th><th>Price</th><th>SKU</th></tr></thead><tbody>`)
		for _, row := range c.rows {
			fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n", row[0], row[1], row[2])
		}
		fmt.Fprint(w, `</tbody></table></main></body></html>`)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *catalog) set(stamp string, rows ...[3]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows, c.stamp = rows, stamp
}

// changes lists a run's changes as "kind path [key] before -> after".
func changes(run map[string]any) []string {
	var out []string
	for _, c := range run["changes"].([]any) {
		ch := c.(map[string]any)
		s := ch["kind"].(string) + " " + ch["path"].(string)
		if k, ok := ch["key"]; ok {
			s += fmt.Sprintf(" [%v]", k)
		}
		if b, ok := ch["before"]; ok {
			s += fmt.Sprintf(" %v", b)
		}
		if a, ok := ch["after"]; ok {
			s += fmt.Sprintf(" -> %v", a)
		}
		out = append(out, s)
	}
	return out
}

// TestMonitorCSVByKeyAndTextWithIgnore: a table monitored as CSV rows
// matched by their SKU (a reordered table is no change; a changed price,
// an added and a removed row are), and the same page as text whose
// timestamp line is ignored.
func TestMonitorCSVByKeyAndTextWithIgnore(t *testing.T) {
	anvil, skates, magnet := [3]string{"Acme Anvil", "$29.99", "AN-1"}, [3]string{"Rocket Skates", "$149.00", "RS-2"}, [3]string{"Giant Magnet", "$9.50", "GM-3"}
	page := newCatalog(t, anvil, skates)
	s := startServer(t, "")
	csvID := s.createMonitor(t, map[string]any{
		"name": "catalog rows", "schedule": "@hourly", "paused": true,
		"task": map[string]any{"taskDetails": "List the products", "startingPoint": page.URL,
			"outputType": "structured_csv", "outputSchema": []string{"Product", "Price", "SKU"}},
		"notify": map[string]any{"key": "SKU"},
	})
	textID := s.createMonitor(t, map[string]any{
		"name": "catalog text", "schedule": "@hourly", "paused": true,
		"task":   map[string]any{"taskDetails": "Read the catalog", "startingPoint": page.URL},
		"notify": map[string]any{"ignore": []string{`as of \d\d:\d\d:\d\d`}},
	})

	type step struct {
		stamp string
		rows  [][3]string
		csv   []string
		text  bool // the text answer changed
	}
	cheaper := [3]string{"Acme Anvil", "$24.99", "AN-1"}
	for i, st := range []step{
		{"10:00:00", [][3]string{anvil, skates}, nil, false}, // baseline
		{"10:05:00", [][3]string{skates, anvil}, nil, true},  // reordered: the text changes, the rows do not
		{"10:10:00", [][3]string{skates, anvil}, nil, false}, // only the ignored timestamp
		{"10:15:00", [][3]string{skates, cheaper, magnet}, []string{"changed /1/Price [AN-1] $29.99 -> $24.99", "added /2 [GM-3] -> map[Price:$9.50 Product:Giant Magnet SKU:GM-3]"}, true},
		{"10:20:00", [][3]string{cheaper, magnet}, []string{"removed /0 [RS-2] map[Price:$149.00 Product:Rocket Skates SKU:RS-2]"}, true},
	} {
		page.set(st.stamp, st.rows...)
		run := s.runMonitor(t, csvID)
		if got := changes(run); strings.Join(got, "|") != strings.Join(st.csv, "|") {
			t.Errorf("step %d, CSV by SKU: changes %q, want %q", i, got, st.csv)
		}
		trun := s.runMonitor(t, textID)
		if trun["changed"] != st.text {
			t.Errorf("step %d, text: changed %v, want %v (%q)", i, trun["changed"], st.text, changes(trun))
		}
	}
}
