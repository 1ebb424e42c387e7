package recipe

import (
	"strings"
	"testing"
)

func button(id int, name, context, css string) Candidate {
	return Candidate{ID: id, Visible: true, Element: Element{Role: "button", Name: name, Tag: "button", Context: context, CSS: css}}
}

// framed puts a candidate in the frame at path whose URL pattern is url.
func framed(c Candidate, path, url string) Candidate {
	c.Frame, c.FrameURL = path, url
	return c
}

func TestRefind(t *testing.T) {
	buy := Element{Role: "button", Name: "Buy", Tag: "button", Context: "Blue mug", CSS: "main > div:nth-of-type(1) > button", Count: 1}
	signIn := Element{Role: "button", Name: "Sign in", Tag: "button", CSS: "form > button", Count: 1}
	email := Element{Role: "textbox", Label: "Email", Tag: "input", Attrs: map[string]string{"name": "email", "type": "email"}, Count: 1}
	addToCart := Element{Role: "button", Name: "Add to cart", Tag: "button", CSS: "li:nth-of-type(2) > button", Index: 1, Count: 3}
	small := Element{Role: "radio", Label: "Small", Tag: "input", Attrs: map[string]string{"name": "size", "value": "s"}, Count: 1}
	pay := Element{Role: "button", Name: "Pay", Tag: "button", CSS: "form > button", Count: 1, Frame: "1", FrameURL: "https://pay.test/checkout/*"}

	cases := []struct {
		name string
		want Element
		live []Candidate
		verd Verdict
		id   int
	}{
		{"the same page", signIn, []Candidate{button(7, "Sign in", "", "form > button")}, Found, 7},
		{"moved elsewhere, still the only one", signIn, []Candidate{button(3, "Help", "", "nav > a"), button(9, "Sign in", "", "header > div > button")}, Found, 9},
		{"name differs only in case, spaces and an arrow", signIn, []Candidate{button(4, "  SIGN   IN ›", "", "x")}, Found, 4},
		{"renamed", signIn, []Candidate{button(4, "Log in", "", "form > button")}, NotFound, 0},
		{"a link of the same name is not the button", signIn, []Candidate{{ID: 5, Visible: true, Element: Element{Role: "link", Name: "Sign in", Tag: "a"}}}, NotFound, 0},
		{"moved into a closed menu", signIn, []Candidate{{ID: 6, Visible: false, Element: signIn}}, Hidden, 0},
		{"two Buy buttons where one was recorded, nothing tells them apart", buy,
			[]Candidate{button(1, "Buy", "Blue mug", "main > div:nth-of-type(1) > button"), button(2, "Buy", "Blue mug", "main > div:nth-of-type(1) > button:nth-of-type(2)")}, Ambiguous, 0},
		{"two Buy buttons, the section heading tells them apart", buy,
			[]Candidate{button(1, "Buy", "Red mug", "main > div:nth-of-type(1) > button"), button(2, "Buy", "Blue mug", "main > div:nth-of-type(2) > button")}, Found, 2},
		{"a hidden duplicate (a mobile drawer) does not count", signIn,
			[]Candidate{{ID: 1, Visible: false, Element: signIn}, button(2, "Sign in", "", "form > button")}, Found, 2},
		{"a stable id tells them apart", Element{Role: "button", Name: "Buy", Tag: "button", Attrs: map[string]string{"id": "buy-blue"}, Count: 1},
			[]Candidate{{ID: 1, Visible: true, Element: Element{Role: "button", Name: "Buy", Attrs: map[string]string{"id": "buy-red"}}}, {ID: 2, Visible: true, Element: Element{Role: "button", Name: "Buy", Attrs: map[string]string{"id": "buy-blue"}}}}, Found, 2},
		{"a generated id does not", Element{Role: "button", Name: "Buy", Tag: "button", Attrs: map[string]string{"id": "r4711x9"}, Count: 1},
			[]Candidate{{ID: 1, Visible: true, Element: Element{Role: "button", Name: "Buy", Attrs: map[string]string{"id": "r4711x9"}}}, {ID: 2, Visible: true, Element: Element{Role: "button", Name: "Buy", Attrs: map[string]string{"id": "r4711x8"}}}}, Ambiguous, 0},
		{"as many alike as recorded, the recorded position on the recorded path", addToCart,
			[]Candidate{button(1, "Add to cart", "", "li:nth-of-type(1) > button"), button(2, "Add to cart", "", "li:nth-of-type(2) > button"), button(3, "Add to cart", "", "li:nth-of-type(3) > button")}, Found, 2},
		{"one more alike than recorded", addToCart,
			[]Candidate{button(1, "Add to cart", "", "li:nth-of-type(1) > button"), button(2, "Add to cart", "", "li:nth-of-type(2) > button"), button(3, "Add to cart", "", "li:nth-of-type(3) > button"), button(4, "Add to cart", "", "li:nth-of-type(4) > button")}, Ambiguous, 0},
		{"one of three recorded, one left", addToCart, []Candidate{button(1, "Add to cart", "", "li:nth-of-type(1) > button")}, Ambiguous, 0},
		{"a field's label renamed, its name attribute kept", email,
			[]Candidate{{ID: 3, Visible: true, Element: Element{Role: "textbox", Label: "E-mail address", Attrs: map[string]string{"name": "email"}}}}, Found, 3},
		{"a field added beside it", email,
			[]Candidate{{ID: 3, Visible: true, Element: Element{Role: "textbox", Label: "Phone", Attrs: map[string]string{"name": "phone"}}}, {ID: 4, Visible: true, Element: Element{Role: "textbox", Label: "Email", Attrs: map[string]string{"name": "email"}}}}, Found, 4},
		{"a radio of the group by its value", small,
			[]Candidate{{ID: 1, Visible: true, Element: Element{Role: "radio", Label: "Large size", Attrs: map[string]string{"name": "size", "value": "l"}}}, {ID: 2, Visible: true, Element: Element{Role: "radio", Label: "Small size", Attrs: map[string]string{"name": "size", "value": "s"}}}}, Found, 2},
		{"in the page, not in the recorded frame", pay, []Candidate{button(1, "Pay", "", "form > button")}, NotFound, 0},
		{"in a frame, not in the page", signIn, []Candidate{framed(button(1, "Sign in", "", "form > button"), "1", "https://idp.test/embed")}, NotFound, 0},
		{"in its frame", pay, []Candidate{button(1, "Pay", "", "nav > button"), framed(button(2, "Pay", "", "form > button"), "1", "https://pay.test/checkout/*")}, Found, 2},
		{"its frame moved among the frames (an ad's frame added before it)", pay,
			[]Candidate{framed(button(1, "Pay", "", "div > button"), "1", "https://ads.test/banner"), framed(button(2, "Pay", "", "form > button"), "2", "https://pay.test/checkout/*")}, Found, 2},
		{"in a frame of another site", pay, []Candidate{framed(button(1, "Pay", "", "form > button"), "1", "https://evil.test/checkout/*")}, NotFound, 0},
		{"frames alike: the one at the recorded place", pay,
			[]Candidate{framed(button(1, "Pay", "", "form > button"), "1", "https://pay.test/checkout/*"), framed(button(2, "Pay", "", "form > button"), "2", "https://pay.test/checkout/*")}, Found, 1},
		{"frames alike, none at the recorded place", pay,
			[]Candidate{framed(button(1, "Pay", "", "form > button"), "2", "https://pay.test/checkout/*"), framed(button(2, "Pay", "", "form > button"), "3", "https://pay.test/checkout/*")}, Ambiguous, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Refind(c.want, c.live)
			if m.Verdict != c.verd || m.ID != c.id {
				t.Fatalf("Refind = %v %d (%s), want %v %d", m.Verdict, m.ID, m.Why, c.verd, c.id)
			}
			if m.Verdict != Found && m.Why == "" {
				t.Errorf("a %v verdict must say why", m.Verdict)
			}
		})
	}
}

