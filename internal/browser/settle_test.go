package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/task"
)

// The late-content pages: a product page whose name and price are drawn
// after the load, in one of three ways, delay ms after it.
const (
	lateName  = "Trailblazer 2 Hiking Boot"
	latePrice = "$149.00"
)

var lateKinds = []string{"timer", "fetch", "hydration"}

// lateSite serves /late/{kind}?delay=ms:
//
//   - timer: a setTimeout(delay) set by the page's inline script draws
//     the product, no request involved;
//   - fetch: the script fetches /api/product, which answers after delay,
//     and draws the JSON it gets;
//   - hydration: the server sends a skeleton; after the load event the
//     page imports its application module, which works for delay ms in
//     4 ms slices yielded through a MessageChannel (as React's scheduler
//     does; no request, no timer), then commits in an animation frame.
//     With split=1 the module imports a vendor module first, as bundlers
//     split an application.
//
// It also serves /static, the same product drawn by the server.
func lateSite(tb testing.TB) string {
	tb.Helper()
	mux := http.NewServeMux()
	delayOf := func(r *http.Request) time.Duration {
		ms, _ := strconv.Atoi(r.URL.Query().Get("delay"))
		return time.Duration(ms) * time.Millisecond
	}
	product := `<main><h1 itemprop=name id=name>%s</h1><p>Price: <span itemprop=price id=price>%s</span></p>
<p>Waterproof leather upper, a grippy outsole, and a padded collar for long days on the trail.</p></main>`
	page := func(head, body string) string {
		return `<!doctype html><html><head><meta charset=utf-8><title>Outdoor shop</title>` + head +
			`</head><body itemscope itemtype="https://schema.org/Product"><nav><a href="/">Home</a> <a href="/boots">Boots</a></nav>` +
			body + `</body></html>`
	}
	draw := `function draw(p) { document.getElementById('name').textContent = p.name; document.getElementById('price').textContent = p.price; }`
	serve := func(w http.ResponseWriter, s string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, s)
	}
	mux.HandleFunc("GET /static", func(w http.ResponseWriter, r *http.Request) {
		serve(w, page("", fmt.Sprintf(product, lateName, latePrice)))
	})
	mux.HandleFunc("GET /late/timer", func(w http.ResponseWriter, r *http.Request) {
		serve(w, page("", fmt.Sprintf(product, "Loading…", "")+fmt.Sprintf(`<script>%s
setTimeout(() => draw({name: %q, price: %q}), %d);</script>`, draw, lateName, latePrice, delayOf(r).Milliseconds())))
	})
	mux.HandleFunc("GET /late/fetch", func(w http.ResponseWriter, r *http.Request) {
		serve(w, page("", fmt.Sprintf(product, "Loading…", "")+fmt.Sprintf(`<script>%s
fetch('/api/product?delay=%d').then((r) => r.json()).then(draw);</script>`, draw, delayOf(r).Milliseconds())))
	})
	mux.HandleFunc("GET /api/product", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delayOf(r))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"name": lateName, "price": latePrice})
	})
	mux.HandleFunc("GET /late/hydration", func(w http.ResponseWriter, r *http.Request) {
		serve(w, page("", `<div id=root><div class=skeleton style="height:40px;background:#eee"></div></div>`+
			fmt.Sprintf(`<script>addEventListener('load', () => import('/app.js?%s'));</script>`, r.URL.RawQuery)))
	})
	mux.HandleFunc("GET /vendor.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, "export const scheduler = 'vendor';\n")
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		if r.URL.Query().Get("split") == "1" {
			io.WriteString(w, "import '/vendor.js';\n")
		}
		fmt.Fprintf(w, `
const until = performance.now() + %d;
const ch = new MessageChannel();
ch.port1.onmessage = () => {
  const end = performance.now() + 4;
  while (performance.now() < end) {}
  if (performance.now() < until) { ch.port2.postMessage(null); return; }
  requestAnimationFrame(() => { document.getElementById('root').innerHTML = %q; });
};
ch.port2.postMessage(null);
`, delayOf(r).Milliseconds(), fmt.Sprintf(product, lateName, latePrice))
	})
	return httptestServer(tb, mux).URL
}

