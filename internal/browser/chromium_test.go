package browser_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/testenv"
)

// shared is the one browser of this test binary: launching takes a moment,
// sessions are cheap.
var shared *browser.Chromium

var chromiumMissing error

func TestMain(m *testing.M) {
	if _, err := browser.FindChromium(); err != nil {
		chromiumMissing = err
		os.Exit(m.Run())
	}
	c, err := browser.NewChromium(context.Background(), browser.ChromiumConfig{Policy: testPolicy()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared = c
	code := m.Run()
	c.Close()
	os.Exit(code)
}

// needChromium skips when no Chromium is installed at all (CI installs it).
func needChromium(tb testing.TB) *browser.Chromium {
	tb.Helper()
	if chromiumMissing != nil {
		testenv.Chromium(tb, chromiumMissing)
	}
	return shared
}

// testPolicy allows 127.0.0.1 only, so that 127.0.0.2 stands for an
// address the policy refuses, and resolves every *.test name to 127.0.0.1.
func testPolicy() *netguard.Policy {
	return netguard.New(netguard.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Resolver: netguard.ResolverFunc(func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			if strings.HasSuffix(host, ".test") {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}),
	})
}

// site serves handler on 127.0.0.1.
func site(t *testing.T, handler http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// refusedSite serves on 127.0.0.2, which testPolicy refuses, and counts
// the requests that reach it: there must be none.
func refusedSite(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listening on 127.0.0.2: %v", err)
	}
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "<p>internal secret</p>")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func html(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><html><head><meta charset=utf-8><title>Test</title></head><body>"+body+"</body></html>")
	}
}

func port(srv *httptest.Server) string {
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return p
}

func tab(t *testing.T, c *browser.Chromium, session string, avoid ...string) browser.Tab {
	t.Helper()
	tb, err := c.Tab(t.Context(), session, browser.PageOptions{AvoidDomains: avoid})
	if err != nil {
		t.Fatalf("Tab(%s): %v", session, err)
	}
	t.Cleanup(func() { c.CloseSession(session) })
	return tb
}

func observe(t *testing.T, tb browser.Tab) browser.Observation {
	t.Helper()
	obs, err := tb.Observe(t.Context(), browser.ObserveOptions{})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	return obs
}

