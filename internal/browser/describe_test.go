package browser_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/recipe"
)

const shopPage = `<header><nav><a href="/">Home</a> <a href="/help">Help</a></nav>
<div id=drawer style="display:none"><a href="/cart">Cart</a><button>Buy</button></div></header>
<main><h1>Mugs</h1>
<section class=card><h2>Blue mug</h2><p>Price: $12.50</p><button class="btn btn-primary">Buy</button></section>
<section class=card><h2>Red mug</h2><p>Price: $1,299.00</p><button>Buy</button></section>
<form action=/subscribe><fieldset><legend>Newsletter</legend>
<label>E-mail <input type=email name=email placeholder="you@example.com" value="typed@example.com"></label>
<label><input type=checkbox name=weekly value=yes> Weekly</label>
<select name=size aria-label="Mug size"><option>Small<option>Large</select>
<button type=submit>Subscribe</button></fieldset></form>
<ul><li>Blue mug</li><li>Red <b>mug</b></li></ul></main>`

func inspector(t *testing.T, tb browser.Tab) browser.Inspector {
	t.Helper()
	in, ok := tb.(browser.Inspector)
	if !ok {
		t.Fatalf("%T does not describe pages", tb)
	}
	return in
}

// The description of an element names it as a person would and as the
// page does, and says where it stands among elements like it; it never
// carries what was typed into a field.
func TestDescribeElement(t *testing.T) {
	c := needChromium(t)
	srv := site(t, html(shopPage))
	tb := tab(t, c, "describe")
	if err := tb.Navigate(t.Context(), srv.URL+"/mugs"); err != nil {
		t.Fatal(err)
	}
	obs := observe(t, tb)
	in := inspector(t, tb)

	buy, err := in.Describe(t.Context(), idOf(t, obs, `<button>Buy`))
	if err != nil {
		t.Fatal(err)
	}
	if buy.Role != "button" || buy.Name != "Buy" || buy.Tag != "button" || buy.Context != "Blue mug" || buy.Index != 0 || buy.Count != 2 {
		t.Errorf("first Buy = %+v, want button \"Buy\" in \"Blue mug\", 1st of 2 visible (the drawer's is hidden)", buy)
	}
	if !strings.Contains(buy.CSS, "section:nth-of-type(1)") || !strings.HasPrefix(buy.XPath, "/html[1]/body[1]/") {
		t.Errorf("paths: %q %q", buy.CSS, buy.XPath)
	}

	email, err := in.Describe(t.Context(), idOf(t, obs, `<input type=email`))
	if err != nil {
		t.Fatal(err)
	}
	if email.Role != "textbox" || email.Label != "E-mail" || email.Attrs["name"] != "email" || email.Attrs["placeholder"] != "you@example.com" || email.Context != "Newsletter" {
		t.Errorf("email field = %+v", email)
	}
	for k, v := range email.Attrs {
		if strings.Contains(v, "typed@example.com") {
			t.Errorf("the description carries the field's value in %s: %q", k, v)
		}
	}
	weekly, err := in.Describe(t.Context(), idOf(t, obs, `<input type=checkbox`))
	if err != nil {
		t.Fatal(err)
	}
	if weekly.Role != "checkbox" || weekly.Label != "Weekly" || weekly.Attrs["value"] != "yes" {
		t.Errorf("checkbox = %+v", weekly)
	}
	size, err := in.Describe(t.Context(), idOf(t, obs, `<select`))
	if err != nil {
		t.Fatal(err)
	}
	if size.Role != "combobox" || size.Name != "Mug size" {
		t.Errorf("select = %+v", size)
	}
}

