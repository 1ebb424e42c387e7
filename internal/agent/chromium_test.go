package agent_test

// End-to-end tests of the model-driven agent: real Chromium (through
// internal/browser, with its proxy and network policy), local test sites
// on loopback, and the production model client talking to the fake
// OpenAI-compatible server.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/testenv"
)

var (
	chromium        *browser.Chromium
	chromiumMissing error
	sessionN        int
	sessionMu       sync.Mutex
)

func TestMain(m *testing.M) {
	if _, err := browser.FindChromium(); err != nil {
		chromiumMissing = err
		os.Exit(m.Run())
	}
	// NewChromium launches nothing until the first Tab, so the unit tests
	// of this package do not pay for a browser.
	c, err := browser.NewChromium(context.Background(), browser.ChromiumConfig{Policy: e2ePolicy()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chromium = c
	code := m.Run()
	c.Close()
	os.Exit(code)
}

// e2ePolicy allows 127.0.0.1 only (so 127.0.0.2 is a refused address) and
// resolves every *.test name to 127.0.0.1, so that sites have host names
// for secrets and avoidDomains to match.
func e2ePolicy() *netguard.Policy {
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

func needChromium(t testing.TB) *browser.Chromium {
	t.Helper()
	if chromiumMissing != nil {
		testenv.Chromium(t, chromiumMissing)
	}
	return chromium
}

// serve starts a test site and returns its base URL under host (a *.test
// name the policy resolves to loopback).
func serve(t testing.TB, host string, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "http://" + host + ":" + port
}

func page(title, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><html><head><meta charset=utf-8><title>"+title+"</title></head><body>"+body+"</body></html>")
	}
}

// e2eTask is a task in a fresh session of the shared browser.
func e2eTask(t testing.TB, s task.Spec) task.Task {
	sessionMu.Lock()
	sessionN++
	id := "sess_e2e_" + strconv.Itoa(sessionN)
	sessionMu.Unlock()
	t.Cleanup(func() { chromium.CloseSession(id) })
	return task.Task{ID: "task_" + id, SessionID: id, Spec: s}
}

// elementID finds the number of the element the observation shows right
// after [N] and matching pattern (a regexp), e.g. `<input type=email`.
func elementID(t testing.TB, obs, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(`\[(\d+)\]` + pattern).FindStringSubmatch(obs)
	if m == nil {
		t.Errorf("no element matching %q in the observation:\n%s", pattern, obs)
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestChromiumLoginWithSecrets(t *testing.T) {
	c := needChromium(t)
	const email, password = "ada+errand@example.org", "c0rrect horse&battery"
	posted := make(chan url.Values, 1)
	mux := http.NewServeMux()
	mux.Handle("GET /login", page("Sign in", `<h1>Sign in</h1>
<form method=post action="/login">
  <label for=email>Email</label> <input id=email name=email type=email>
  <label>Password <input name=password type=password></label>
  <button type=submit>Sign in</button>
</form>`))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		posted <- r.PostForm
		if r.PostForm.Get("email") != email || r.PostForm.Get("password") != password {
			http.Redirect(w, r, "/login?error=1", http.StatusSeeOther)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "ok", Path: "/"})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		if ck, err := r.Cookie("sid"); err != nil || ck.Value != "ok" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		page("Account", `<h1>Your account</h1><p>Signed in as `+email+`.</p><p>You have 3 open orders.</p>`)(w, r)
	})
	base := serve(t, "shop.test", mux)

	srv := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			obs := lastObs(r)
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=email`), "text": "{{email}}"}},
				{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=password`), "text": "{{password}}", "submit": true}},
			}}
		},
		func(r modeltest.Request) modeltest.Reply {
			obs := lastObs(r)
			if !strings.Contains(obs, "3 open orders") || !strings.Contains(obs, "Signed in as {{email}}") {
				t.Errorf("after signing in the model sees:\n%s", obs)
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "3 open orders"}}}}
		},
	)
	s := spec("Sign in and count my open orders.", base+"/login")
	s.Secrets = []task.Secret{{Match: "*.shop.test", Fields: map[string]string{"email": email, "password": password}}}
	res := runAgent(t, c, srv, e2eTask(t, s), nil)
	if res.out.Code != "" || res.out.Message != "3 open orders" {
		t.Fatalf("outcome = %+v\nsteps = %+v", res.out, res.steps)
	}
	form := <-posted
	if form.Get("email") != email || form.Get("password") != password {
		t.Errorf("the site received %v", form)
	}
	assertNoSecrets(t, srv, email, password)
	for _, st := range res.steps {
		if blob := string(st.Args) + st.URL + st.Error; strings.Contains(blob, password) || strings.Contains(blob, email) {
			t.Errorf("step shows a secret: %+v", st)
		}
	}
}