// idOf finds the number the observation gave to the element whose
// description matches pattern (a regexp after the "[n]").
func idOf(t *testing.T, obs browser.Observation, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(`\[(\d+)\]` + pattern).FindStringSubmatch(obs.Text)
	if m == nil {
		t.Fatalf("no element matching %q in the observation:\n%s", pattern, obs.Text)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestLoaderRendersJavaScript(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", html(`<h1>Catalog</h1><ul id=list><li>loading…</li></ul>
<script>
fetch('/items.json').then(r => r.json()).then(items => {
  document.getElementById('list').innerHTML = items.map(i => '<li class=item><span class=name>' + i.name + '</span> <span class=price>' + i.price + '</span></li>').join('');
});
</script>`))
	mux.HandleFunc("GET /items.json", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // arrives after the load event
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `[{"name":"Trail Shoe","price":"$89.00"},{"name":"Rain Jacket","price":"$129.00"}]`)
	})
	srv := site(t, mux)

	page, err := browser.ChromiumLoader{Browser: c}.Fetch(t.Context(), srv.URL+"/", browser.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page.HTML), "Rain Jacket") || strings.Contains(string(page.HTML), "loading…") {
		t.Errorf("the rendered page lacks the items the script loads:\n%s", page.HTML)
	}
	if page.Status != 200 || page.URL != srv.URL+"/" {
		t.Errorf("page = %s %d, want %s/ 200", page.URL, page.Status, srv.URL)
	}
	if !visited(page.Visited, srv.URL+"/items.json") {
		t.Errorf("Visited lacks the script's request: %v", page.Visited)
	}

	// The built-in extractor answers from the rendered page.
	b := &agent.Builtin{Loader: browser.ChromiumLoader{Browser: c}}
	out := b.Run(t.Context(), agent.Request{
		Task: task.Task{Spec: task.Spec{StartingPoint: srv.URL + "/", TaskDetails: "list the products", OutputType: task.OutputText}},
		Step: func(task.Step) {},
	})
	if out.Code != "" || !strings.Contains(out.Message, "Trail Shoe") {
		t.Errorf("built-in extractor: code %q error %q message %q, want the rendered items", out.Code, out.Error, out.Message)
	}
}

func visited(list []task.NetworkURL, u string) bool {
	for _, v := range list {
		if v.URL == u {
			return true
		}
	}
	return false
}

func TestObserveAndFillForm(t *testing.T) {
	c := needChromium(t)
	got := make(chan url.Values, 1)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", html(`
<nav><a href="/">Home</a> <a href="/help">Help</a></nav>
<h1>Newsletter</h1>
<p style="display:none">hidden text must not show</p>
<form method=post action="/signup">
  <label for=email>Email</label> <input id=email name=email type=email>
  <label>Password <input name=pw type=password></label>
  <label for=size>Shirt size</label>
  <select id=size name=size><option value=s>Small</option><option value=m selected>Medium</option><option value=l>Large</option></select>
  <label><input type=checkbox name=terms value=yes> I accept the terms</label>
  <textarea name=note aria-label="Note"></textarea>
  <button type=submit>Sign up</button>
</form>
<div style="height:3000px"></div>
<p>Footer far below</p>`))
	mux.HandleFunc("POST /signup", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got <- r.PostForm
		html(`<h1>Thanks</h1><p>Welcome, `+r.PostForm.Get("email")+`</p>`)(w, r)
	})
	srv := site(t, mux)
	tb := tab(t, c, "form")
	if err := tb.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	obs := observe(t, tb)
	if obs.Title != "Test" || obs.URL != srv.URL+"/" {
		t.Errorf("observation of %q %q", obs.Title, obs.URL)
	}
	for _, want := range []string{
		`<a href=/help>Help</a>`,
		`# Newsletter`,
		`<input type=email label="Email" value="">`,
		`<input type=password label="Password" value="">`,
		`<select label="Shirt size" value="Medium">Small | Medium | Large</select>`,
		`<input type=checkbox label="I accept the terms">`,
		`<textarea label="Note" value="">`,
		`<button>Sign up</button>`,
		`px (2.6 pages) more below`,
	} {
		if !strings.Contains(obs.Text, want) {
			t.Errorf("observation lacks %q:\n%s", want, obs.Text)
		}
	}
	for _, unwanted := range []string{"hidden text", "Footer far below"} {
		if strings.Contains(obs.Text, unwanted) {
			t.Errorf("observation shows %q (hidden or out of the viewport):\n%s", unwanted, obs.Text)
		}
	}

	ctx := t.Context()
	if err := tb.Type(ctx, idOf(t, obs, `<input type=email`), "ada@example.com", false); err != nil {
		t.Fatal(err)
	}
	if err := tb.Type(ctx, idOf(t, obs, `<input type=password`), "s3cret", false); err != nil {
		t.Fatal(err)
	}
	if err := tb.Select(ctx, idOf(t, obs, `<select`), "Large"); err != nil {
		t.Fatal(err)
	}
	if err := tb.Click(ctx, idOf(t, obs, `<input type=checkbox`)); err != nil {
		t.Fatal(err)
	}
	if err := tb.Type(ctx, idOf(t, obs, `<textarea`), "hello there", false); err != nil {
		t.Fatal(err)
	}
	if err := tb.Select(ctx, idOf(t, obs, `<select`), "no such size"); err == nil || !strings.Contains(err.Error(), `"Small"`) {
		t.Errorf("selecting a missing option: %v, want an error listing the options", err)
	}
	again := observe(t, tb)
	if idOf(t, again, `<input type=email label="Email" value="ada@example.com"`) != idOf(t, obs, `<input type=email`) {
		t.Errorf("the email field changed number between observations:\n%s", again.Text)
	}
	for _, want := range []string{`value="••••••"`, `value="Large"`, `I accept the terms" checked>`, `value="hello there"`} {
		if !strings.Contains(again.Text, want) {
			t.Errorf("after filling, observation lacks %q:\n%s", want, again.Text)
		}
	}
	if strings.Contains(again.Text, "s3cret") {
		t.Errorf("the observation shows the password")
	}

	if err := tb.Click(ctx, idOf(t, obs, `<button>Sign up`)); err != nil {
		t.Fatal(err)
	}
	form := <-got
	want := map[string]string{"email": "ada@example.com", "pw": "s3cret", "size": "l", "terms": "yes", "note": "hello there"}
	for k, v := range want {
		if form.Get(k) != v {
			t.Errorf("posted %s = %q, want %q", k, form.Get(k), v)
		}
	}
	if tb.URL() != srv.URL+"/signup" {
		t.Errorf("URL after submit = %s", tb.URL())
	}
	if obs := observe(t, tb); !strings.Contains(obs.Text, "Welcome, ada@example.com") {
		t.Errorf("after submit:\n%s", obs.Text)
	}
	if err := tb.Back(ctx); err != nil {
		t.Fatal(err)
	}
	if tb.URL() != srv.URL+"/" {
		t.Errorf("URL after Back = %s", tb.URL())
	}
	if err := tb.Scroll(ctx, "down", 10); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, tb); !strings.Contains(obs.Text, "Footer far below") || !strings.Contains(obs.Text, "more above") {
		t.Errorf("after scrolling to the bottom:\n%s", obs.Text)
	}
}

