package browser_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/task"
)

// framesSite serves, on the *.test names testPolicy resolves to loopback,
// a shop page (shop.test) holding: a same-origin iframe with a newsletter
// form, a cross-origin iframe (pay.test) with a payment form that posts to
// its own site, a frame on a refused address, and a web component whose
// open shadow root holds a button, a field, and a nested component.
func framesSite(t *testing.T, refusedURL string) (base func(host string) string, posted <-chan url.Values) {
	t.Helper()
	got := make(chan url.Values, 4)
	mux := http.NewServeMux()
	srv := site(t, mux)
	p := port(srv)
	base = func(host string) string { return "http://" + host + ":" + p }
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":")
		switch host + " " + r.Method + " " + r.URL.Path {
		case "shop.test GET /":
			html(`<h1>Checkout</h1>
<p>Order 4711: one pair of boots.</p>
<iframe src="/newsletter" title="Newsletter" style="width:600px;height:120px"></iframe>
<iframe src="`+base("pay.test")+`/card" title="Payment" style="width:600px;height:260px"></iframe>
<iframe src="`+refusedURL+`/tracker" style="width:300px;height:60px"></iframe>
<iframe src="`+strings.Replace(refusedURL, "http:", "https:", 1)+`/widget" style="width:300px;height:60px"></iframe>
<iframe src="/pixel" width=1 height=1 style="border:0"></iframe>
<iframe src="/blank" style="width:300px;height:40px"></iframe>
<shop-rating></shop-rating>
<script>
customElements.define('shop-stars', class extends HTMLElement {
  connectedCallback() {
    this.attachShadow({mode: 'open'}).innerHTML = '<span>Stars: <b>4.5</b> of 5</span>';
  }
});
customElements.define('shop-rating', class extends HTMLElement {
  connectedCallback() {
    const root = this.attachShadow({mode: 'open'});
    root.innerHTML = '<p>Rate your order <shop-stars></shop-stars></p>' +
      '<label>Comment <input id=comment></label> <button id=send>Send rating</button><p id=thanks></p>';
    root.getElementById('send').addEventListener('click', () => {
      root.getElementById('thanks').textContent = 'Thanks for: ' + root.getElementById('comment').value;
    });
  }
});
</script>`)(w, r)
		case "shop.test GET /pixel", "shop.test GET /blank":
			html(``)(w, r)
		case "shop.test GET /newsletter":
			html(`<form method=post action=/newsletter><label>Newsletter email <input name=email type=email></label> <button>Subscribe</button></form>`)(w, r)
		case "shop.test POST /newsletter":
			r.ParseForm()
			got <- r.PostForm
			html(`<p>Subscribed `+r.PostForm.Get("email")+`</p>`)(w, r)
		case "pay.test GET /card":
			html(`<form method=post action=/pay>
<label>Card holder <input name=holder></label>
<label>Card type <select name=type><option value=visa>Visa</option><option value=mc>Mastercard</option></select></label>
<label><input type=checkbox name=save value=yes> Save card</label>
<button>Pay now</button></form>
<p id=late></p><script>setTimeout(() => { document.getElementById('late').textContent = 'Secure payment ready' }, 300)</script>`)(w, r)
		case "pay.test POST /pay":
			r.ParseForm()
			got <- r.PostForm
			html(`<p>Paid by `+r.PostForm.Get("holder")+`</p>`)(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	return base, got
}

// TestFramesAndShadowRoots observes and acts inside a same-origin iframe,
// a cross-origin one and open shadow roots, in the shared browser (where
// Debian's headless shell keeps cross-site frames in the page's process)
// and in one with site isolation (where the cross-origin frame is a
// DevTools target of its own).
func TestFramesAndShadowRoots(t *testing.T) {
	needChromium(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"in-process frames", nil},
		{"out-of-process frames", []string{"--site-per-process"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := shared
			if tc.flags != nil {
				var err error
				c, err = browser.NewChromium(t.Context(), browser.ChromiumConfig{Policy: testPolicy(), Flags: tc.flags})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
			}
			refused, hits := refusedSite(t)
			base, posted := framesSite(t, refused.URL)
			tb := tab(t, c, "frames")
			ctx := t.Context()
			if err := tb.Navigate(ctx, base("shop.test")+"/"); err != nil {
				t.Fatal(err)
			}
			obs := observe(t, tb)
			if n := browser.OutOfProcessFrames(tb); (n > 0) != (tc.flags != nil) {
				t.Errorf("%d out-of-process frames attached", n)
			}
			for _, want := range []string{
				"# Checkout",
				"--- frame " + base("shop.test") + "/newsletter ---",
				"--- frame " + base("pay.test") + "/card ---",
				"Secure payment ready", // drawn 300 ms after the frame loaded
				"--- end of frame ---",
				"--- frame " + refused.URL + "/tracker: blocked: ",
				"--- frame " + strings.Replace(refused.URL, "http:", "https:", 1) + "/widget: blocked: ",
				"Stars: 4.5 of 5",
				"Rate your order",
			} {
				if !strings.Contains(obs.Text, want) {
					t.Errorf("observation lacks %q:\n%s", want, obs.Text)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the refused address got %d requests", n)
			}
			if strings.Contains(obs.Text, "/pixel") || strings.Contains(obs.Text, "/blank") || strings.Contains(obs.Text, "\n\n") {
				t.Errorf("a tracking pixel or an empty frame shows:\n%s", obs.Text)
			}
			seen := map[string]bool{}
			for _, m := range regexp.MustCompile(`\[(\d+)\]`).FindAllStringSubmatch(obs.Text, -1) {
				if seen[m[1]] {
					t.Errorf("number [%s] is given twice:\n%s", m[1], obs.Text)
				}
				seen[m[1]] = true
			}

			// The shadow root's field and button.
			if err := tb.Type(ctx, idOf(t, obs, `<input type=text label="Comment"`), "great boots", false); err != nil {
				t.Fatal(err)
			}
			if err := tb.Click(ctx, idOf(t, obs, `<button>Send rating`)); err != nil {
				t.Fatal(err)
			}
			if o := observe(t, tb); !strings.Contains(o.Text, "Thanks for: great boots") {
				t.Errorf("after rating in the shadow root:\n%s", o.Text)
			}

			// The cross-origin frame's form.
			if err := tb.Type(ctx, idOf(t, obs, `<input type=text label="Card holder"`), "Ada Lovelace", false); err != nil {
				t.Fatal(err)
			}
			if err := tb.Select(ctx, idOf(t, obs, `<select label="Card type"`), "Mastercard"); err != nil {
				t.Fatal(err)
			}
			if err := tb.Click(ctx, idOf(t, obs, `<input type=checkbox label="Save card"`)); err != nil {
				t.Fatal(err)
			}
			if got := tb.ElementURL(idOf(t, obs, `<input type=text label="Card holder"`)); got != base("pay.test")+"/card" {
				t.Errorf("ElementURL of the card holder field = %q, want the frame's", got)
			}
			if err := tb.Click(ctx, idOf(t, obs, `<button>Pay now`)); err != nil {
				t.Fatal(err)
			}
			form := <-posted
			if form.Get("holder") != "Ada Lovelace" || form.Get("type") != "mc" || form.Get("save") != "yes" {
				t.Errorf("the payment frame posted %v", form)
			}
			o := observe(t, tb)
			if !strings.Contains(o.Text, "Paid by Ada Lovelace") {
				t.Errorf("after paying in the frame:\n%s", o.Text)
			}

			// The same-origin frame's form, submitted with Enter.
			if err := tb.Type(ctx, idOf(t, o, `<input type=email label="Newsletter email"`), "ada@example.org", true); err != nil {
				t.Fatal(err)
			}
			if form := <-posted; form.Get("email") != "ada@example.org" {
				t.Errorf("the newsletter frame posted %v", form)
			}
			if o := observe(t, tb); !strings.Contains(o.Text, "Subscribed ada@example.org") || tb.URL() != base("shop.test")+"/" {
				t.Errorf("after subscribing in the frame (URL %s):\n%s", tb.URL(), o.Text)
			}

			// Page inlines the frames and the shadow roots.
			_, page, err := tb.Page(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				`<div data-errand-frame="` + base("pay.test") + `/card">`,
				"Paid by Ada Lovelace",
				"Subscribed ada@example.org",
				`<shop-rating data-errand-shadow="open">`,
				"<b>4.5</b>",
			} {
				if !strings.Contains(string(page), want) {
					t.Errorf("Page() lacks %q:\n%s", want, page)
				}
			}
		})
	}
}

// TestExtractorReadsFramesAndShadowRoots: the built-in extractor answers
// from a product drawn in a web component's shadow root, with its price in
// a frame from another origin of the same site (the extractor leaves
// frames of other sites out: ads and widgets).
func TestExtractorReadsFramesAndShadowRoots(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	srv := site(t, mux)
	p := port(srv)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "prices.shop.test") {
			html(`<p>Price: <span itemprop=price>$149.00</span></p>`)(w, r)
			return
		}
		html(`<product-card></product-card>
<iframe src="http://prices.shop.test:`+p+`/boot"></iframe>
<script>
customElements.define('product-card', class extends HTMLElement {
  connectedCallback() {
    this.attachShadow({mode: 'open'}).innerHTML = '<h1 itemprop=name>Trailblazer 2 Hiking Boot</h1><p>Waterproof leather.</p>';
  }
});
</script>`)(w, r)
	})
	out := (&agent.Builtin{Loader: browser.ChromiumLoader{Browser: c}}).Run(t.Context(), agent.Request{
		Task: task.Task{Spec: task.Spec{
			StartingPoint: "http://shop.test:" + p + "/", TaskDetails: "name and price", OutputType: task.OutputJSON,
			OutputSchema: []byte(`{"type":"object","properties":{"name":{"type":"string"},"price":{"type":"string"}},"required":["name","price"]}`),
		}},
		Step: func(task.Step) {},
	})
	if want := `{"name":"Trailblazer 2 Hiking Boot","price":"$149.00"}`; out.Code != "" || out.Message != want {
		t.Errorf("built-in extractor: code %q error %q message %s, want %s", out.Code, out.Error, out.Message, want)
	}
}

