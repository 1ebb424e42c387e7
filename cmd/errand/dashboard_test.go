package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model/modeltest"
)

// The dashboard's shop: a product page with a link to its details.
func dashboardSite(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /product", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Acme Anvil</title></head><body style="font:20px sans-serif;margin:40px">
<h1>Acme Anvil</h1><p>Forged steel, 50 kg. <strong>$29.99</strong></p><p><a href="/details">Shipping details</a></p></body></html>`)
	})
	mux.HandleFunc("GET /details", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Shipping</title></head><body style="font:20px sans-serif;margin:40px;background:#eef">
<h1>Shipping</h1><p>Ships in 2 days to the EU and the US.</p></body></html>`)
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site
}

// consoleWatch collects what the page logs as an error (console errors,
// uncaught exceptions, refused resources and CSP violations) while on.
type consoleWatch struct {
	mu   sync.Mutex
	on   bool
	errs []string
}

// follow reads the tab's console until ctx ends.
func (c *consoleWatch) follow(ctx context.Context) {
	for m, err := range chromedp.Console(ctx) {
		if err != nil {
			return
		}
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
			continue
		}
		c.mu.Lock()
		if c.on {
			c.errs = append(c.errs, m.String()+" "+m.URL)
		}
		c.mu.Unlock()
	}
}

func (c *consoleWatch) set(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = on
}

func (c *consoleWatch) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.errs
	c.errs = nil
	return out
}

// artifactsDir is where the dashboard's screenshots go: ERRAND_ARTIFACTS
// if set (e.g. artifacts/, which git ignores), else a temporary folder.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("ERRAND_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, "dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshots in %s", dir)
	return dir
}