func TestSessionsKeepTheirCookies(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	mux.Handle("GET /login", html(`<form method=post action=/login>
<input name=user aria-label=User> <input name=pw type=password aria-label=Password> <button>Log in</button></form>`))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: r.FormValue("user"), Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		if ck, err := r.Cookie("sid"); err == nil {
			html("<p>Signed in as "+ck.Value+"</p>")(w, r)
			return
		}
		html("<p>Not signed in</p>")(w, r)
	})
	srv := site(t, mux)
	ctx := t.Context()

	a := tab(t, c, "alice")
	if err := a.Navigate(ctx, srv.URL+"/login"); err != nil {
		t.Fatal(err)
	}
	obs := observe(t, a)
	if err := a.Type(ctx, idOf(t, obs, `<input type=text label="User"`), "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := a.Type(ctx, idOf(t, obs, `<input type=password`), "pw", true); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, a); !strings.Contains(obs.Text, "Signed in as alice") {
		t.Fatalf("after logging in:\n%s", obs.Text)
	}

	// The session's next task sees the cookie.
	next, err := c.Tab(ctx, "alice", browser.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Navigate(ctx, srv.URL+"/account"); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, next); !strings.Contains(obs.Text, "Signed in as alice") {
		t.Errorf("the same session's next task lost the cookie:\n%s", obs.Text)
	}

	// Another session does not.
	b := tab(t, c, "bob")
	if err := b.Navigate(ctx, srv.URL+"/account"); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, b); !strings.Contains(obs.Text, "Not signed in") {
		t.Errorf("another session sees alice's cookie:\n%s", obs.Text)
	}

	// A closed session starts over.
	c.CloseSession("alice")
	again := tab(t, c, "alice")
	if err := again.Navigate(ctx, srv.URL+"/account"); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, again); !strings.Contains(obs.Text, "Not signed in") {
		t.Errorf("a closed session kept its cookie:\n%s", obs.Text)
	}
}

