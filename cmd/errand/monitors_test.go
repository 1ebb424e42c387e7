package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/model/modeltest"
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

// deliveryIDs waits until the run's task has had want distinct webhook
// deliveries attempted (GET …/deliveries lists attempts; a delivery sent
// again after a crash keeps its webhook-id), and returns their ids.
func (s *server) deliveryIDs(t *testing.T, run map[string]any, want int) []string {
	t.Helper()
	var ids []string
	waitFor(t, fmt.Sprintf("%d deliveries of run %v", want, run["runId"]), 20*time.Second, func() bool {
		code, m := s.call(t, "GET", "/task/"+run["sessionId"].(string)+"/"+run["taskId"].(string)+"/deliveries", nil)
		if code != 200 {
			t.Fatalf("deliveries: %d %v", code, m)
		}
		seen := map[string]bool{}
		ids = ids[:0]
		for _, a := range m["deliveries"].([]any) {
			if id := a.(map[string]any)["id"].(string); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(ids) > want {
			t.Fatalf("run %v owes %d deliveries, want %d", run["runId"], len(ids), want)
		}
		return len(ids) == want
	})
	return ids
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
		// What the run raised is what it owes (every event subscribed).
		s.deliveryIDs(t, run, len(st.events))
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
	if code, _ := s.call(t, "GET", "/monitors/"+id2, nil); code != 404 {
		t.Fatalf("deleted monitor: %d", code)
	}
	if code, m := s.call(t, "DELETE", "/monitors/"+id, nil); code != 200 {
		t.Fatalf("delete: %d %v", code, m)
	}
	n := len(hooks.deliveries())
	time.Sleep(1500 * time.Millisecond) // a tick after the deletions
	for _, d := range hooks.deliveries() {
		if d.Header.Get("Errand-Monitor-Id") == id2 {
			t.Fatalf("the monitor deleted mid-run notified: %s", d.Body)
		}
	}
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

// TestMonitorLoginKeptBetweenRuns: a monitor whose page needs a login, in
// real Chromium with the fake model: the first run signs in with the
// task's secrets; the next runs, on a fresh browser context each time and
// across a restart of the server, start logged in (cookies and local
// storage restored from the store) and never post the login form again.
// What is stored of them is sealed: the session cookie's value is nowhere
// in the data folder.
func TestMonitorLoginKeptBetweenRuns(t *testing.T) {
	needChromium(t)
	const email, password, cookie = "ada@shop.example", "s3cret-Pa55-word", "sess-7f3a9c21b4e8d6"
	var mu sync.Mutex
	logins := 0
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Sign in</title></head><body><h1>Sign in</h1>
<form method=post action=/login><label>Email <input name=email type=email></label>
<label>Password <input name=password type=password></label><button type=submit>Sign in</button></form></body></html>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("email") != email || r.PostForm.Get("password") != password {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		mu.Lock()
		logins++
		mu.Unlock()
		// A session cookie (no expiry): kept between runs too.
		http.SetCookie(w, &http.Cookie{Name: "session", Value: cookie, Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err != nil || c.Value != cookie {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		// The page counts its visits in local storage.
		fmt.Fprint(w, `<html><head><title>Orders</title></head><body><h1>Your orders</h1><p>3 open orders.</p>
<p id=visits></p><script>const n = Number(localStorage.getItem("visits") || 0) + 1;
localStorage.setItem("visits", String(n)); document.getElementById("visits").textContent = "Visit " + n;</script></body></html>`)
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	answer := func(r modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "3 open orders"}}}}
	}
	fake := modeltest.New(t, signIn(t, 500, 20), answer)
	data := t.TempDir()
	args := []string{"--browser", "auto", "--model-url", fake.URL, "--model", "fake-model"}
	s := startServer(t, data, args...)
	id := s.createMonitor(t, map[string]any{
		"name": "orders", "schedule": "@hourly", "paused": true,
		"task": map[string]any{"taskDetails": "How many open orders do I have?", "startingPoint": site.URL + "/account", "replay": "off",
			"secrets": []map[string]any{{"match": "127.0.0.1", "fields": map[string]string{"email": email, "password": password}}}},
	})
	run := s.runMonitor(t, id)
	if run["status"] != "completed" {
		t.Fatalf("first run: %v", run)
	}
	first := len(fake.Requests())
	if !strings.Contains(fake.Requests()[0].Body.Last(), "Sign in") {
		t.Fatalf("the first run did not start on the login page:\n%s", fake.Requests()[0].Body.Last())
	}

	// The second run: a fresh browser context, the storage restored.
	fake.Append(answer)
	if run = s.runMonitor(t, id); run["status"] != "completed" {
		t.Fatalf("second run: %v", run)
	}
	view := fake.Requests()[first].Body.Last()
	if !strings.Contains(view, "3 open orders") || !strings.Contains(view, "Visit 2") {
		t.Fatalf("the second run did not start logged in with its local storage:\n%s", view)
	}

	// After a restart: the browser is new, the storage comes from the store.
	s.stop(t)
	s = startServer(t, data, args...)
	fake.Append(answer)
	second := len(fake.Requests())
	if run = s.runMonitor(t, id); run["status"] != "completed" {
		t.Fatalf("run after the restart: %v", run)
	}
	if view := fake.Requests()[second].Body.Last(); !strings.Contains(view, "3 open orders") || !strings.Contains(view, "Visit 3") {
		t.Fatalf("after a restart the run did not start logged in:\n%s", view)
	}
	mu.Lock()
	defer mu.Unlock()
	if logins != 1 {
		t.Errorf("the login form was posted %d times over three runs, want once", logins)
	}
	s.stop(t)
	for _, secret := range []string{cookie, password} {
		if f := fileContaining(t, data, secret); f != "" {
			t.Errorf("%q is stored in clear in %s", secret, f)
		}
	}
}

// fileContaining names a file under dir that contains s, or "".
func fileContaining(t *testing.T, dir, s string) string {
	t.Helper()
	var found string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
			found = p
		}
		return nil
	})
	return found
}