// Candidates are numbered like observed elements, so the element Refind
// picks is clicked with the ordinary Click.
func TestCandidatesAreActedOn(t *testing.T) {
	c := needChromium(t)
	srv := site(t, html(shopPage+`<p id=out></p><script>
document.querySelectorAll('main section button').forEach((b) => b.onclick = () => {
  document.getElementById('out').textContent = 'bought ' + b.parentElement.querySelector('h2').textContent;
});</script>`))
	tb := tab(t, c, "candidates")
	if err := tb.Navigate(t.Context(), srv.URL+"/mugs"); err != nil {
		t.Fatal(err)
	}
	observe(t, tb) // the actions' helpers
	in := inspector(t, tb)
	live, err := in.Candidates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var hiddenBuy, shownBuys int
	for _, cd := range live {
		if cd.Name == "Buy" {
			if cd.Visible {
				shownBuys++
			} else {
				hiddenBuy++
			}
		}
	}
	if shownBuys != 2 || hiddenBuy != 1 {
		t.Fatalf("Buy candidates: %d shown, %d hidden; want 2 and 1", shownBuys, hiddenBuy)
	}
	m := recipe.Refind(recipe.Element{Role: "button", Name: "Buy", Context: "Red mug", Count: 2, Index: 1}, live)
	if m.Verdict != recipe.Found {
		t.Fatalf("Refind: %v %s", m.Verdict, m.Why)
	}
	if err := tb.Click(t.Context(), m.ID); err != nil {
		t.Fatal(err)
	}
	st, err := in.State(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Texts, func(x recipe.Text) bool { return x.Text == "bought Red mug" }) {
		t.Errorf("the click did not reach the Red mug's Buy: %v", st.Texts)
	}
}

// The page state lists its landmarks (never field values) and the text of
// its elements with paths a recipe can read them by again.
func TestPageState(t *testing.T) {
	c := needChromium(t)
	srv := site(t, html(shopPage))
	tb := tab(t, c, "state")
	if err := tb.Navigate(t.Context(), srv.URL+"/mugs"); err != nil {
		t.Fatal(err)
	}
	in := inspector(t, tb)
	st, err := in.State(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Headings, []string{"Mugs", "Blue mug", "Red mug"}) {
		t.Errorf("headings = %v", st.Headings)
	}
	if !slices.Contains(st.Fields, "email|email|E-mail") || !slices.Contains(st.Controls, "button|Subscribe") || slices.Contains(st.Controls, "link|Cart") {
		t.Errorf("fields %v, controls %v (the hidden drawer's Cart must not count)", st.Fields, st.Controls)
	}
	if strings.Contains(strings.Join(st.Fields, " "), "typed@") {
		t.Errorf("the state carries a field's value: %v", st.Fields)
	}
	want := map[string]string{
		"main:1/section:1/p:1":  "Price: $12.50",
		"main:1/section:2/h2:1": "Red mug",
		"main:1/ul:1/li:2":      "Red mug",
		"main:1/ul:1/li:2/b:1":  "mug",
	}
	got := map[string]string{}
	for _, x := range st.Texts {
		got[x.Path] = x.Text
		if strings.Contains(x.Path, "div:1") {
			t.Errorf("hidden text in the snapshot: %+v", x)
		}
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("text at %s = %q, want %q", p, got[p], w)
		}
	}
	n, err := recipe.Induce(map[string]any{"price": "$1,299.00", "names": []any{"Blue mug", "Red mug"}}, []recipe.Snapshot{{Point: 0, Texts: st.Texts}})
	if err != nil {
		t.Fatalf("Induce on a real page: %v", err)
	}
	// Both the cards' headings and the list's items give the names: either
	// is a list of rows.
	if r := n.Fields[0].Rows; r == nil || r.Pattern != "main:1/ul:1/li:*" && r.Pattern != "main:1/section:*" {
		t.Errorf("the names were not tied to repeated elements: %+v", r)
	}
	if f := n.Fields[1].From; f == nil || f.Path != "main:1/section:2/p:1" || f.Before != "Price: " {
		t.Errorf("the price was not tied to its paragraph: %+v", f)
	}
}