// catalogue serves /items?page=N, two items a page, with a Next link.
func catalogue(pages int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 || p > pages {
			http.NotFound(w, r)
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "<h1>Catalogue</h1><p>Page %d of %d</p><ul>", p, pages)
		for i := 2*p - 1; i <= 2*p; i++ {
			fmt.Fprintf(&b, `<li><span class=name>Lamp %d</span> <span class=price>$%d.50</span></li>`, i, i*10)
		}
		b.WriteString("</ul>")
		if p < pages {
			fmt.Fprintf(&b, `<a href="/items?page=%d">Next</a>`, p+1)
		}
		page("Catalogue", b.String())(w, r)
	})
	return mux
}

var itemPattern = regexp.MustCompile(`Lamp (\d+)\s+\$(\d+\.\d+)`)

// collector is a scripted model that reads the items off each page view,
// clicks Next while there is one, then answers with format(items).
func collector(t *testing.T, format func(items [][2]string) any) modeltest.Step {
	var items [][2]string
	return func(r modeltest.Request) modeltest.Reply {
		obs := lastObs(r)
		for _, m := range itemPattern.FindAllStringSubmatch(obs, -1) {
			items = append(items, [2]string{"Lamp " + m[1], m[2]})
		}
		if strings.Contains(obs, ">Next<") {
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "note", Args: map[string]string{"text": fmt.Sprintf("%d items so far", len(items))}},
				{Name: "click", Args: map[string]int{"id": elementID(t, obs, `<a href=[^>]*>Next<`)}},
			}}
		}
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]any{"answer": format(items)}}}}
	}
}

func repeat(step modeltest.Step, n int) []modeltest.Step {
	steps := make([]modeltest.Step, n)
	for i := range steps {
		steps[i] = step
	}
	return steps
}

func TestChromiumPagination(t *testing.T) {
	c := needChromium(t)
	base := serve(t, "lamps.test", catalogue(3))

	t.Run("structured_json", func(t *testing.T) {
		srv := modeltest.New(t, repeat(collector(t, func(items [][2]string) any {
			var out []map[string]any
			for _, it := range items {
				out = append(out, map[string]any{"name": it[0], "price": json.Number(it[1])})
			}
			return out
		}), 3)...)
		s := spec("List every lamp with its price.", base+"/items?page=1")
		s.OutputType = task.OutputJSON
		s.OutputSchema = json.RawMessage(`{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"price":{"type":"number"}},"required":["name","price"]},"minItems":6}`)
		res := runAgent(t, c, srv, e2eTask(t, s), nil)
		want := `[{"name":"Lamp 1","price":10.50},{"name":"Lamp 2","price":20.50},{"name":"Lamp 3","price":30.50},{"name":"Lamp 4","price":40.50},{"name":"Lamp 5","price":50.50},{"name":"Lamp 6","price":60.50}]`
		if res.out.Code != "" || res.out.Message != want {
			t.Fatalf("outcome = %+v\nwant %s", res.out, want)
		}
		var pages int
		for _, n := range res.out.Network {
			if strings.Contains(n.URL, "/items?page=") {
				pages++
			}
		}
		if pages != 3 {
			t.Errorf("network = %+v, want the 3 pages", res.out.Network)
		}
	})

	t.Run("structured_csv", func(t *testing.T) {
		srv := modeltest.New(t, repeat(collector(t, func(items [][2]string) any {
			var b strings.Builder
			b.WriteString("name,price\n")
			for _, it := range items {
				b.WriteString(it[0] + "," + it[1] + "\n")
			}
			return b.String()
		}), 3)...)
		s := spec("List every lamp with its price.", base+"/items?page=1")
		s.OutputType, s.OutputSchema = task.OutputCSV, json.RawMessage(`["name","price"]`)
		res := runAgent(t, c, srv, e2eTask(t, s), nil)
		want := "name,price\nLamp 1,10.50\nLamp 2,20.50\nLamp 3,30.50\nLamp 4,40.50\nLamp 5,50.50\nLamp 6,60.50\n"
		if res.out.Code != "" || res.out.Message != want {
			t.Fatalf("outcome = %+v\nwant %q", res.out, want)
		}
	})
}