// TestSettleWaitsForLateContent loads pages that draw their content 150,
// 400 and 1,000 ms after the load, from a timer, a fetch and a hydrating
// application: the first observation, the page the extractor reads and the
// built-in extractor's answer all have it.
func TestSettleWaitsForLateContent(t *testing.T) {
	c := needChromium(t)
	base := lateSite(t)
	for _, kind := range lateKinds {
		for _, delay := range []int{150, 400, 1000} {
			t.Run(fmt.Sprintf("%s/%dms", kind, delay), func(t *testing.T) {
				u := fmt.Sprintf("%s/late/%s?delay=%d", base, kind, delay)
				tb := tab(t, c, "late-"+kind+strconv.Itoa(delay))
				if err := tb.Navigate(t.Context(), u); err != nil {
					t.Fatal(err)
				}
				obs := observe(t, tb)
				if !strings.Contains(obs.Text, "# "+lateName) || !strings.Contains(obs.Text, "Price: "+latePrice) {
					t.Errorf("the first observation lacks the late content:\n%s", obs.Text)
				}
				_, html, err := tb.Page(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(html), latePrice) {
					t.Errorf("Page() lacks the late price")
				}

				out := (&agent.Builtin{Loader: browser.ChromiumLoader{Browser: c}}).Run(t.Context(), agent.Request{
					Task: task.Task{Spec: task.Spec{
						StartingPoint: u, TaskDetails: "the product's name and price", OutputType: task.OutputJSON,
						OutputSchema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"price":{"type":"string"}},"required":["name","price"]}`),
					}},
					Step: func(task.Step) {},
				})
				want := fmt.Sprintf(`{"name":%q,"price":%q}`, lateName, latePrice)
				if out.Code != "" || out.Message != want {
					t.Errorf("built-in extractor: code %q error %q message %s, want %s", out.Code, out.Error, out.Message, want)
				}
			})
		}
	}
}

// TestSettleOnASlowMachine loads the hydrating pages in a renderer slowed
// down 50 times (DevTools CPU throttling), as on a machine short of CPU:
// the renderer gets to a message the application posted, and to the
// application's module once its imports have arrived, long after any
// quiet window has passed. The page must still not be read before it has
// drawn. The settle timeout is long, so that only a wait that ends too
// early fails; each page is loaded twice, as each load may or may not hit
// the gap.
func TestSettleOnASlowMachine(t *testing.T) {
	c := needChromium(t)
	base := lateSite(t)
	for _, path := range []string{"/late/hydration?delay=1000", "/late/hydration?delay=1000&split=1"} {
		for round := range 2 {
			t.Run(fmt.Sprintf("%s/%d", path, round), func(t *testing.T) {
				session := fmt.Sprintf("slow-%d", round)
				tb, err := c.Tab(t.Context(), session, browser.PageOptions{SettleTimeout: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.CloseSession(session) })
				if err := browser.ThrottleCPU(t.Context(), tb, 50); err != nil {
					t.Fatal(err)
				}
				if err := tb.Navigate(t.Context(), base+path); err != nil {
					t.Fatal(err)
				}
				if obs := observe(t, tb); !strings.Contains(obs.Text, "# "+lateName) || !strings.Contains(obs.Text, "Price: "+latePrice) {
					t.Errorf("the page was read before it had drawn:\n%s", obs.Text)
				}
			})
		}
	}
}

// TestSettleAfterActions checks that what an action sets off (a timer, a
// fetch, a debounced suggestion list) is in the next observation.
func TestSettleAfterActions(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", html(`
<button id=later onclick="setTimeout(() => { out.textContent = 'Drawn by a timer' }, 400)">Timer</button>
<button id=fetcher onclick="fetch('/api?delay=400').then(r => r.text()).then(t => { out2.textContent = t })">Fetch</button>
<p id=out>nothing yet</p><p id=out2>nothing fetched</p>
<label for=q>Search</label><input id=q>
<ul id=suggest></ul>
<script>
let debounce;
q.addEventListener('input', () => {
  clearTimeout(debounce);
  debounce = setTimeout(() => fetch('/suggest?q=' + encodeURIComponent(q.value)).then(r => r.json()).then(list => {
    suggest.innerHTML = list.map(s => '<li>' + s + '</li>').join('');
  }), 300);
});
</script>`))
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		io.WriteString(w, "Drawn from a fetch")
	})
	mux.HandleFunc("GET /suggest", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		json.NewEncoder(w).Encode([]string{r.URL.Query().Get("q") + " boots", r.URL.Query().Get("q") + " socks"})
	})
	srv := site(t, mux)
	tb := tab(t, c, "settle-actions")
	ctx := t.Context()
	if err := tb.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	obs := observe(t, tb)
	if err := tb.Click(ctx, idOf(t, obs, `<button>Timer`)); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, tb); !strings.Contains(obs.Text, "Drawn by a timer") {
		t.Errorf("after a click that draws from a timer:\n%s", obs.Text)
	}
	if err := tb.Click(ctx, idOf(t, obs, `<button>Fetch`)); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, tb); !strings.Contains(obs.Text, "Drawn from a fetch") {
		t.Errorf("after a click that draws from a fetch:\n%s", obs.Text)
	}
	if err := tb.Type(ctx, idOf(t, obs, `<input type=text label="Search"`), "hiking", false); err != nil {
		t.Fatal(err)
	}
	if obs := observe(t, tb); !strings.Contains(obs.Text, "- hiking boots") {
		t.Errorf("after typing, the suggestions are missing:\n%s", obs.Text)
	}
}

// animated is a page that never stops moving: a clock ticking ten times a
// second, an animation-frame loop sliding a banner, a CSS-animated
// carousel, a script carousel switching slides, a recursive-timer counter
// and a poll written as an async loop. None of it may hold the settle wait;
// the content drawn at 150 ms must still be waited for.
const animated = `
<p>Time: <span id=clock>00:00:00</span></p>
<div id=banner style="position:relative;width:200px">Sale on boots</div>
<style>@keyframes spin { from { transform: rotate(0) } to { transform: rotate(360deg) } } .spin { animation: spin 1s linear infinite; width: 50px }</style>
<div class=spin>CSS carousel</div>
<ul id=slides><li class=active>Slide 1</li><li>Slide 2</li><li>Slide 3</li></ul>
<p>Visitors: <span id=count>0</span></p>
<h1 id=late>Loading…</h1>
<label><input type=checkbox> Remember me</label>
<script>
setInterval(() => { clock.textContent = new Date().toISOString().slice(11, 22) }, 100);
let x = 0;
(function slide() { x = (x + 1) % 100; banner.style.left = x + 'px'; requestAnimationFrame(slide) })();
let n = 0;
setInterval(() => {
  const items = slides.children;
  for (const li of items) li.className = '';
  items[n++ % items.length].className = 'active';
}, 200);
let visitors = 0;
function tick() { count.textContent = ++visitors; setTimeout(() => tick(), 250) }
tick();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => { for (;;) { await sleep(300); await fetch('/poll').then((r) => r.text()) } })();
setTimeout(() => { late.textContent = 'Drawn at 150 ms' }, 150);
</script>`

func TestSettleIsNotHeldByAnimations(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", html(animated))
	mux.HandleFunc("GET /poll", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := site(t, mux)
	tb, err := c.Tab(t.Context(), "animated", browser.PageOptions{SettleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseSession("animated") })
	// With an hour to settle, only a page that settles answers before the
	// test's own deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := tb.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatalf("Navigate on a moving page: %v", err)
	}
	obs := observe(t, tb)
	if !strings.Contains(obs.Text, "# Drawn at 150 ms") {
		t.Errorf("the content drawn at 150 ms is missing:\n%s", obs.Text)
	}
	if err := tb.Click(ctx, idOf(t, obs, `<input type=checkbox`)); err != nil {
		t.Fatalf("Click on a moving page: %v", err)
	}
	if err := tb.Scroll(ctx, "down", 1); err != nil {
		t.Fatalf("Scroll on a moving page: %v", err)
	}
}

// TestSettleTimeoutBoundsTheWait loads a page that keeps adding content
// forever, each time somewhere new (inside the box it added last, so no
// one target is seen animating): it never settles, and is read once the
// task's settle timeout has passed.
func TestSettleTimeoutBoundsTheWait(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", html(`<h1>Live feed</h1><div id=feed></div>
<script>
let i = 0, parent = feed;
setInterval(() => {
  const box = document.createElement('section');
  box.textContent = 'Update ' + (++i);
  parent.append(box);
  parent = box;
}, 20);
</script>`))
	srv := site(t, mux)
	tb, err := c.Tab(t.Context(), "never-settles", browser.PageOptions{SettleTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseSession("never-settles") })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	began := time.Now()
	if err := tb.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatalf("Navigate on a page that never settles: %v", err)
	}
	t.Logf("read after %s", time.Since(began).Round(time.Millisecond))
	if obs := observe(t, tb); !strings.Contains(obs.Text, "# Live feed") || !strings.Contains(obs.Text, "Update ") {
		t.Errorf("observation:\n%s", obs.Text)
	}
}