// Learned tasks reach into frames as the observation does: an element in a
// cross-origin frame is described with its frame's place and URL pattern,
// listed among the candidates with the number the observation gave it, and
// the frame's fields and texts are in the page's state. On the page loaded
// anew, the candidates alone (no observation) number the frame's elements
// and make them actionable: Refind's pick is what Type and Click act on.
// In the shared browser and with site isolation.
func TestInspectorReachesFrames(t *testing.T) {
	inFrameProcesses(t, func(t *testing.T, c *browser.Chromium, _ bool) {
		refused, _ := refusedSite(t)
		base, posted := framesSite(t, refused.URL)
		tb := tab(t, c, "inspect-frames")
		ctx := t.Context()
		if err := tb.Navigate(ctx, base("shop.test")+"/"); err != nil {
			t.Fatal(err)
		}
		obs := observe(t, tb)
		in := inspector(t, tb)
		payURL := recipe.URLPattern(base("pay.test") + "/card")

		holderID := idOf(t, obs, `<input type=text label="Card holder"`)
		holder, err := in.Describe(ctx, holderID)
		if err != nil {
			t.Fatal(err)
		}
		// The newsletter's frame is the page's first, the payment's its
		// second.
		if holder.Role != "textbox" || holder.Label != "Card holder" || holder.Frame != "2" || holder.FrameURL != payURL {
			t.Errorf("card holder field = %+v, want a textbox in frame 2 (%s)", holder, payURL)
		}
		news, err := in.Describe(ctx, idOf(t, obs, `<button>Subscribe`))
		if err != nil {
			t.Fatal(err)
		}
		if news.Frame != "1" || news.FrameURL != recipe.URLPattern(base("shop.test")+"/newsletter") {
			t.Errorf("newsletter button = %+v, want frame 1", news)
		}
		top, err := in.Describe(ctx, idOf(t, obs, `<button>Send rating`))
		if err != nil {
			t.Fatal(err)
		}
		if top.Frame != "" || top.FrameURL != "" {
			t.Errorf("the page's own button (in a shadow root) = %+v, want no frame", top)
		}

		live, err := in.Candidates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := recipe.Refind(holder, live)
		if m.Verdict != recipe.Found || m.ID != holderID {
			t.Errorf("Refind of the card holder field = %v %d (%s), want the observed [%d]", m.Verdict, m.ID, m.Why, holderID)
		}
		st, err := in.State(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(st.Fields, "text|holder|Card holder") || !slices.Contains(st.Controls, "button|Pay now") || !slices.Contains(st.Headings, "Checkout") {
			t.Errorf("state: headings %v, fields %v, controls %v", st.Headings, st.Fields, st.Controls)
		}
		if !slices.ContainsFunc(st.Texts, func(x recipe.Text) bool {
			return strings.HasPrefix(x.Path, "frame:2/") && x.Text == "Secure payment ready"
		}) {
			t.Errorf("the payment frame's text is not in the state under frame:2/: %v", st.Texts)
		}

		// A new document: numbered by the candidates alone.
		if err := tb.Navigate(ctx, base("shop.test")+"/"); err != nil {
			t.Fatal(err)
		}
		live, err = in.Candidates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		act := func(want recipe.Element) int {
			t.Helper()
			m := recipe.Refind(want, live)
			if m.Verdict != recipe.Found {
				t.Fatalf("Refind %s: %v %s", want, m.Verdict, m.Why)
			}
			return m.ID
		}
		if err := tb.Type(ctx, act(holder), "Grace Hopper", false); err != nil {
			t.Fatal(err)
		}
		if err := tb.Click(ctx, act(recipe.Element{Role: "button", Name: "Pay now", Frame: "2", FrameURL: payURL, Count: 1})); err != nil {
			t.Fatal(err)
		}
		if form := <-posted; form.Get("holder") != "Grace Hopper" {
			t.Errorf("the payment frame posted %v", form)
		}
	})
}