func TestChromiumJavaScriptPage(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page("Deal", `<main><h1>Today's deal</h1><div id=deal>loading…</div></main>
<script>
fetch('/deal.json').then(r => r.json()).then(d => {
  document.getElementById('deal').innerHTML = '<p>The ' + d.name + ' costs <b>' + d.price + '</b> today only.</p>';
});
</script>`))
	mux.HandleFunc("GET /deal.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"Brass Lamp","price":"$42.00"}`)
	})
	base := serve(t, "deals.test", mux)

	waited := false
	srv := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			if strings.Contains(lastObs(r), "Brass Lamp") {
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "extract"}}}
			}
			// The script may not have run yet: wait, as a model would.
			waited = true
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "wait", Args: map[string]float64{"seconds": 0.5}}}}
		},
		func(r modeltest.Request) modeltest.Reply {
			if waited {
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "extract"}}}
			}
			return checkExtract(t, r)
		},
		func(r modeltest.Request) modeltest.Reply { return checkExtract(t, r) },
	)
	s := spec("What is today's deal and its price?", base+"/")
	s.OutputType = task.OutputJSON
	s.OutputSchema = json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"price":{"type":"string"}},"required":["name","price"]}`)
	res := runAgent(t, c, srv, e2eTask(t, s), nil)
	if res.out.Code != "" || res.out.Message != `{"name":"Brass Lamp","price":"$42.00"}` {
		t.Fatalf("outcome = %+v\nsteps = %+v", res.out, res.steps)
	}
}

// checkExtract asserts the previous tool call was extract and that it read
// the JavaScript-made content, then answers.
func checkExtract(t *testing.T, r modeltest.Request) modeltest.Reply {
	res := r.Body.Messages[len(r.Body.Messages)-2]
	if res.Role != "tool" || !strings.Contains(res.Text(), "Brass Lamp") || !strings.Contains(res.Text(), "$42.00") {
		t.Errorf("extract result = %q", res.Text())
	}
	return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]any{"answer": map[string]string{"name": "Brass Lamp", "price": "$42.00"}}}}}
}

func TestChromiumFailures(t *testing.T) {
	c := needChromium(t)
	base := serve(t, "lamps.test", catalogue(2))

	t.Run("invalid JSON after the repair turns", func(t *testing.T) {
		bad := modeltest.ToolCall("done", map[string]string{"answer": `{"lamps": [Lamp 1]}`})
		srv := modeltest.New(t, bad, bad, bad)
		s := spec("List the lamps.", base+"/items?page=1")
		s.OutputType = task.OutputJSON
		s.OutputSchema = json.RawMessage(`{"type":"object","properties":{"lamps":{"type":"array","items":{"type":"string"}}},"required":["lamps"]}`)
		res := runAgent(t, c, srv, e2eTask(t, s), nil)
		if res.out.Code != task.CodeOutputInvalid {
			t.Fatalf("outcome = %+v", res.out)
		}
		if n := len(srv.Requests()); n != 3 {
			t.Errorf("%d model calls, want 1 + 2 repair turns", n)
		}
	})

	t.Run("token budget", func(t *testing.T) {
		next := func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "scroll", Args: map[string]string{"direction": "down"}}}}
		}
		srv := modeltest.New(t, next, next, next, next, next)
		s := spec("List the lamps.", base+"/items?page=1")
		s.MaxInputTokens = 1 // the first call's prompt is already past it
		res := runAgent(t, c, srv, e2eTask(t, s), nil)
		if res.out.Code != task.CodeTokenLimit || res.out.Usage.InputTokens == 0 {
			t.Fatalf("outcome = %+v", res.out)
		}
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("%d model calls after the budget was spent", n)
		}
	})

	t.Run("navigation blocked", func(t *testing.T) {
		srv := modeltest.New(t,
			modeltest.ToolCall("navigate", map[string]string{"url": "http://127.0.0.2:8080/"}),
			func(r modeltest.Request) modeltest.Reply {
				if !strings.Contains(toolResults(r), "NAVIGATION_BLOCKED") {
					t.Errorf("tool results: %s", toolResults(r))
				}
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "give_up", Args: map[string]string{"reason": "blocked"}}}}
			})
		res := runAgent(t, c, srv, e2eTask(t, spec("Read the intranet.", base+"/items?page=1")), nil)
		if res.out.Code != task.CodeNavigationBlocked {
			t.Fatalf("outcome = %+v", res.out)
		}
	})
}

func TestChromiumAskHumanThenResume(t *testing.T) {
	c := needChromium(t)
	base := serve(t, "lamps.test", catalogue(2))
	srv := modeltest.New(t, modeltest.ToolCall("ask_human", map[string]string{"question": "Brass or steel?"}))
	tk := e2eTask(t, spec("Find me a lamp.", base+"/items?page=1"))
	res := runAgent(t, c, srv, tk, nil)
	if res.out.Status() != task.StatusGuardrail || res.out.Question != "Brass or steel?" {
		t.Fatalf("outcome = %+v", res.out)
	}

	srv2 := modeltest.New(t, func(r modeltest.Request) modeltest.Reply {
		if text := r.Body.Text(); !strings.Contains(text, "Brass or steel?") || !strings.Contains(text, "Brass, please") {
			t.Errorf("the resumed run does not know the question and answer:\n%s", text)
		}
		if !strings.Contains(lastObs(r), "Lamp 1") {
			t.Errorf("the resumed run is not on the page:\n%s", lastObs(r))
		}
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "Lamp 1 is brass."}}}}
	})
	tk.Question, tk.Answer = res.out.Question, "Brass, please"
	res = runAgent(t, c, srv2, tk, nil)
	if res.out.Code != "" || res.out.Message != "Lamp 1 is brass." {
		t.Fatalf("outcome = %+v", res.out)
	}
}

// With Screenshot on, each page view carries a JPEG of the viewport as an
// image part (for vision models); a task with secrets never sends one.
func TestChromiumScreenshotForVisionModels(t *testing.T) {
	c := needChromium(t)
	base := serve(t, "lamps.test", catalogue(1))
	done := modeltest.ToolCall("done", map[string]string{"answer": "two lamps"})
	for _, withSecrets := range []bool{false, true} {
		srv := modeltest.New(t, done)
		s := spec("Count the lamps.", base+"/items?page=1")
		if withSecrets {
			s.Secrets = []task.Secret{{Match: "*", Fields: map[string]string{"pin": "4321"}}}
		}
		tk := e2eTask(t, s)
		tk.SessionID = fmt.Sprintf("sess_vision_%v", withSecrets)
		res := runAgent(t, c, srv, tk, func(a *agent.LLM) { a.Screenshot = true })
		if res.out.Message != "two lamps" {
			t.Fatalf("outcome = %+v", res.out)
		}
		raw := string(srv.Requests()[0].Raw)
		hasImage := strings.Contains(raw, `"image_url"`) && strings.Contains(raw, "data:image/jpeg;base64,")
		if hasImage == withSecrets {
			t.Errorf("secrets %v: the request carries a screenshot: %v", withSecrets, hasImage)
		}
	}
}

// TestChromiumTaskSettleTimeout runs the same task on a page that draws its
// answer 800 ms after the load, once with a settle timeout shorter than
// that and once longer: the task's own settleTimeout decides whether the
// model's first view has it.
func TestChromiumTaskSettleTimeout(t *testing.T) {
	c := needChromium(t)
	base := serve(t, "slow.test", page("Order status", `<h1>Order 4711</h1><p id=state>Checking…</p>