func TestElementString(t *testing.T) {
	e := Element{Role: "button", Name: "Buy", Context: "Blue mug"}
	if got := e.String(); got != `button "Buy" (in "Blue mug")` {
		t.Errorf("String = %s", got)
	}
	f := Element{Role: "textbox", Label: "Email"}
	if got := f.String(); got != `textbox "Email"` {
		t.Errorf("String = %s", got)
	}
	f.Frame, f.FrameURL = "1", "https://idp.test/embed"
	if got := f.String(); got != `textbox "Email" in the frame https://idp.test/embed` {
		t.Errorf("String = %s", got)
	}
}

func TestReached(t *testing.T) {
	login := PageState{URL: "https://a.test/login", Title: "Sign in", Headings: []string{"Sign in"},
		Fields: []string{"email|email|Email", "password|password|Password"}, Controls: []string{"button|Sign in", "link|Forgot password?"}}.Fingerprint()
	orders := PageState{URL: "https://a.test/orders", Title: "Orders", Headings: []string{"Your orders", "Recent"},
		Controls: []string{"link|Order 1", "link|Order 2", "button|Sign out"}}.Fingerprint()
	ordersChanged := PageState{URL: "https://a.test/orders", Title: "Orders", Headings: []string{"Your orders", "Recent"},
		Controls: []string{"link|Order 1", "link|Order 3", "button|Sign out"}}.Fingerprint()
	loginOtherURL := login
	loginOtherURL.URL = URLPattern("https://a.test/orders")
	withField := PageState{URL: "https://a.test/login", Title: "Sign in", Headings: []string{"Sign in"},
		Fields: []string{"email|email|Email", "password|password|Password", "tel|phone|Phone"}, Controls: []string{"button|Sign in", "link|Forgot password?"}}.Fingerprint()
	cartBefore := PageState{URL: "https://a.test/mug", Title: "Blue mug", Headings: []string{"Blue mug", "Details", "Reviews"},
		Controls: []string{"button|Add to cart", "link|Home", "link|Mugs", "link|Help"}}.Fingerprint()
	cartAfter := PageState{URL: "https://a.test/mug", Title: "Blue mug", Headings: []string{"Blue mug", "Details", "Reviews", "Added to your cart"},
		Controls: []string{"button|Checkout", "link|Home", "link|Mugs", "link|Help"}}.Fingerprint()

	cases := []struct {
		name   string
		live   Fingerprint
		before *Fingerprint
		after  Fingerprint
		want   bool
		whyHas string
	}{
		{"reached", orders, &login, orders, true, ""},
		{"content changed, same shape", ordersChanged, &login, orders, true, ""},
		{"another page", login, &login, orders, false, "the page is"},
		{"still the form (a sign-in that failed)", loginOtherURL, &login, orders, false, "looks different"},
		{"a change that did not happen", cartBefore, &cartBefore, cartAfter, false, "before the step"},
		{"a step that does not change the page, a field added", withField, &login, login, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, why := Reached(c.live, c.before, c.after)
			if ok != c.want || !strings.Contains(why, c.whyHas) {
				t.Errorf("Reached = %v %q, want %v (%q)", ok, why, c.want, c.whyHas)
			}
		})
	}
}
