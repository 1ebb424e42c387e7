package recipe

import (
	"encoding/json"
	"strings"
	"testing"
)

// Page texts are whatever a site serves: inducing from them never panics,
// and whatever Induce accepts reads back to the same answer.
func FuzzInduce(f *testing.F) {
	f.Add("Order number: A-1234 (keep it)", "Total: $1,299.00", "A-1234", 1299.0)
	f.Add("Blue mug", "$12.50", "Blue mug", 12.5)
	f.Add("", "", "x", 0.0)
	f.Add("a a a", "1 1 1", "a", 1.0)
	f.Fuzz(func(t *testing.T, text1, text2, s string, n float64) {
		snaps := []Snapshot{
			{Point: 0, Texts: []Text{{Path: "main:1/p:1", Text: text1}, {Path: "main:1/ul:1/li:1", Text: text2}}},
			{Point: 1, Texts: []Text{{Path: "main:1/ul:1/li:1", Text: text1}, {Path: "main:1/ul:1/li:2", Text: text2}}},
		}
		for _, answer := range []any{
			s,
			map[string]any{"s": s, "n": json.Number(strings.TrimSpace(jsonNumber(n)))},
			[]any{s},
			[]any{map[string]any{"s": s}},
		} {
			node, err := Induce(answer, snaps)
			if err != nil {
				continue
			}
			by := map[int]Snapshot{0: snaps[0], 1: snaps[1]}
			got, err := node.Read(by)
			if err != nil || !Equal(got, answer) {
				t.Fatalf("Induce accepted %v but Read gives %v, %v", answer, got, err)
			}
		}
	})
}

func jsonNumber(f float64) string {
	b, err := json.Marshal(f)
	if err != nil {
		return "0"
	}
	return string(b)
}

// Refind never picks an element that is hidden or lacks the recorded
// identity, whatever the page offers.
func FuzzRefind(f *testing.F) {
	f.Add("button", "Buy", "Blue mug", "button", "Buy", "Blue mug", true, "button", "Buy", "Red mug", true, 1)
	f.Add("textbox", "Email", "", "textbox", "email", "", false, "textbox", "Email", "x", true, 0)
	f.Fuzz(func(t *testing.T, role, name, ctx, r1, n1, c1 string, v1 bool, r2, n2, c2 string, v2 bool, count int) {
		want := Element{Role: role, Name: name, Label: name, Context: ctx, Count: count}
		live := []Candidate{
			{ID: 1, Visible: v1, Element: Element{Role: r1, Name: n1, Label: n1, Context: c1}},
			{ID: 2, Visible: v2, Element: Element{Role: r2, Name: n2, Label: n2, Context: c2}},
		}
		m := Refind(want, live)
		if m.Verdict != Found {
			if m.Why == "" {
				t.Fatalf("verdict %v without a reason", m.Verdict)
			}
			return
		}
		c := live[m.ID-1]
		if !c.Visible || !sameIdentity(want, c.Element) {
			t.Fatalf("Refind picked %+v for %+v", c, want)
		}
	})
}

// A URL is always the same page as its own pattern.
func FuzzURLPattern(f *testing.F) {
	f.Add("https://shop.test/orders/12345?page=2&sort=asc#x")
	f.Add("http://[::1]:8080/a/b/")
	f.Add("mailto:x@y")
	f.Fuzz(func(t *testing.T, raw string) {
		p := URLPattern(raw)
		if strings.HasPrefix(p, "http") && !SamePage(p, raw) {
			t.Fatalf("%q is not the same page as its pattern %q", raw, p)
		}
	})
}