<script>setTimeout(() => { document.getElementById('state').textContent = 'Shipped on 3 March' }, 800)</script>`))
	for _, tc := range []struct {
		settle time.Duration
		sees   bool
	}{
		{300 * time.Millisecond, false},
		{5 * time.Second, true},
	} {
		t.Run(tc.settle.String(), func(t *testing.T) {
			var first string
			srv := modeltest.New(t, func(r modeltest.Request) modeltest.Reply {
				first = lastObs(r)
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "seen"}}}}
			})
			s := spec("What is the order's status?", base+"/")
			s.SettleTimeout = tc.settle
			res := runAgent(t, c, srv, e2eTask(t, s), nil)
			if res.out.Code != "" {
				t.Fatalf("outcome = %+v", res.out)
			}
			if got := strings.Contains(first, "Shipped on 3 March"); got != tc.sees {
				t.Errorf("with settleTimeout %s the first view has the late status: %v, want %v:\n%s", tc.settle, got, tc.sees, first)
			}
		})
	}
}

// TestChromiumLoginInCrossOriginFrame: the shop embeds its identity
// provider's sign-in form in an iframe from another site; the model fills
// it with the task's secrets (allowed on the provider's host, the frame's,
// not the shop's) and submits it, with the frame in the page's process and
// out of it (site isolation).
func TestChromiumLoginInCrossOriginFrame(t *testing.T) {
	needChromium(t)
	const email, password = "ada@example.org", "c0rrect horse"
	site := &idpShop{email: email, password: password, orders: 2}
	shop, idp := site.serve(t)
	inFrameProcesses(t, func(t *testing.T, c *browser.Chromium) {
		m := modeltest.New(t,
			frameSignInTurn(t, idp+"/embed"),
			func(r modeltest.Request) modeltest.Reply {
				obs := lastObs(r)
				if !strings.Contains(obs, "Signed in as {{email}}.") || !strings.Contains(obs, "Orders on the way: 2") {
					t.Errorf("after signing in the model sees:\n%s", obs)
				}
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "2 orders"}}}}
			},
		)
		s := spec("How many orders are on the way?", shop+"/account")
		s.Secrets = []task.Secret{{Match: "login.idp.test", Fields: map[string]string{"email": email, "password": password}}}
		res := runAgent(t, c, m, e2eTask(t, s), nil)
		if res.out.Code != "" || res.out.Message != "2 orders" {
			t.Fatalf("outcome = %+v\nsteps = %+v", res.out, res.steps)
		}
		if posts := site.signIns(); len(posts) != 1 || posts[0] != [2]string{email, password} {
			t.Errorf("the identity provider received %q", posts)
		}
		assertNoSecrets(t, m, email, password)
		site.mu.Lock()
		site.posts = nil
		site.mu.Unlock()
	})

	// Secrets for the shop are not typed into the provider's frame.
	t.Run("secret for another host", func(t *testing.T) {
		c := needChromium(t)
		m := modeltest.New(t,
			func(r modeltest.Request) modeltest.Reply {
				obs := lastObs(r)
				return modeltest.Reply{Calls: []modeltest.Call{
					{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=password`), "text": "{{password}}"}},
				}}
			},
			func(r modeltest.Request) modeltest.Reply {
				if res := toolResults(r); !strings.Contains(res, "SECRET_NOT_ALLOWED") || !strings.Contains(res, "login.idp.test") {
					t.Errorf("typing the shop's secret into the provider's frame gave: %s", res)
				}
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "give_up", Args: map[string]string{"reason": "cannot sign in"}}}}
			},
		)
		s := spec("Sign in.", shop+"/account")
		s.Secrets = []task.Secret{{Match: "shop.test", Fields: map[string]string{"password": password}}}
		runAgent(t, c, m, e2eTask(t, s), nil)
		if posts := site.signIns(); len(posts) != 0 {
			t.Errorf("the provider received %q", posts)
		}
	})
}