// The dashboard in real Chromium: log in with a key, see a finished task
// and its trace with every screenshot loaded, redeliver and see the new
// attempt without reloading, follow a running task live, and see another
// tenant's task nowhere; a wrong key and an action without the CSRF token
// are refused; no console errors; pages at 1280 and 390 px saved.
func TestDashboard(t *testing.T) {
	needChromium(t)
	data := t.TempDir()
	otherKey := storedKey(t, data)

	site := dashboardSite(t)
	release := make(chan struct{})
	fake := modeltest.New(t,
		// Task A: open the details, then answer.
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elemID(t, r.Body.Last(), `<a [^>]*>Shipping details`)}}}, PromptTokens: 1200, CompletionTokens: 30}
		},
		modeltest.ToolCall("done", map[string]string{"answer": "Ships in 2 days to the EU and the US."}),
		// Task B, the other tenant's.
		modeltest.ToolCall("done", map[string]string{"answer": "Theirs: $29.99"}),
		// Task C: runs until the test lets it answer.
		func(r modeltest.Request) modeltest.Reply {
			<-release
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "Acme Anvil costs $29.99"}}}, PromptTokens: 900, CompletionTokens: 12}
		},
	)
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	rc := newReceiver(t, nil)
	srv := startServer(t, data, "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")

	runTask := func(key, details string) (string, string) {
		t.Helper()
		code, m := srv.callKey(t, key, "POST", "/start/run-task", map[string]any{
			"taskDetails": details, "startingPoint": site.URL + "/product",
			"webhook": map[string]any{"name": "shop", "url": rc.URL + "/hook?token=abc", "submittedData": "just_ping"},
		})
		if code != 200 {
			t.Fatalf("run-task: %d %v", code, m)
		}
		return m["sessionId"].(string), m["taskId"].(string)
	}
	sidA, tidA := runTask(testKey, "Find the shipping time of the Acme Anvil")
	if p := srv.waitTask(t, sidA, tidA); p["type"] != "task_completed" {
		t.Fatalf("task A: %v", p)
	}
	rc.waitN(t, 1, 20*time.Second)
	sidB, tidB := runTask(otherKey, "The other tenant's task")
	for {
		_, m := srv.callKey(t, otherKey, "GET", "/task/"+sidB+"/"+tidB, nil)
		if m["type"] == "task_completed" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rc.waitN(t, 2, 20*time.Second)
	sidC, tidC := runTask(testKey, "Read the price of the Acme Anvil")
	waitStep(t, srv, sidC, tidC)

	// The person's browser.
	b, watch := newPilot(t)
	ctx := b.ctx
	dir := artifactsDir(t)

	// Not logged in: the dashboard sends to the login.
	b.do("open", chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("key")))
	if !strings.Contains(b.location(), "/ui/login") {
		t.Fatalf("not logged in, /ui/ shows %s", b.location())
	}
	watch.set(true)
	b.shoot(dir, "login")

	// A wrong key is refused (a 401 page: its load is not a script error).
	watch.set(false)
	b.do("wrong key", chromedp.SendKeys(chromedp.ID("key"), "errand_not-a-key"), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(".message")))
	if !strings.Contains(b.text(), "That API key is not valid.") || !strings.Contains(b.location(), "/ui/login") {
		t.Fatalf("a wrong key: %s at %s", b.text(), b.location())
	}
	b.do("a wrong key is no login", chromedp.Navigate(srv.URL+"/ui/tasks"), chromedp.WaitVisible(chromedp.ID("key")))
	watch.take()
	watch.set(true)

	// Log in.
	b.do("log in", chromedp.SendKeys(chromedp.ID("key"), testKey), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS("table.list")))
	if !strings.HasSuffix(b.location(), "/ui/tasks") {
		t.Errorf("after login: %s", b.location())
	}
	cookies := browserCookies(t, ctx)
	if c := cookies["errand_ui"]; c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Value == "" || strings.Contains(c.Value, testKey) {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Strict, the key not readable", c)
	}
	page := b.text()
	for _, want := range []string{tidA, tidC, "completed", "running"} {
		if !strings.Contains(page, want) {
			t.Errorf("the task list lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, tidB) || strings.Contains(page, sidB) {
		t.Errorf("the task list shows the other tenant's task")
	}
	b.shoot(dir, "tasks")

	// Filters and search.
	b.do("filter completed", chromedp.Navigate(srv.URL+"/ui/tasks?status=completed"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	if page := b.text(); !strings.Contains(page, tidA) || strings.Contains(page, tidC) {
		t.Errorf("status=completed lists: %s", page)
	}
	b.do("search", chromedp.Navigate(srv.URL+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS("input[name=q]")),
		chromedp.SendKeys(chromedp.CSS("input[name=q]"), tidC[:12]), chromedp.Submit(chromedp.CSS("input[name=q]")))
	b.waitURL("q=" + tidC[:12])
	b.do("results", chromedp.WaitVisible(chromedp.CSS("table.list")))
	if page := b.text(); !strings.Contains(page, tidC) || strings.Contains(page, tidA) {
		t.Errorf("search by id prefix lists: %s", page)
	}
	b.do("search the other tenant", chromedp.Navigate(srv.URL+"/ui/tasks?q="+tidB), chromedp.WaitVisible(chromedp.CSS("main")))
	if page := b.text(); strings.Contains(page, tidB) || !strings.Contains(page, "No task matches") {
		t.Errorf("searching the other tenant's task id: %s", page)
	}
	b.do("sessions", chromedp.Navigate(srv.URL+"/ui/sessions"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	if page := b.text(); !strings.Contains(page, sidA) || strings.Contains(page, sidB) {
		t.Errorf("sessions page: %s", page)
	}
	b.shoot(dir, "sessions")
	b.do("a session", chromedp.Navigate(srv.URL+"/ui/sessions/"+sidA), chromedp.WaitVisible(chromedp.CSS("table.list")))
	if page := b.text(); !strings.Contains(page, tidA) {
		t.Errorf("session page: %s", page)
	}
	b.shoot(dir, "session")

	// The finished task: its answer, its steps, every screenshot loaded.
	b.do("task page", chromedp.Navigate(srv.URL+"/ui/tasks/"+sidA+"/"+tidA), chromedp.WaitVisible(chromedp.ID("steps")))
	page = b.text()
	for _, want := range []string{"Ships in 2 days to the EU and the US.", "navigate", "click", "done", "valid answer", "task_completed", "1200 in"} {
		if !strings.Contains(page, want) {
			t.Errorf("the task page lacks %q", want)
		}
	}
	if strings.Contains(page, "token=abc") {
		t.Errorf("the task page shows the webhook URL's query")
	}
	n := eval[int](b, `document.querySelectorAll('#steps img').length`)
	if n != 3 {
		t.Errorf("%d screenshots on the page, want 3 (navigate, click, done)", n)
	}
	for i := range n {
		ok := eval[bool](b, fmt.Sprintf(`(async () => {
			const img = document.querySelectorAll('#steps img')[%d];
			img.scrollIntoView();
			for (let i = 0; i < 200 && !img.complete; i++) await new Promise(r => setTimeout(r, 25));
			return img.complete && img.naturalWidth === 1280 && img.naturalHeight === 900;
		})()`, i))
		if !ok {
			t.Errorf("screenshot %d did not load as a 1280×900 image", i+1)
		}
	}
	b.shoot(dir, "task")

	// Keyboard: Tab reaches the skip link, the menu, the zip, Redeliver and
	// the screenshots.
	eval[bool](b, `window.scrollTo(0, 0); document.activeElement && document.activeElement.blur(); true`)
	var reached []string
	for range 40 {
		b.do("tab", chromedp.KeyEvent("\t"))
		reached = append(reached, eval[string](b, `(() => { const e = document.activeElement; return e.tagName + ' ' + (e.getAttribute('title') || e.textContent || '').trim().slice(0, 40); })()`))
	}
	joined := strings.Join(reached, " | ")
	for _, want := range []string{"A Skip to content", "A Tasks", "A Sessions", "BUTTON Log out", "A Download the trace", "BUTTON Redeliver", "A Open the screenshot of step 1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Tab does not reach %q; it went: %s", want, joined)
		}
	}

	// Redeliver: the new attempt shows without a reload.
	if a := eval[string](b, `window.__stay = 1; document.getElementById('deliveries').dataset.attempts`); a != "1" {
		t.Fatalf("deliveries show %s attempts, want 1", a)
	}
	b.do("redeliver", chromedp.Click(chromedp.CSS("#redeliver-form button")),
		chromedp.WaitVisible(chromedp.CSS(`#deliveries[data-attempts="2"]`)))
	if eval[int](b, `window.__stay || 0`) != 1 {
		t.Errorf("the page reloaded to show the redelivery")
	}
	rc.waitN(t, 3, 20*time.Second)
	b.do("notice", chromedp.WaitVisible(chromedp.CSS("#redeliver-status")))
	if page := b.text(); !strings.Contains(page, "The new attempt is recorded below.") {
		t.Errorf("after Redeliver: %s", page)
	}

	// The running task, followed live: the answer comes without a reload.
	b.do("running task", chromedp.Navigate(srv.URL+"/ui/tasks/"+sidC+"/"+tidC), chromedp.WaitVisible(chromedp.ID("steps")))
	eval[int](b, `window.__stay = 2`)
	if page := b.text(); !strings.Contains(page, "Running") {
		t.Errorf("a running task's page: %s", page)
	}
	b.shoot(dir, "task-running")
	releaseOnce.Do(func() { close(release) })
	b.do("live", chromedp.WaitVisible(chromedp.CSS(`#steps[data-count="2"]`)), chromedp.WaitVisible(chromedp.CSS("pre.answer")))
	if page := b.text(); eval[int](b, `window.__stay || 0`) != 2 || !strings.Contains(page, "Acme Anvil costs $29.99") {
		t.Errorf("the running task's page did not follow it without a reload: %s", page)
	}
	if errs := watch.take(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	watch.set(false)

	// Another tenant's task is nowhere: not its page, nor its images.
	for _, path := range []string{"/ui/tasks/" + sidB + "/" + tidB, "/ui/tasks/" + sidB + "/" + tidB + "/screenshots/1", "/ui/sessions/" + sidB} {
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(srv.URL+path))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 404 || strings.Contains(b.text(), "Theirs") {
			t.Errorf("%s answered %d: %s", path, resp.Status, b.text())
		}
	}

	// An action without the CSRF token is refused, with the login's cookie.
	rc.waitN(t, 4, 20*time.Second) // task C's webhook
	cookie := cookies["errand_ui"].Value
	for _, token := range []string{"", "forged"} {
		req, _ := http.NewRequest("POST", srv.URL+"/ui/tasks/"+sidA+"/"+tidA+"/redeliver", strings.NewReader("csrf="+token))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "errand_ui", Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("redeliver with csrf %q: %d, want 403", token, resp.StatusCode)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := len(rc.deliveries()); got != 4 {
		t.Errorf("the refused actions sent webhooks: %d deliveries, want 4", got)
	}

	// Log out: the dashboard asks for the key again.
	b.do("log out", chromedp.Navigate(srv.URL+"/ui/tasks"), chromedp.WaitVisible(chromedp.CSS(".logout button")),
		chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.Navigate(srv.URL+"/ui/tasks"), chromedp.WaitVisible(chromedp.ID("key")))
	if _, ok := browserCookies(t, ctx)["errand_ui"]; ok {
		t.Errorf("the session cookie survives the logout")
	}
}

// storedKey makes an API key of another tenant in the data folder, with
// errand keys create (before a server holds the store).
func storedKey(t *testing.T, data string) string {
	t.Helper()
	var out, errOut syncBuffer
	if err := run(t.Context(), []string{"keys", "create", "--name", "other", "--data", data}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("keys create: %v %s", err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// newPilot opens the person's browser, a Chromium of its own at 1280×900,
// and follows its console.
func newPilot(t *testing.T) (*pilot, *consoleWatch) {
	t.Helper()
	exe, _ := browser.FindChromium()
	actx, cancelA := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	b := &pilot{t: t, ctx: ctx}
	// The first action starts the browser; nothing else may use the
	// context before it.
	b.do("start", chromedp.EmulateViewport(1280, 900))
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	watch := &consoleWatch{}
	go watch.follow(ctx)
	return b, watch
}

// pilot drives the test's browser tab.
type pilot struct {
	t   *testing.T
	ctx context.Context
}

func (p *pilot) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](p *pilot, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func (p *pilot) text() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// waitURL waits until the page's address contains part (a form's
// submission has navigated).
func (p *pilot) waitURL(part string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.location(), part) {
		if time.Now().After(deadline) {
			p.t.Fatalf("the page stays at %s, want an address with %q", p.location(), part)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *pilot) location() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// shoot saves the page at 1280 and at 390 px wide, and checks it does not
// scroll sideways at either.
func (p *pilot) shoot(dir, name string) {
	p.t.Helper()
	for _, w := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"1280", 1280, 900, false}, {"390", 390, 844, true}} {
		var opts []chromedp.EmulateViewportOption
		if w.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		p.do("resize", chromedp.EmulateViewport(w.width, w.height, opts...), chromedp.Sleep(150*time.Millisecond))
		if sw := eval[int64](p, `document.documentElement.scrollWidth`); sw > w.width {
			p.t.Errorf("%s at %d px: the page is %d px wide (it scrolls sideways)", name, w.width, sw)
		}
		png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+w.name+".png"), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	p.do("desktop again", chromedp.EmulateViewport(1280, 900))
}

// browserCookies are the browser's cookies by name.
func browserCookies(t *testing.T, ctx context.Context) map[string]*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// waitStep waits until a task is running and has recorded a step.
func waitStep(t *testing.T, srv *server, sid, tid string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, m := srv.call(t, "GET", "/task/"+sid+"/"+tid, nil)
		if m["status"] == "running" {
			if steps, _ := m["steps"].([]any); len(steps) > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("task %s did not start", tid)
}
