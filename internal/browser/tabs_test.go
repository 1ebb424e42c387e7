package browser_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// popupSite serves a page with a link that opens in a new tab and a button
// that opens a sign-in popup; the popup posts the user's name back to its
// opener and closes itself.
func popupSite(t *testing.T) (string, <-chan url.Values) {
	t.Helper()
	posted := make(chan url.Values, 1)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", html(`<h1>Shop</h1><p id=who>Not signed in</p>
<a href="/terms" target="_blank">Terms of sale</a>
<button onclick="window.open('/signin', 'signin', 'width=500,height=600')">Sign in</button>
<script>addEventListener('message', (e) => { document.getElementById('who').textContent = 'Signed in as ' + e.data })</script>`))
	terms := html(`<h1>Terms of sale</h1><p id=late></p>
<script>setTimeout(() => { document.getElementById('late').textContent = 'Returns within 30 days' }, 300)</script>`)
	mux.HandleFunc("GET /terms", func(w http.ResponseWriter, r *http.Request) {
		// A real site's latency. The settle tracker is put into a new tab
		// as soon as it exists, a few milliseconds after the click; a page
		// served faster than that (loopback) can run its first scripts
		// before it, and is then waited for by a longer quiet window.
		time.Sleep(100 * time.Millisecond)
		terms(w, r)
	})
	mux.Handle("GET /signin", html(`<form method=post action=/signin><label>Name <input name=name></label> <button>Continue</button></form>`))
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		posted <- r.PostForm
		html(`<p>Signing you in…</p><script>
setTimeout(() => { window.opener.postMessage(`+jsQuote(r.PostForm.Get("name"))+`, '*'); window.close() }, 200)</script>`)(w, r)
	})
	return site(t, mux).URL, posted
}

func jsQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "<", `\u003c`).Replace(s) + `"`
}

func TestNewTabsAndPopups(t *testing.T) {
	c := needChromium(t)
	base, posted := popupSite(t)
	ctx := t.Context()

	t.Run("a link to a new tab", func(t *testing.T) {
		tb := tab(t, c, "new-tab")
		if err := tb.Navigate(ctx, base+"/"); err != nil {
			t.Fatal(err)
		}
		tb.Network()
		if err := tb.Click(ctx, idOf(t, observe(t, tb), `<a href=/terms>`)); err != nil {
			t.Fatal(err)
		}
		evs := tb.Events()
		if len(evs) != 1 || !evs[0].Opened || evs[0].URL != base+"/terms" {
			t.Fatalf("events after the click: %v", evs)
		}
		if tb.URL() != base+"/terms" {
			t.Errorf("URL = %s, want the new tab's", tb.URL())
		}
		if obs := observe(t, tb); !strings.Contains(obs.Text, "Returns within 30 days") {
			t.Errorf("the new tab, drawn 300 ms after its load, observes:\n%s", obs.Text)
		}
		if !visited(tb.Network(), base+"/terms") {
			t.Errorf("Network lacks the new tab's page")
		}
		// Back in a tab with no history of its own returns to its opener.
		if err := tb.Back(ctx); err != nil {
			t.Fatal(err)
		}
		if evs := tb.Events(); len(evs) != 1 || evs[0].Opened || evs[0].URL != base+"/" {
			t.Errorf("events after Back: %v", evs)
		}
		if obs := observe(t, tb); !strings.Contains(obs.Text, "# Shop") {
			t.Errorf("after Back:\n%s", obs.Text)
		}
	})

	t.Run("a popup that closes itself", func(t *testing.T) {
		tb := tab(t, c, "popup")
		if err := tb.Navigate(ctx, base+"/"); err != nil {
			t.Fatal(err)
		}
		if err := tb.Click(ctx, idOf(t, observe(t, tb), `<button>Sign in`)); err != nil {
			t.Fatal(err)
		}
		if evs := tb.Events(); len(evs) != 1 || !evs[0].Opened || evs[0].URL != base+"/signin" {
			t.Fatalf("events after opening the popup: %v", evs)
		}
		obs := observe(t, tb)
		if err := tb.Type(ctx, idOf(t, obs, `<input type=text label="Name"`), "Ada", true); err != nil {
			t.Fatal(err)
		}
		if form := <-posted; form.Get("name") != "Ada" {
			t.Errorf("the popup posted %v", form)
		}
		// The popup closes 200 ms after its answer loaded, within the
		// settle wait of the submit.
		evs := tb.Events()
		if len(evs) != 1 || evs[0].Opened || evs[0].URL != base+"/" {
			t.Fatalf("events after the popup closed: %v", evs)
		}
		if obs := observe(t, tb); !strings.Contains(obs.Text, "Signed in as Ada") || tb.URL() != base+"/" {
			t.Errorf("back on the opener (URL %s):\n%s", tb.URL(), obs.Text)
		}
	})
}