func TestRequestsPassThePolicy(t *testing.T) {
	c := needChromium(t)
	refused, refusedHits := refusedSite(t)
	var avoidHits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "avoid.test") {
			avoidHits.Add(1)
		}
		html("<p>ok page</p>")(w, r)
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("GET /embeds", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		html(`<p>page with embeds</p><img src="`+to+`/pixel.png">
<script>fetch("`+to+`/api").catch(() => {}); new Image().src = "`+to+`/beacon";</script>`)(w, r)
	})
	srv := site(t, mux)
	p := port(srv)
	refusedURL := refused.URL // http://127.0.0.2:port

	for _, tc := range []struct {
		name   string
		url    string
		reason string // "" when the navigation itself succeeds
	}{
		{"refused address", refusedURL + "/", "127.0.0.2 is a loopback address"},
		{"redirect into a refused address", srv.URL + "/redirect?to=" + refusedURL + "/", "127.0.0.2 is a loopback address"},
		{"sub-resources on a refused address", srv.URL + "/embeds?to=" + refusedURL, ""},
		{"avoided domain", "http://avoid.test:" + p + "/", "avoid.test is in the task's avoidDomains"},
		{"avoided subdomain over https", "https://www.avoid.test/", "www.avoid.test is in the task's avoidDomains"},
		{"redirect into an avoided domain", "http://ok.test:" + p + "/redirect?to=http://avoid.test:" + p + "/", "avoid.test is in the task's avoidDomains"},
		{"redirect into an avoided domain over https", "http://ok.test:" + p + "/redirect?to=https://avoid.test/", "avoid.test is in the task's avoidDomains"},
		{"sub-resources on an avoided domain", "http://ok.test:" + p + "/embeds?to=http://avoid.test:" + p, ""},
		{"local file", "file:///etc/passwd", "not an http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := tab(t, c, "policy-"+tc.name, "avoid.test")
			err := tb.Navigate(t.Context(), tc.url)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Navigate: %v", err)
				}
			} else {
				var nav *browser.NavigationError
				if !errors.As(err, &nav) || !nav.Blocked || !strings.Contains(nav.Reason, tc.reason) {
					t.Fatalf("Navigate(%s) = %v, want a blocked navigation saying %q", tc.url, err, tc.reason)
				}
			}
			if n := refusedHits.Load(); n != 0 {
				t.Errorf("the refused server got %d requests", n)
			}
			if n := avoidHits.Load(); n != 0 {
				t.Errorf("the avoided domain got %d requests", n)
			}
			if tc.reason == "" {
				// The refused requests were attempted, and are reported.
				net := tb.Network()
				found := false
				for _, u := range net {
					if strings.Contains(u.URL, "/pixel.png") {
						found = true
					}
				}
				if !found {
					t.Errorf("Network() lacks the refused image: %v", net)
				}
			}
		})
	}

	t.Run("allowed address loads", func(t *testing.T) {
		tb := tab(t, c, "policy-ok")
		if err := tb.Navigate(t.Context(), "http://ok.test:"+p+"/"); err != nil {
			t.Fatal(err)
		}
		if obs := observe(t, tb); !strings.Contains(obs.Text, "ok page") {
			t.Errorf("observation:\n%s", obs.Text)
		}
	})
}

func TestKilledBrowserFailsTheTaskAndRelaunches(t *testing.T) {
	needChromium(t)
	c, err := browser.NewChromium(t.Context(), browser.ChromiumConfig{Policy: testPolicy(), CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.Handle("GET /", html("<p>fresh page</p>"))
	srv := site(t, mux)

	tb := tab(t, c, "crash")
	pid := browser.BrowserPID(c)
	done := make(chan error, 1)
	go func() { done <- tb.Navigate(context.Background(), srv.URL+"/slow") }()
	<-arrived
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var be *browser.BrowserError
	if err := <-done; !errors.As(err, &be) {
		t.Fatalf("Navigate in a killed browser = %v, want a *BrowserError", err)
	}
	if _, err := tb.Observe(t.Context(), browser.ObserveOptions{}); !errors.As(err, &be) {
		t.Errorf("Observe after the kill = %v, want a *BrowserError", err)
	}

	fresh := tab(t, c, "crash")
	if err := fresh.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatalf("the next task's Navigate: %v", err)
	}
	if obs := observe(t, fresh); !strings.Contains(obs.Text, "fresh page") {
		t.Errorf("observation in the relaunched browser:\n%s", obs.Text)
	}
	if p := browser.BrowserPID(c); p == pid || p == 0 {
		t.Errorf("browser pid %d after relaunch, was %d", p, pid)
	}

	// A browser that stops answering (SIGSTOP) is given up too.
	stopped := browser.BrowserPID(c)
	syscall.Kill(stopped, syscall.SIGSTOP)
	defer syscall.Kill(stopped, syscall.SIGCONT)
	if _, err := fresh.Observe(t.Context(), browser.ObserveOptions{}); !errors.As(err, &be) {
		t.Fatalf("Observe in a hung browser = %v, want a *BrowserError", err)
	}
	syscall.Kill(stopped, syscall.SIGCONT)
	last := tab(t, c, "crash")
	if err := last.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatalf("Navigate after a hang: %v", err)
	}
}