// frameSignInTurn is the model's turn that signs in with the task's
// secrets in the sign-in form of the frame at frameURL.
func frameSignInTurn(t *testing.T, frameURL string) modeltest.Step {
	return func(r modeltest.Request) modeltest.Reply {
		obs := lastObs(r)
		if !strings.Contains(obs, "--- frame "+frameURL+" ---") {
			t.Errorf("the view does not show the sign-in frame:\n%s", obs)
		}
		return modeltest.Reply{Calls: []modeltest.Call{
			{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=email`), "text": "{{email}}"}},
			{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=password`), "text": "{{password}}"}},
			{Name: "click", Args: map[string]any{"id": elementID(t, obs, `<button>Sign in`)}},
		}}
	}
}

// inFrameProcesses runs f in the shared browser, where Debian's headless
// shell keeps cross-site frames in the page's process, and in one with
// site isolation, where a cross-origin frame is a DevTools target of its
// own.
func inFrameProcesses(t *testing.T, f func(t *testing.T, c *browser.Chromium)) {
	t.Helper()
	needChromium(t)
	t.Run("in-process frame", func(t *testing.T) { f(t, chromium) })
	t.Run("out-of-process frame", func(t *testing.T) {
		c, err := browser.NewChromium(t.Context(), browser.ChromiumConfig{Policy: e2ePolicy(), Flags: []string{"--site-per-process"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		f(t, c)
	})
}

// TestChromiumPopupSignIn: "Sign in with the provider" opens a popup; the
// model is told a new tab opened, signs in there with the task's secrets,
// the popup hands the result to the shop and closes itself, and the model
// is told it is back on the shop, now signed in. The step log records both
// changes of tab.
func TestChromiumPopupSignIn(t *testing.T) {
	c := needChromium(t)
	const user, password = "ada", "c0rrect horse"
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	shop, idp := "http://shop.test:"+port, "http://idp.test:"+port
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch host, _, _ := strings.Cut(r.Host, ":"); host + " " + r.Method + " " + r.URL.Path {
		case "shop.test GET /":
			page("Shop", `<h1>Shop</h1><p id=who>Not signed in</p>
<button onclick="window.open('`+idp+`/authorize', 'signin', 'width=480,height=640')">Sign in with IdP</button>
<script>addEventListener('message', (e) => {
  if (e.origin !== '`+idp+`') return;
  fetch('/orders?user=' + encodeURIComponent(e.data)).then((r) => r.text()).then((t) => { who.textContent = t });
});</script>`)(w, r)
		case "shop.test GET /orders":
			io.WriteString(w, "Signed in as "+r.URL.Query().Get("user")+": 3 orders, the latest shipped on 2 March.")
		case "idp.test GET /authorize":
			page("IdP", `<h1>Sign in to IdP</h1><form method=post action=/authorize>
<label>User <input name=user></label> <label>Password <input name=password type=password></label>
<button>Allow</button></form>`)(w, r)
		case "idp.test POST /authorize":
			r.ParseForm()
			if r.PostForm.Get("user") != user || r.PostForm.Get("password") != password {
				page("IdP", `<p>Wrong password</p>`)(w, r)
				return
			}
			page("IdP", `<p>Signed in, returning to the shop…</p>
<script>setTimeout(() => { window.opener.postMessage(`+strconv.Quote(user)+`, '`+shop+`'); window.close() }, 150)</script>`)(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	m := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			obs := lastObs(r)
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elementID(t, obs, `<button>Sign in with IdP`)}}}}
		},
		func(r modeltest.Request) modeltest.Reply {
			obs := lastObs(r)
			if !strings.Contains(obs, "Note: a new tab opened and is now the page: "+idp+"/authorize") || !strings.Contains(obs, "# Sign in to IdP") {
				t.Errorf("after the click the model sees:\n%s", obs)
			}
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=text label="User"`), "text": "{{user}}"}},
				{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=password`), "text": "{{password}}", "submit": true}},
			}}
		},
		func(r modeltest.Request) modeltest.Reply {
			obs := lastObs(r)
			if !strings.Contains(obs, "Note: the tab closed; back on the page that opened it: "+shop+"/") ||
				!strings.Contains(obs, "Signed in as {{user}}: 3 orders, the latest shipped on 2 March.") {
				t.Errorf("after signing in the model sees:\n%s", obs)
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "3 orders"}}}}
		},
	)
	s := spec("How many orders do I have?", shop+"/")
	s.Secrets = []task.Secret{{Match: "idp.test", Fields: map[string]string{"user": user, "password": password}}}
	res := runAgent(t, c, m, e2eTask(t, s), nil)
	if res.out.Code != "" || res.out.Message != "3 orders" {
		t.Fatalf("outcome = %+v\nsteps = %+v", res.out, res.steps)
	}
	var log []string
	for _, st := range res.steps {
		log = append(log, st.Action+" "+st.URL)
	}
	want := []string{
		"navigate " + shop + "/",
		"click " + idp + "/authorize",
		"tab_opened " + idp + "/authorize",
		"type " + idp + "/authorize",
		"type " + shop + "/",
		"tab_closed " + shop + "/",
		"done " + shop + "/",
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Errorf("step log:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
	if !slices.ContainsFunc(res.out.Network, func(n task.NetworkURL) bool { return n.URL == idp+"/authorize" }) {
		t.Errorf("the task's network list lacks the popup's page: %v", res.out.Network)
	}
	assertNoSecrets(t, m, user, password)
}