// TestFrameNumbersStayUnique: elements keep their numbers across
// observations, and a frame that loads new content never reuses a number
// the page gave.
func TestFrameNumbersStayUnique(t *testing.T) {
	c := needChromium(t)
	mux := http.NewServeMux()
	for i := range 3 {
		mux.Handle(fmt.Sprintf("GET /f%d", i), html(fmt.Sprintf(`<a href="/f%d">next %d</a> <button>B%d</button>`, i+1, i, i)))
	}
	mux.Handle("GET /f3", html(`<button>Last</button>`))
	mux.Handle("GET /{$}", html(`<button>Top</button><iframe src="/f0"></iframe><button>Bottom</button>`))
	srv := site(t, mux)
	tb := tab(t, c, "frame-numbers")
	if err := tb.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	all := map[int]string{}
	for i := range 3 {
		obs := observe(t, tb)
		top, bottom := idOf(t, obs, `<button>Top`), idOf(t, obs, `<button>Bottom`)
		if i > 0 && (all[top] != "Top" || all[bottom] != "Bottom") {
			t.Errorf("the page's buttons changed numbers: [%d] [%d]\n%s", top, bottom, obs.Text)
		}
		all[top], all[bottom] = "Top", "Bottom"
		b := idOf(t, obs, `<button>B`+strconv.Itoa(i))
		if was, ok := all[b]; ok {
			t.Errorf("[%d] given to B%d was %s's", b, i, was)
		}
		all[b] = "B" + strconv.Itoa(i)
		if err := tb.Click(t.Context(), idOf(t, obs, `<a href=/f`+strconv.Itoa(i+1)+`>`)); err != nil {
			t.Fatal(err)
		}
	}
	if obs := observe(t, tb); !strings.Contains(obs.Text, "Last") {
		t.Errorf("after three clicks in the frame:\n%s", obs.Text)
	}
}
