package recipe

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestURLPattern(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://Shop.test/orders/12345?page=2&sort=asc", "https://shop.test/orders/*?page&sort"},
		{"https://shop.test/orders/12345?sort=desc&page=9#top", "https://shop.test/orders/*?page&sort"},
		{"https://shop.test/", "https://shop.test/"},
		{"https://shop.test", "https://shop.test/"},
		{"http://127.0.0.1:8080/login", "http://127.0.0.1:8080/login"},
		{"https://a.test/p/5f3a9c0e77/edit", "https://a.test/p/*/edit"},
		{"https://a.test/u/123e4567-e89b-12d3-a456-426614174000", "https://a.test/u/*"},
		{"https://a.test/blog/how-to-pick-a-lamp", "https://a.test/blog/how-to-pick-a-lamp"},
		{"https://a.test/s/eyJhbGciOiJIUzI1NiJ9x", "https://a.test/s/*"},
		{"https://a.test/deadbeef", "https://a.test/deadbeef"}, // no digit: a word
		{"not a url", "not a url"},
	}
	for _, c := range cases {
		if got := URLPattern(c.in); got != c.want {
			t.Errorf("URLPattern(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSamePage(t *testing.T) {
	cases := []struct {
		pattern, url string
		want         bool
	}{
		{"https://shop.test/orders/*?page", "https://shop.test/orders/77?page=3", true},
		{"https://shop.test/orders/*", "https://shop.test/orders/77?q=x", true},
		{"https://shop.test/orders/*", "https://shop.test/orders/77/items", false},
		{"https://shop.test/login", "https://shop.test/account", false},
		{"https://shop.test/login", "https://evil.test/login", false},
		{"http://shop.test/login", "https://shop.test/login", false},
	}
	for _, c := range cases {
		if got := SamePage(c.pattern, c.url); got != c.want {
			t.Errorf("SamePage(%q, %q) = %v, want %v", c.pattern, c.url, got, c.want)
		}
	}
}

func TestAutoName(t *testing.T) {
	base := Intent{TaskDetails: "Read my open orders.", StartingPoint: "https://shop.test/orders/1", OutputType: "structured_json", OutputSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"number"}}}`)}
	same := []Intent{
		{TaskDetails: "  read my   OPEN orders ", StartingPoint: "https://shop.test/orders/2", OutputType: "structured_json", OutputSchema: json.RawMessage(`{ "properties": {"n": {"type": "number"}}, "type": "object" }`)},
	}
	other := []Intent{
		{TaskDetails: "Read my closed orders.", StartingPoint: base.StartingPoint, OutputType: base.OutputType, OutputSchema: base.OutputSchema},
		{TaskDetails: base.TaskDetails, StartingPoint: "https://shop.test/cart", OutputType: base.OutputType, OutputSchema: base.OutputSchema},
		{TaskDetails: base.TaskDetails, StartingPoint: base.StartingPoint, OutputType: "text"},
		{TaskDetails: base.TaskDetails, StartingPoint: base.StartingPoint, OutputType: base.OutputType, OutputSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"string"}}}`)},
	}
	name := AutoName(base)
	if !ValidName(name) || !strings.HasPrefix(name, "auto-") {
		t.Fatalf("AutoName = %q, not a valid recipe name", name)
	}
	for _, in := range same {
		if got := AutoName(in); got != name {
			t.Errorf("AutoName(%+v) = %s, want %s (the same intent)", in, got, name)
		}
	}
	for _, in := range other {
		if got := AutoName(in); got == name {
			t.Errorf("AutoName(%+v) = %s, the same as another intent's", in, got)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "checkout", "daily_prices-2", strings.Repeat("x", 100)} {
		if !ValidName(ok) {
			t.Errorf("ValidName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "Checkout", "a b", "a/b", "é", strings.Repeat("x", 101), "a.b"} {
		if ValidName(bad) {
			t.Errorf("ValidName(%q) = true", bad)
		}
	}
}

func TestScrubRemovesEveryCopyOfASecret(t *testing.T) {
	const secret = "hunter2-Secret"
	tr := Trace{
		Format: Format,
		Steps: []Step{{
			Tool: "type", Args: json.RawMessage(`{"text":"` + secret + `"}`),
			Element: &Element{Role: "textbox", Label: "Password", Context: "Hello " + secret},
			URL:     "https://a.test/login?token=" + secret,
		}},
		Answer: &Node{Kind: "string", From: &Source{Path: "main:1/p:1", Before: "user " + secret + " has"}},
	}
	out, err := tr.Scrub(func(s string) string { return strings.ReplaceAll(s, secret, "{{password}}") })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if strings.Contains(string(b), secret) {
		t.Fatalf("the scrubbed trace still holds the secret: %s", b)
	}
	if strings.Count(string(b), "{{password}}") != 4 {
		t.Errorf("want the placeholder in the 4 places the secret was: %s", b)
	}
}
