package monitor

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/task"
)

// ch writes a change compactly for comparisons: kind path [key] before -> after.
func ch(c Change) string {
	s := c.Kind + " " + c.Path
	if c.Key != nil {
		s += " [" + string(c.Key) + "]"
	}
	if c.Before != nil || c.After != nil {
		s += " " + string(c.Before) + " -> " + string(c.After)
	}
	return s
}

func chs(cs []Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, ch(c))
	}
	return out
}

func mustComparer(t *testing.T, kind task.OutputType, n Notify) *Comparer {
	t.Helper()
	c, err := NewComparer(kind, n)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDiffJSON(t *testing.T) {
	products := func(items ...string) string {
		return `{"products":[` + strings.Join(items, ",") + `]}`
	}
	tests := []struct {
		name          string
		notify        Notify
		before, after string
		want          []string
	}{
		{"same answer", Notify{}, `{"title":"Anvil","price":29.99}`, `{"price":29.99,"title":"Anvil"}`, []string{}},
		{"numbers by value", Notify{}, `{"price":29.90}`, `{"price":29.9}`, []string{}},
		{"one field", Notify{}, `{"title":"Anvil","price":29.99}`, `{"title":"Anvil","price":24.99}`,
			[]string{"changed /price 29.99 -> 24.99"}},
		{"added and removed members", Notify{}, `{"a":1,"b":2}`, `{"b":2,"c":3}`,
			[]string{"removed /a 1 -> ", "added /c  -> 3"}},
		{"type change", Notify{}, `{"a":{"x":1}}`, `{"a":"x"}`, []string{`changed /a {"x":1} -> "x"`}},
		{"null to value", Notify{}, `{"a":null}`, `{"a":0}`, []string{"changed /a null -> 0"}},
		{"escaped member names", Notify{}, `{"a/b":{"m~n":1}}`, `{"a/b":{"m~n":2}}`, []string{"changed /a~1b/m~0n 1 -> 2"}},
		{"watch one field", Notify{Watch: []string{"/price"}}, `{"title":"Anvil","price":1}`, `{"title":"Big Anvil","price":1}`, []string{}},
		{"watch sees its subtree", Notify{Watch: []string{"/offer"}}, `{"offer":{"price":1},"x":1}`, `{"offer":{"price":2},"x":2}`,
			[]string{"changed /offer/price 1 -> 2"}},
		{"watched value appears", Notify{Watch: []string{"/offer/price"}}, `{}`, `{"offer":{"price":2}}`,
			[]string{`added /offer  -> {"price":2}`}},
		{"array by position", Notify{}, products(`{"sku":"a","price":1}`, `{"sku":"b","price":2}`),
			products(`{"sku":"b","price":2}`, `{"sku":"a","price":1}`),
			[]string{`changed /products/0/price 1 -> 2`, `changed /products/0/sku "a" -> "b"`, `changed /products/1/price 2 -> 1`, `changed /products/1/sku "b" -> "a"`}},
		{"array by key: reordered is no change", Notify{Key: "sku"}, products(`{"sku":"a","price":1}`, `{"sku":"b","price":2}`),
			products(`{"sku":"b","price":2}`, `{"sku":"a","price":1}`), []string{}},
		{"array by key: changed, added, removed", Notify{Key: "sku"},
			products(`{"sku":"a","price":1}`, `{"sku":"b","price":2}`, `{"sku":"c","price":3}`),
			products(`{"sku":"c","price":3}`, `{"sku":"a","price":1.5}`, `{"sku":"d","price":4}`),
			[]string{`changed /products/1/price ["a"] 1 -> 1.5`, `added /products/2 ["d"]  -> {"price":4,"sku":"d"}`, `removed /products/1 ["b"] {"price":2,"sku":"b"} -> `}},
		{"array by key: numeric keys", Notify{Key: "id"}, `[{"id":1,"v":"x"},{"id":2,"v":"y"}]`, `[{"id":2,"v":"z"},{"id":1,"v":"x"}]`,
			[]string{`changed /0/v [2] "y" -> "z"`}},
		{"array by key: duplicate keys fall back to position", Notify{Key: "sku"}, products(`{"sku":"a","p":1}`, `{"sku":"a","p":2}`),
			products(`{"sku":"a","p":2}`, `{"sku":"a","p":1}`), []string{"changed /products/0/p 1 -> 2", "changed /products/1/p 2 -> 1"}},
		{"array by key: items without the key fall back to position", Notify{Key: "sku"}, `[{"x":1}]`, `[{"x":2}]`,
			[]string{"changed /0/x 1 -> 2"}},
		{"wildcard watch: price of each item", Notify{Key: "sku", Watch: []string{"/products/*/price"}},
			products(`{"sku":"a","name":"A","price":1}`, `{"sku":"b","name":"B","price":2}`),
			products(`{"sku":"a","name":"A2","price":1}`, `{"sku":"b","name":"B","price":3}`, `{"sku":"c","name":"C","price":9}`),
			[]string{`changed /products/1/price ["b"] 2 -> 3`, `added /products/2 ["c"]  -> {"name":"C","price":9,"sku":"c"}`}},
		{"ignore in strings", Notify{Ignore: []string{`\d+ minutes ago`}}, `{"note":"updated 3 minutes ago","price":1}`, `{"note":"updated 7 minutes ago","price":1}`, []string{}},
		{"ignore leaves the rest compared", Notify{Ignore: []string{`\d+ minutes ago`}}, `{"note":"updated 3 minutes ago"}`, `{"note":"edited 7 minutes ago"}`,
			[]string{`changed /note "updated 3 minutes ago" -> "edited 7 minutes ago"`}},
		{"html kept readable", Notify{}, `{"a":"<b>"}`, `{"a":"<i>"}`, []string{`changed /a "<b>" -> "<i>"`}},
		{"not JSON: whole text", Notify{}, `{"a":1}`, `not json`, []string{`changed  "{\"a\":1}" -> "not json"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated := mustComparer(t, task.OutputJSON, tt.notify).Diff(tt.before, tt.after)
			if truncated {
				t.Error("truncated")
			}
			if !reflect.DeepEqual(chs(got), tt.want) {
				t.Errorf("changes:\n got %q\nwant %q", chs(got), tt.want)
			}
		})
	}
}

func TestDiffCSV(t *testing.T) {
	before := "sku,name,price\nA-1,Anvil,29.99\nB-2,Bell,5.00\nC-3,Cord,1.00\n"
	tests := []struct {
		name   string
		notify Notify
		after  string
		want   []string
	}{
		{"same", Notify{}, before, []string{}},
		{"same, line ends differ", Notify{}, strings.ReplaceAll(before, "\n", "\r\n"), []string{}},
		{"by key column", Notify{Key: "sku"}, "sku,name,price\nC-3,Cord,1.00\nA-1,Anvil,24.99\nD-4,Drum,7\n",
			[]string{`changed /1/price ["A-1"] "29.99" -> "24.99"`, `added /2 ["D-4"]  -> {"name":"Drum","price":"7","sku":"D-4"}`, `removed /1 ["B-2"] {"name":"Bell","price":"5.00","sku":"B-2"} -> `}},
		{"by position", Notify{}, "sku,name,price\nA-1,Anvil,29.99\nB-2,Bell,6.00\n",
			[]string{`changed /1/price "5.00" -> "6.00"`, `removed /2 {"name":"Cord","price":"1.00","sku":"C-3"} -> `}},
		{"watch a column", Notify{Key: "sku", Watch: []string{"/*/price"}}, "sku,name,price\nA-1,Big Anvil,29.99\nB-2,Bell,5.50\nC-3,Cord,1.00\n",
			[]string{`changed /1/price ["B-2"] "5.00" -> "5.50"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := mustComparer(t, task.OutputCSV, tt.notify).Diff(before, tt.after)
			if !reflect.DeepEqual(chs(got), tt.want) {
				t.Errorf("changes:\n got %q\nwant %q", chs(got), tt.want)
			}
		})
	}
}

func TestDiffText(t *testing.T) {
	tests := []struct {
		name          string
		ignore        []string
		before, after string
		want          []string
	}{
		{"same", nil, "# News\n\nA\nB\n", "# News\n\nA\nB", []string{}},
		{"line added", nil, "A\nB\n", "A\nX\nB\n", []string{`added /1  -> "X"`}},
		{"line removed", nil, "A\nB\nC", "A\nC", []string{`removed /1 "B" -> `}},
		{"line replaced", nil, "A\nB\nC", "A\nb\nC", []string{`removed /1 "B" -> `, `added /1  -> "b"`}},
		{"reordered lines are a change", nil, "A\nB", "B\nA", []string{`removed /0 "A" -> `, `added /1  -> "A"`}},
		{"ignored timestamp", []string{`\d{2}:\d{2}`, `visitors: \d+`}, "Price 10\nas of 10:31\nvisitors: 4", "Price 10\nas of 11:02\nvisitors: 19", []string{}},
		{"ignored part, real change shows the line as written", []string{`\d{2}:\d{2}`}, "Price 10 at 10:31", "Price 12 at 11:02",
			[]string{`removed /0 "Price 10 at 10:31" -> `, `added /0  -> "Price 12 at 11:02"`}},
		{"from nothing", nil, "", "A\nB", []string{`added /0  -> "A"`, `added /1  -> "B"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := mustComparer(t, task.OutputText, Notify{Ignore: tt.ignore}).Diff(tt.before, tt.after)
			if !reflect.DeepEqual(chs(got), tt.want) {
				t.Errorf("changes:\n got %q\nwant %q", chs(got), tt.want)
			}
		})
	}
}

func TestDiffTruncates(t *testing.T) {
	var b, a []string
	for i := 0; i < MaxChanges+10; i++ {
		b = append(b, fmt.Sprint(i))
		a = append(a, fmt.Sprint(-i-1))
	}
	enc := func(v []string) string { s, _ := json.Marshal(v); return string(s) }
	got, truncated := mustComparer(t, task.OutputJSON, Notify{}).Diff(enc(b), enc(a))
	if !truncated || len(got) != MaxChanges {
		t.Fatalf("got %d changes, truncated %v; want %d, true", len(got), truncated, MaxChanges)
	}
}

func TestInitial(t *testing.T) {
	tests := []struct {
		name   string
		kind   task.OutputType
		notify Notify
		answer string
		want   []string
	}{
		{"object", task.OutputJSON, Notify{}, `{"price":1,"title":"A"}`, []string{"added /price  -> 1", `added /title  -> "A"`}},
		{"watched", task.OutputJSON, Notify{Watch: []string{"/price"}}, `{"price":1,"title":"A"}`, []string{"added /price  -> 1"}},
		{"scalar", task.OutputJSON, Notify{}, `3`, []string{"added   -> 3"}},
		{"csv rows", task.OutputCSV, Notify{}, "a,b\n1,2\n", []string{`added /0  -> {"a":"1","b":"2"}`}},
		{"text lines", task.OutputText, Notify{}, "x\ny", []string{`added /0  -> "x"`, `added /1  -> "y"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := mustComparer(t, tt.kind, tt.notify).Initial(tt.answer)
			if !reflect.DeepEqual(chs(got), tt.want) {
				t.Errorf("changes:\n got %q\nwant %q", chs(got), tt.want)
			}
		})
	}
}

func TestAgree(t *testing.T) {
	tests := []struct {
		w, p string
		want bool
	}{
		{"", "/a/b", true},
		{"/a", "/a/b", true},
		{"/a/b", "/a", true},
		{"/a/b", "/a/c", false},
		{"/a/*/p", "/a/3/p", true},
		{"/a/*/p", "/a/3/q", false},
		{"/a/*/p", "/a/3", true},
		{"/b", "/a", false},
	}
	for _, tt := range tests {
		w, _ := splitPointer(tt.w)
		p, _ := splitPointer(tt.p)
		if got := agree(w, p); got != tt.want {
			t.Errorf("agree(%q, %q) = %v, want %v", tt.w, tt.p, got, tt.want)
		}
	}
}

func TestPointers(t *testing.T) {
	for _, bad := range []string{"a", "/a~", "/a~2"} {
		if _, err := splitPointer(bad); err == nil {
			t.Errorf("splitPointer(%q): no error", bad)
		}
	}
	for _, p := range []string{"", "/", "/a", "/a~1b/~0", "/0/x"} {
		tokens, err := splitPointer(p)
		if err != nil {
			t.Fatalf("splitPointer(%q): %v", p, err)
		}
		if got := joinPointer(tokens); got != p {
			t.Errorf("round trip of %q gave %q", p, got)
		}
	}
}
