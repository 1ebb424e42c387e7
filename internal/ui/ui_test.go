package ui_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/ui"
)

const (
	keyA = "key-of-tenant-a"
	keyB = "errand_key-of-tenant-b"
)

// dash is the dashboard on a real SQLite store, next to the API as serve
// wires them; its engine is not started (tasks stay as the test puts them).
type dash struct {
	h     http.Handler
	st    store.Store
	eng   *engine.Engine
	clock *time.Time
}

func newDash(t *testing.T) *dash {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "errand.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateKey(t.Context(), store.Key{ID: "key_b", Name: "b", TenantID: "tenant_b", Hash: httpapi.HashKey(keyB), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := &dash{st: st, clock: &now}
	d.eng = engine.New(engine.Config{Store: st, Prices: engine.DefaultPrices})
	keys := &httpapi.Keys{Store: st, Bootstrap: keyA}
	api := httpapi.NewHandler(httpapi.Deps{Engine: d.eng, Store: st, Policy: netguard.New(netguard.Config{}), Keys: keys})
	h, err := ui.New(ui.Deps{Engine: d.eng, Keys: keys, API: api, Now: func() time.Time { return *d.clock }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", h)
	mux.Handle("/", api)
	d.h = mux
	return d
}

// browser is a cookie jar in front of the handler.
type browser struct {
	t       *testing.T
	d       *dash
	cookies map[string]*http.Cookie
	header  http.Header
}

func (d *dash) browser(t *testing.T) *browser {
	return &browser{t: t, d: d, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

func (b *browser) do(method, path string, form url.Values) *http.Response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	for k, v := range b.header {
		req.Header[k] = v
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.d.h.ServeHTTP(rec, req)
	res := rec.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return res
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs b in with key and returns the page's CSRF token.
func (b *browser) login(key string) string {
	b.t.Helper()
	if _, ok := b.cookies["errand_ui"]; ok {
		b.do("POST", "/ui/logout", url.Values{"csrf": {csrfField.FindStringSubmatch(body(b.t, b.do("GET", "/ui/tasks", nil)))[1]}})
	}
	page := body(b.t, b.do("GET", "/ui/login", nil))
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("the login page has no CSRF field:\n%s", page)
	}
	res := b.do("POST", "/ui/login", url.Values{"csrf": {m[1]}, "key": {key}, "next": {"/ui/tasks"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/tasks" {
		b.t.Fatalf("login: %d %s", res.StatusCode, body(b.t, res))
	}
	page = body(b.t, b.do("GET", "/ui/tasks", nil))
	m = csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("the tasks page has no CSRF field:\n%s", page)
	}
	return m[1]
}

func TestSecurityHeaders(t *testing.T) {
	d := newDash(t)
	b := d.browser(t)
	for _, path := range []string{"/ui/login", "/ui/tasks", "/ui/static/ui.css", "/ui/nope"} {
		res := b.do("GET", path, nil)
		if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") || !strings.Contains(got, "script-src 'self'") || strings.Contains(got, "unsafe") {
			t.Errorf("%s: CSP %q", path, got)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, res.Header)
		}
	}
}

// Nothing the dashboard serves loads from elsewhere: no external fonts,
// scripts, styles or images, and no inline script or style.
func TestNoExternalResources(t *testing.T) {
	d := newDash(t)
	b := d.browser(t)
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//|@import|url\(\s*['"]?(https?:)?//|<script>|<style|style="|\son[a-z]+="`)
	for _, path := range []string{"/ui/login", "/ui/static/ui.css", "/ui/static/ui.js"} {
		res := b.do("GET", path, nil)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		if m := external.FindString(body(t, res)); m != "" {
			t.Errorf("%s refers outside the server or inline: %q", path, m)
		}
	}
	if res := b.do("GET", "/ui/static/ui.js", nil); res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("ui.js served as %q", res.Header.Get("Content-Type"))
	}
}

func TestLoginLogout(t *testing.T) {
	d := newDash(t)
	b := d.browser(t)

	// Not logged in: pages go to the login, scripts get a 401.
	res := b.do("GET", "/ui/tasks?status=failed", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login?next=%2Fui%2Ftasks%3Fstatus%3Dfailed" {
		t.Fatalf("not logged in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	b.header.Set("X-Requested-With", "fetch")
	if res := b.do("GET", "/ui/tasks/s/t/parts/steps", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a script's request, not logged in: %d", res.StatusCode)
	}
	b.header.Del("X-Requested-With")

	page := body(t, b.do("GET", "/ui/login", nil))
	if !strings.Contains(page, `type="password"`) || !strings.Contains(page, `name="key"`) {
		t.Fatalf("the login form has no password field for the key:\n%s", page)
	}
	tok := csrfField.FindStringSubmatch(page)[1]

	// The login form needs its token.
	if res := b.do("POST", "/ui/login", url.Values{"key": {keyA}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form's token: %d", res.StatusCode)
	}
	if res := b.do("POST", "/ui/login", url.Values{"key": {keyA}, "csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("login with a forged token: %d", res.StatusCode)
	}
	if _, ok := b.cookies["errand_ui"]; ok {
		t.Fatal("a refused login set the session cookie")
	}
	// A wrong key is refused.
	res = b.do("POST", "/ui/login", url.Values{"key": {"nope"}, "csrf": {tok}})
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body(t, res), "That API key is not valid.") {
		t.Errorf("a wrong key: %d", res.StatusCode)
	}
	// The right one: a sealed, HttpOnly, SameSite=Strict cookie.
	res = b.do("POST", "/ui/login", url.Values{"key": {keyA}, "csrf": {tok}, "next": {"//evil.example/x"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/tasks" {
		t.Fatalf("login (with an outside next): %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	c := b.cookies["errand_ui"]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/ui/" || strings.Contains(c.Value, keyA) {
		t.Fatalf("session cookie = %+v", c)
	}
	if res := b.do("GET", "/ui/tasks", nil); res.StatusCode != 200 {
		t.Fatalf("logged in: %d", res.StatusCode)
	}

	// A cookie that was changed is no login.
	saved := *c
	forged := *c
	forged.Value = strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return r
	}, forged.Value[:len(forged.Value)-4]) + "AAAA"
	b.cookies["errand_ui"] = &forged
	if res := b.do("GET", "/ui/tasks", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("an altered cookie: %d", res.StatusCode)
	}
	b.cookies["errand_ui"] = &saved

	// Logging out needs the token, then ends the login.
	csrf := b.login(keyA)
	if res := b.do("POST", "/ui/logout", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without the token: %d", res.StatusCode)
	}
	if res := b.do("GET", "/ui/tasks", nil); res.StatusCode != 200 {
		t.Errorf("a refused logout ended the login: %d", res.StatusCode)
	}
	if res := b.do("POST", "/ui/logout", url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", res.StatusCode)
	}
	if res := b.do("GET", "/ui/tasks", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", res.StatusCode)
	}

	// Over TLS (here, behind a proxy that says so) the cookie is Secure.
	b.header.Set("X-Forwarded-Proto", "https")
	b.login(keyA)
	if c := b.cookies["errand_ui"]; !c.Secure {
		t.Errorf("over TLS the cookie is not Secure: %+v", c)
	}
}

func TestLoginExpires(t *testing.T) {
	d := newDash(t)
	b := d.browser(t)
	b.login(keyA)
	*d.clock = d.clock.Add(12*time.Hour + time.Second)
	if res := b.do("GET", "/ui/tasks", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a login past its 12 hours: %d", res.StatusCode)
	}
}

func testJPEG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 64, 45)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// finished makes a completed task of tenant with one step and its
// screenshot, and a delivery with one attempt.
func (d *dash) finished(t *testing.T, tenant string) task.Task {
	t.Helper()
	ctx := t.Context()
	tk, err := d.eng.RunTask(ctx, tenant, task.Spec{TaskDetails: "Read the price of " + tenant, StartingPoint: "https://shop.example/p", OutputType: task.OutputText})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.st.AppendStep(ctx, tk.ID, task.Step{N: 1, Action: "navigate", Args: json.RawMessage(`{"url":"https://shop.example/p"}`), URL: "https://shop.example/p",
		Screenshot: &task.Screenshot{JPEG: testJPEG(t), Width: 64, Height: 45}}); err != nil {
		t.Fatal(err)
	}
	dl := task.Delivery{ID: task.NewID("msg"), TaskID: tk.ID, SessionID: tk.SessionID, TenantID: tenant, Event: task.EventCompleted,
		URL: "https://hooks.example/in?token=s3cret", Auth: "Bearer hook-secret", Body: []byte(`{}`), MaxAttempts: 1, State: task.DeliveryPending, CreatedAt: time.Now()}
	if err := d.st.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "$29.99 for " + tenant}, At: time.Now(), Deliveries: []task.Delivery{dl}}); err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTenantIsolation(t *testing.T) {
	d := newDash(t)
	mine := d.finished(t, httpapi.BootstrapTenant)
	theirs := d.finished(t, "tenant_b")
	b := d.browser(t)
	csrf := b.login(keyA)

	list := body(t, b.do("GET", "/ui/tasks", nil))
	if !strings.Contains(list, mine.ID) || strings.Contains(list, theirs.ID) {
		t.Errorf("the task list: mine %v, theirs %v", strings.Contains(list, mine.ID), strings.Contains(list, theirs.ID))
	}
	for _, q := range []string{"/ui/tasks?q=" + theirs.ID, "/ui/sessions", "/ui/sessions?q=" + theirs.SessionID} {
		// The search box shows what was searched; no row may.
		page := body(t, b.do("GET", q, nil))
		if strings.Contains(page, "/"+theirs.ID+`"`) || strings.Contains(page, "/"+theirs.SessionID+`"`) || strings.Contains(page, "Read the price of tenant_b") {
			t.Errorf("%s shows the other tenant's", q)
		}
		if strings.Contains(q, "?q=") && !strings.Contains(page, "matches.") {
			t.Errorf("%s: no 'matches' notice", q)
		}
	}
	page := body(t, b.do("GET", "/ui/tasks/"+mine.SessionID+"/"+mine.ID, nil))
	for _, want := range []string{"$29.99 for " + httpapi.BootstrapTenant, `src="/ui/tasks/` + mine.SessionID + "/" + mine.ID + `/screenshots/1"`, "Redeliver", "https://hooks.example/in?…"} {
		if !strings.Contains(page, want) {
			t.Errorf("my task's page lacks %q", want)
		}
	}
	for _, secret := range []string{"s3cret", "hook-secret"} {
		if strings.Contains(page, secret) {
			t.Errorf("the task page shows %q", secret)
		}
	}
	if res := b.do("GET", "/ui/tasks/"+mine.SessionID+"/"+mine.ID+"/screenshots/1", nil); res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("my screenshot: %d", res.StatusCode)
	}

	base := "/ui/tasks/" + theirs.SessionID + "/" + theirs.ID
	for _, path := range []string{base, base + "/parts/steps", base + "/parts/deliveries", base + "/screenshots/1", base + "/trace.zip", "/ui/sessions/" + theirs.SessionID} {
		res := b.do("GET", path, nil)
		if page := body(t, res); res.StatusCode != http.StatusNotFound || strings.Contains(page, "tenant_b") {
			t.Errorf("GET %s as another tenant: %d", path, res.StatusCode)
		}
	}
	if res := b.do("POST", base+"/redeliver", url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("redeliver another tenant's task: %d", res.StatusCode)
	}
	ds, _ := d.st.TaskDeliveries(t.Context(), theirs.ID)
	if ds[0].State != task.DeliveryPending || ds[0].Attempts != 0 {
		t.Errorf("the other tenant's delivery changed: %+v", ds[0])
	}
}

func TestActionsNeedTheToken(t *testing.T) {
	d := newDash(t)
	mine := d.finished(t, httpapi.BootstrapTenant)
	b := d.browser(t)
	csrf := b.login(keyA)
	path := "/ui/tasks/" + mine.SessionID + "/" + mine.ID + "/redeliver"
	for name, form := range map[string]url.Values{"no token": {}, "a forged token": {"csrf": {"x" + csrf}}} {
		res := b.do("POST", path, form)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body(t, res), "CSRF") {
			t.Errorf("redeliver with %s: %d", name, res.StatusCode)
		}
	}
	// Another login's token is not this one's.
	other := d.browser(t)
	otherToken := other.login(keyA)
	if res := b.do("POST", path, url.Values{"csrf": {otherToken}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("redeliver with another login's token: %d", res.StatusCode)
	}
	// A cross-site post is refused even with the token.
	b.header.Set("Sec-Fetch-Site", "cross-site")
	if res := b.do("POST", path, url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site post: %d", res.StatusCode)
	}
	b.header.Del("Sec-Fetch-Site")
	// With the token, by a form: the redelivery is queued and the page
	// comes back; by a script (header token): 202.
	res := b.do("POST", path, url.Values{"csrf": {csrf}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "#deliveries") {
		t.Errorf("redeliver: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	b.header.Set("X-CSRF-Token", csrf)
	if res := b.do("POST", path, nil); res.StatusCode != http.StatusAccepted {
		t.Errorf("redeliver by script: %d", res.StatusCode)
	}
}

// The static files embedded are the ones served.
func TestStaticFiles(t *testing.T) {
	d := newDash(t)
	b := d.browser(t)
	for _, name := range []string{"ui.css", "ui.js", "favicon.svg"} {
		if res := b.do("GET", "/ui/static/"+name, nil); res.StatusCode != 200 || res.Header.Get("Cache-Control") == "" {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
}
