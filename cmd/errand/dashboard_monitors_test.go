package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The dashboard's monitors pages in real Chromium: a monitor's runs with
// the change of price they found and a link to each run's task; another
// tenant's monitor is nowhere; pages saved at 1280 and 390 px.
func TestDashboardMonitors(t *testing.T) {
	needChromium(t)
	data := t.TempDir()
	otherKey := storedKey(t, data)
	sh := newShop(t, "29.99")
	srv := startServer(t, data)
	id := srv.createMonitor(t, map[string]any{"name": "Anvil price", "schedule": "@every 1h", "task": priceTask(sh.URL)})
	srv.runMonitor(t, id)
	sh.set("24.50", 200)
	changed := srv.runMonitor(t, id)
	if changed["changed"] != true {
		t.Fatalf("the second run: %v", changed)
	}
	code, m := srv.callKey(t, otherKey, "POST", "/monitors", map[string]any{"name": "Their monitor", "schedule": "@every 1h", "task": priceTask(sh.URL)})
	if code != 200 {
		t.Fatalf("other tenant's monitor: %d %v", code, m)
	}
	theirs := m["monitorId"].(string)

	b, watch := newPilot(t)
	ctx := b.ctx
	dir := artifactsDir(t)
	b.do("open", chromedp.Navigate(srv.URL+"/ui/monitors"))
	b.do("login form", chromedp.WaitVisible(chromedp.ID("key")))
	b.do("log in", chromedp.SendKeys(chromedp.ID("key"), testKey), chromedp.Submit(chromedp.ID("key")))
	b.waitURL("/ui/monitors")
	watch.set(true)
	b.do("list", chromedp.WaitVisible(chromedp.CSS("table.list")))
	if page := b.text(); !strings.Contains(page, "Anvil price") || strings.Contains(page, "Their monitor") || !strings.Contains(page, "@every 1h") {
		t.Errorf("monitors page: %s", page)
	}
	b.shoot(dir, "monitors")
	b.do("open", chromedp.Click(chromedp.CSS(`a[href="/ui/monitors/`+id+`"]`)), chromedp.WaitVisible(chromedp.CSS("ol.runs")))
	page := b.text()
	for _, want := range []string{"Anvil price", "changed", "/price", "29.99", "24.5", "monitor.changed"} {
		if !strings.Contains(page, want) {
			t.Errorf("the monitor page lacks %q:\n%s", want, page)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('ol.runs > li').length`); n != 2 {
		t.Errorf("%d runs shown, want 2", n)
	}
	b.shoot(dir, "monitor")
	// A run's task opens on its trace.
	b.do("run's task", chromedp.Click(chromedp.CSS(`ol.runs > li a[href^="/ui/tasks/"]`)), chromedp.WaitVisible(chromedp.ID("steps")))
	if page := b.text(); !strings.Contains(page, "24.5") {
		t.Errorf("the newest run's task page: %s", page)
	}
	if errs := watch.take(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	watch.set(false)
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(srv.URL+"/ui/monitors/"+theirs))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 404 || strings.Contains(b.text(), "Their monitor") {
		t.Errorf("another tenant's monitor: %d %s", resp.Status, b.text())
	}
}
