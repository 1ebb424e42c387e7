package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/errandhq/errand/internal/browser"
)

// The dashboard's monitors pages in real Chromium: a monitor's runs with
// the change of price they found and a link to each run's task; another
// tenant's monitor is nowhere; pages saved at 1280 and 390 px.
func TestDashboardMonitors(t *testing.T) {
	needChromium(t)
	exe, _ := browser.FindChromium()
	data := t.TempDir()
	var out, errOut syncBuffer
	if err := run(t.Context(), []string{"keys", "create", "--name", "other", "--data", data}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("keys create: %v %s", err, errOut.String())
	}
	otherKey := strings.TrimSpace(out.String())
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

	actx, cancelA := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	b := &pilot{t: t, ctx: ctx}
	b.do("viewport", chromedp.EmulateViewport(1280, 900)) // starts the browser, before anything else uses it
	watch := &consoleWatch{}
	go watch.follow(ctx)
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
