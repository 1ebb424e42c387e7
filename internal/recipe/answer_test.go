package recipe

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/output"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	v, err := output.DecodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func snap(point int, texts ...string) Snapshot {
	s := Snapshot{Point: point}
	for i := 0; i+1 < len(texts); i += 2 {
		s.Texts = append(s.Texts, Text{Path: texts[i], Text: texts[i+1]})
	}
	return s
}

// page 1 and 2 of a paginated product table.
var (
	tablePage1 = snap(1,
		"header:1/a:1", "Shop",
		"main:1/h1:1", "Products",
		"main:1/table:1/thead:1/tr:1/th:1", "Name",
		"main:1/table:1/thead:1/tr:1/th:2", "Price",
		"main:1/table:1/tbody:1/tr:1/td:1", "Blue mug",
		"main:1/table:1/tbody:1/tr:1/td:2", "$12.50",
		"main:1/table:1/tbody:1/tr:2/td:1", "Red mug",
		"main:1/table:1/tbody:1/tr:2/td:2", "$1,299.00",
		"main:1/p:1", "Page 1 of 2",
	)
	tablePage2 = snap(2,
		"header:1/a:1", "Shop",
		"main:1/h1:1", "Products",
		"main:1/table:1/tbody:1/tr:1/td:1", "Green mug",
		"main:1/table:1/tbody:1/tr:1/td:2", "$9",
		"main:1/p:1", "Page 2 of 2",
	)
)

func TestInduceAndRead(t *testing.T) {
	order := snap(3, "main:1/h1:1", "Thank you", "main:1/p:1", "Order number: A-1234 (keep it)", "main:1/p:2", "Total: $42.00 incl. VAT")
	orderLater := snap(3, "main:1/h1:1", "Thank you", "main:1/p:1", "Order number: B-99 (keep it)", "main:1/p:2", "Total: $7.5 incl. VAT")
	orderMoved := snap(3, "main:1/h1:1", "Thank you", "main:1/div:1/p:1", "Shipping soon", "main:1/div:1/p:2", "Order number: C-7 (keep it)", "main:1/p:2", "Total: $3.00 incl. VAT")
	rows1 := snap(1, "main:1/ul:1/li:1/a:1", "Blue mug", "main:1/ul:1/li:2/a:1", "Red mug", "main:1/ul:1/li:3/a:1", "Tea pot")

	cases := []struct {
		name   string
		answer string
		rec    []Snapshot
		live   []Snapshot
		want   string // "" when Induce must fail
		errHas string
	}{
		{"values in words", `{"order":"A-1234","total":42}`, []Snapshot{order}, []Snapshot{orderLater}, `{"order":"B-99","total":7.5}`, ""},
		{"an element moved: found by its words", `{"order":"A-1234"}`, []Snapshot{order}, []Snapshot{orderMoved}, `{"order":"C-7"}`, ""},
		{"a table across two pages", `{"items":[{"name":"Blue mug","price":12.5},{"name":"Red mug","price":1299},{"name":"Green mug","price":9}]}`,
			[]Snapshot{tablePage1, tablePage2}, []Snapshot{tablePage1, tablePage2}, `{"items":[{"name":"Blue mug","price":12.5},{"name":"Red mug","price":1299},{"name":"Green mug","price":9}]}`, ""},
		{"a list that grew since", `["Blue mug","Red mug"]`,
			[]Snapshot{snap(1, "main:1/ul:1/li:1/a:1", "Blue mug", "main:1/ul:1/li:2/a:1", "Red mug")}, []Snapshot{rows1}, `["Blue mug","Red mug","Tea pot"]`, ""},
		{"a one-item list", `["Blue mug"]`,
			[]Snapshot{snap(1, "main:1/ul:1/li:1/a:1", "Blue mug")}, []Snapshot{rows1}, `["Blue mug","Red mug","Tea pot"]`, ""},
		{"null and empty stay", `{"order":"A-1234","note":null,"gift":""}`, []Snapshot{order}, []Snapshot{orderLater}, `{"order":"B-99","note":null,"gift":""}`, ""},
		{"text output", `"Thank you"`, []Snapshot{order}, []Snapshot{orderLater}, `"Thank you"`, ""},
		{"a filtered list is the model's judgement", `["Blue mug","Tea pot"]`, []Snapshot{rows1}, nil, "", "another answer"},
		{"a reordered list", `["Red mug","Blue mug"]`, []Snapshot{rows1}, nil, "", "another answer"},
		{"a reworded value", `{"order":"order A-1234"}`, []Snapshot{order}, nil, "", "not on any page"},
		{"a computed value", `{"total":43}`, []Snapshot{order}, nil, "", "not on any page"},
		{"a yes/no value", `{"ok":true}`, []Snapshot{order}, nil, "", "true or false"},
		{"an empty list", `{"items":[]}`, []Snapshot{order}, nil, "", "empty list"},
		{"part of a word is not a value", `"mug"`, []Snapshot{snap(1, "p:1", "Mugs and more")}, nil, "", "not on any page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Induce(decode(t, c.answer), c.rec)
			if c.want == "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("Induce = %v, want an error with %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("Induce: %v", err)
			}
			// The recipe survives its trip through the store.
			b, _ := json.Marshal(n)
			var back Node
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			live := map[int]Snapshot{}
			for _, s := range c.live {
				live[s.Point] = s
			}
			got, err := back.Read(live)
			if err != nil {
				t.Fatalf("Read: %v (node %s)", err, b)
			}
			if !Equal(got, decode(t, c.want)) {
				g, _ := json.Marshal(got)
				t.Errorf("Read = %s, want %s (node %s)", g, c.want, b)
			}
		})
	}
}

func TestReadRefusesToGuess(t *testing.T) {
	order := snap(1, "main:1/p:1", "Order number: A-1234 (keep it)")
	n, err := Induce(decode(t, `{"order":"A-1234"}`), []Snapshot{order})
	if err != nil {
		t.Fatal(err)
	}
	list, err := Induce(decode(t, `[{"name":"Blue mug","price":12.5},{"name":"Red mug","price":1299}]`), []Snapshot{tablePage1})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		n    *Node
		live Snapshot
		has  string
	}{
		{"the words changed", n, snap(1, "main:1/p:1", "Your reference is A-1234"), "/order"},
		{"two elements have the words", n, snap(1, "main:2/p:1", "Order number: A-1 (keep it)", "main:3/p:1", "Order number: A-2 (keep it)"), "/order"},
		{"the page was not read", n, snap(2, "main:1/p:1", "Order number: A-1234 (keep it)"), "was not read"},
		{"a row changed shape", list, snap(1,
			"main:1/table:1/tbody:1/tr:1/td:1", "Blue mug", "main:1/table:1/tbody:1/tr:1/td:2", "$12.50",
			"main:1/table:1/tbody:1/tr:2/td:1", "Red mug", "main:1/table:1/tbody:1/tr:2/td:2", "sold out"), "row 2"},
		{"no rows", list, snap(1, "main:1/p:1", "Nothing here"), "no rows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.n.Read(map[int]Snapshot{c.live.Point: c.live})
			if err == nil || !strings.Contains(err.Error(), c.has) {
				t.Fatalf("Read = %v, %v; want an error with %q", got, err, c.has)
			}
		})
	}
}

func TestPoints(t *testing.T) {
	n, err := Induce(decode(t, `{"first":"Products","items":[{"name":"Blue mug"},{"name":"Red mug"},{"name":"Green mug"}]}`), []Snapshot{tablePage1, tablePage2})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Points(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("Points = %v, want [1 2]", got)
	}
}