// runsOf lists a monitor's whole history, newest first.
func (s *server) runsOf(t *testing.T, id string) []map[string]any {
	t.Helper()
	code, m := s.call(t, "GET", "/monitors/"+id+"/runs?limit=200", nil)
	if code != 200 {
		t.Fatalf("runs: %d %v", code, m)
	}
	var out []map[string]any
	for _, r := range m["runs"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

func tsOf(t *testing.T, v any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, v.(string))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestMonitorSIGKILL: errand SIGKILLed in the middle of a run, and again
// while a monitor is due. After each restart the interrupted run is run
// again and settled once (its notification owed once), and the monitor
// due during the downtime runs once, not once per missed tick.
func TestMonitorSIGKILL(t *testing.T) {
	data := t.TempDir()
	hooks := newReceiver(t, nil)
	slow := newSlowShop(t)
	p := startProc(t, data, "--monitor-min-interval", "1s")
	id := p.createMonitor(t, map[string]any{
		"name": "interrupted", "schedule": "@hourly", "paused": true, "task": priceTask(slow.URL),
		"webhook": map[string]any{"name": "w", "url": hooks.URL, "submittedData": "just_ping"},
		"notify":  map[string]any{"on": "every_run", "firstRun": "notify"},
	})
	code, m := p.call(t, "POST", "/monitors/"+id+"/run", nil)
	if code != 200 {
		t.Fatalf("run: %d %v", code, m)
	}
	<-slow.entered // the run is loading the page
	p.kill()
	close(slow.release)
	p = startProc(t, data, "--monitor-min-interval", "1s")
	task := p.waitTask(t, m["sessionId"].(string), m["taskId"].(string))
	if task["type"] != "task_completed" {
		t.Fatalf("the interrupted run after the restart: %v", task)
	}
	runs := p.runsOf(t, id)
	if len(runs) != 1 || runs[0]["status"] != "completed" || len(runs[0]["events"].([]any)) != 1 {
		t.Fatalf("after the restart: runs %v", runs)
	}
	if p.monitor(t, id)["running"] != false {
		t.Fatal("the monitor still runs its settled run")
	}

	// Due during the downtime: a 2-second schedule, the node down for
	// several ticks.
	shop := newShop(t, "10.00")
	id2 := p.createMonitor(t, map[string]any{
		"name": "due while down", "schedule": "@every 2s", "task": priceTask(shop.URL),
		"webhook": map[string]any{"name": "w", "url": hooks.URL, "submittedData": "just_ping"},
		"notify":  map[string]any{"on": "every_run", "firstRun": "notify"},
	})
	waitFor(t, "a scheduled run", 20*time.Second, func() bool {
		rs := p.runsOf(t, id2)
		return len(rs) > 0 && rs[len(rs)-1]["status"] == "completed"
	})
	p.kill()
	time.Sleep(5 * time.Second) // at least two ticks missed
	restart := time.Now()
	p = startProc(t, data, "--monitor-min-interval", "1s")
	var after []map[string]any
	waitFor(t, "the catch-up run", 20*time.Second, func() bool {
		after = nil
		for _, r := range p.runsOf(t, id2) {
			if tsOf(t, r["runAt"]).After(restart) {
				after = append(after, r)
			}
		}
		return len(after) > 0 && after[len(after)-1]["status"] == "completed"
	})
	missed := 0
	for _, r := range after {
		if tsOf(t, r["dueAt"]).Before(restart) {
			missed++
		}
	}
	if missed != 1 {
		t.Fatalf("%d runs after the restart were for ticks missed during the downtime, want 1 catch-up: %v", missed, after)
	}

	// Every completed run owes one notification, and each arrives.
	owed := map[string]bool{}
	for _, mid := range []string{id, id2} {
		for _, r := range p.runsOf(t, mid) {
			if r["status"] != "completed" {
				continue
			}
			owed[p.deliveryIDs(t, r, 1)[0]] = true
		}
	}
	waitFor(t, "every owed notification", 20*time.Second, func() bool {
		got := map[string]bool{}
		for _, d := range hooks.deliveries() {
			got[d.Header.Get("webhook-id")] = true
		}
		for id := range owed {
			if !got[id] {
				return false
			}
		}
		return true
	})
}

// TestMonitorsThreeNodes: monitors on three nodes sharing one PostgreSQL,
// each node's scheduler claiming due monitors every quarter second: every
// tick of every monitor runs once (on whichever node claimed it), every
// run's notification is sent once, and a price change is notified once per
// monitor, whatever node ran the run that saw it.
func TestMonitorsThreeNodes(t *testing.T) {
	db := pg.NewDatabase(t)
	env := map[string]string{"ERRAND_SECRETS_KEY": "q2Vb0mUe0V1x8yqgk8yq3h2bq1hQ3oQm5n3lX5C2mJk="}
	hooks := newReceiver(t, nil)
	shop := newShop(t, "30.00")
	var nodes []*server
	for range 3 {
		nodes = append(nodes, startServerEnv(t, "", env, "--database-url", db, "--monitor-min-interval", "1s"))
	}
	const each = 8
	var everyRun, onChange []string
	for i := range 2 * each {
		body := map[string]any{
			"name": fmt.Sprintf("m%d", i), "schedule": "@every 1s", "task": priceTask(shop.URL),
			"webhook": map[string]any{"name": "w", "url": hooks.URL, "auth": "Bearer shared-secret", "submittedData": "just_ping"},
		}
		if i < each {
			body["notify"] = map[string]any{"on": "every_run"}
		}
		id := nodes[i%3].createMonitor(t, body)
		if i < each {
			everyRun = append(everyRun, id)
		} else {
			onChange = append(onChange, id)
		}
	}
	// Let every monitor run a few times, then change the price once.
	waitFor(t, "three runs of every monitor", 60*time.Second, func() bool {
		for _, id := range append(append([]string{}, everyRun...), onChange...) {
			if nodes[0].monitor(t, id)["runs"].(float64) < 3 {
				return false
			}
		}
		return true
	})
	shop.set("25.00", 200)
	waitFor(t, "every change-monitor's notification", 60*time.Second, func() bool {
		n := 0
		for _, d := range hooks.deliveries() {
			for _, id := range onChange {
				if d.Header.Get("Errand-Monitor-Id") == id {
					n++
				}
			}
		}
		return n >= each
	})
	for i, id := range append(append([]string{}, everyRun...), onChange...) {
		if code, m := nodes[i%3].call(t, "PATCH", "/monitors/"+id, map[string]any{"paused": true}); code != 200 {
			t.Fatalf("pause: %d %v", code, m)
		}
	}
	waitFor(t, "the last runs to end", 60*time.Second, func() bool {
		for _, id := range append(append([]string{}, everyRun...), onChange...) {
			if nodes[1].monitor(t, id)["running"] != false {
				return false
			}
		}
		return true
	})

	owed := map[string]string{} // webhook-id -> monitor
	for _, id := range append(append([]string{}, everyRun...), onChange...) {
		runs := nodes[2].runsOf(t, id)
		ticks := map[string]bool{}
		changed := 0
		for _, r := range runs {
			due := r["dueAt"].(string)
			if ticks[due] {
				t.Errorf("monitor %s: the tick %s ran twice", id, due)
			}
			ticks[due] = true
			if r["status"] != "completed" {
				t.Errorf("monitor %s: run %v", id, r)
				continue
			}
			if len(r["events"].([]any)) > 0 {
				owed[nodes[2].deliveryIDs(t, r, 1)[0]] = id
			}
			if r["changed"] == true {
				changed++
			}
		}
		if slices.Contains(onChange, id) && changed != 1 {
			t.Errorf("monitor %s saw the price change %d times, want once", id, changed)
		}
	}
	waitFor(t, "every owed notification", 30*time.Second, func() bool { return len(hooks.deliveries()) >= len(owed) })
	got := map[string]int{}
	for _, d := range hooks.deliveries() {
		got[d.Header.Get("webhook-id")]++
		if d.Header.Get("Authorization") != "Bearer shared-secret" {
			t.Errorf("a notification without its auth (sealed on one node, sent by another): %v", d.Header)
		}
	}
	for id, n := range got {
		if n != 1 || owed[id] == "" {
			t.Errorf("webhook-id %s received %d times (owed: %q)", id, n, owed[id])
		}
	}
	if len(got) != len(owed) {
		t.Errorf("%d notifications received, %d owed", len(got), len(owed))
	}
	t.Logf("%d monitors on 3 nodes: %d notifications, each once", 2*each, len(owed))
}
