package monitor

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func f(x float64) *float64 { return &x }

func doc(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeAnswer("structured_json", s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fired names the rules that fired, by condition and value.
func fired(fs []Fired) []string {
	out := []string{}
	for _, x := range fs {
		s := x.Condition() + " " + x.Path + "=" + string(x.Value)
		if x.Reference != nil {
			s += fmt.Sprintf(" (from %g)", *x.Reference)
		}
		out = append(out, s)
	}
	return out
}

// TestRulesOverASeries feeds one rule a series of values, notifying
// whenever it fires (as Decide does), and lists what fired at each step.
func TestRulesOverASeries(t *testing.T) {
	tests := []struct {
		name   string
		rule   Rule
		values []string
		want   []string // one entry per value: "" or what fired
	}{
		{"below fires on crossing, once, and re-arms after crossing back", Rule{Path: "/price", Below: f(100)},
			[]string{"120", "99", "95", "99.5", "100", "130", "80"},
			[]string{"", "below /price=99", "", "", "", "", "below /price=80"}},
		{"below already holding on the first value fires (firstRun decides whether to send)", Rule{Path: "/price", Below: f(100)},
			[]string{"90", "80"}, []string{"below /price=90", ""}},
		{"above", Rule{Path: "/price", Above: f(10)}, []string{"5", "10", "11", "12", "9", "11"},
			[]string{"", "", "above /price=11", "", "", "above /price=11"}},
		{"equals a string", Rule{Path: "/stock", Equals: json.RawMessage(`"in stock"`)},
			[]string{`"sold out"`, `"in stock"`, `"in stock"`, `"sold out"`, `"in stock"`},
			[]string{"", `equals /stock="in stock"`, "", "", `equals /stock="in stock"`}},
		{"equals a number by value", Rule{Path: "/price", Equals: json.RawMessage(`5`)}, []string{"4", "5.0"},
			[]string{"", "equals /price=5.0"}},
		{"changeByPercent measures from the value last notified: a slow drift adds up", Rule{Path: "/price", ChangeByPercent: f(10)},
			[]string{"100", "97", "94", "91", "89", "88", "97.8", "98"},
			[]string{"", "", "", "", "changeByPercent /price=89 (from 100)", "", "", "changeByPercent /price=98 (from 89)"}},
		{"changeByAbsolute either way", Rule{Path: "/price", ChangeByAbsolute: f(5)},
			[]string{"50", "54", "55", "51", "49.9"},
			[]string{"", "", "changeByAbsolute /price=55 (from 50)", "", "changeByAbsolute /price=49.9 (from 55)"}},
		{"changeByPercent from zero", Rule{Path: "/n", ChangeByPercent: f(50)}, []string{"0", "0", "1"},
			[]string{"", "", "changeByPercent /n=1 (from 0)"}},
		{"unknown values leave the rule as it was", Rule{Path: "/price", Below: f(100)},
			[]string{"90", "null", `"n/a"`, "80", "120", "null", "90"},
			[]string{"below /price=90", "", "", "", "", "", "below /price=90"}},
		{"numeric text counts (CSV cells)", Rule{Path: "/price", Below: f(10)}, []string{`"12.00"`, `" 9.50 "`},
			[]string{"", `below /price=" 9.50 "`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := []Rule{tt.rule}
			var states []RuleState
			var got []string
			for _, v := range tt.values {
				d := doc(t, `{"price":`+v+`,"stock":`+v+`,"n":`+v+`}`)
				ev := Evaluate(rules, states, d)
				states = ev.States
				if len(ev.Fired) > 0 {
					states = Notified(rules, states, d)
				}
				got = append(got, strings.Join(fired(ev.Fired), ";"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fired over %v:\n got %q\nwant %q", tt.values, got, tt.want)
			}
		})
	}
}

func TestRuleStateFollowsTheRule(t *testing.T) {
	r := Rule{Path: "/price", Below: f(100)}
	ev := Evaluate([]Rule{r}, nil, doc(t, `{"price":90}`))
	if len(ev.Fired) != 1 || !ev.States[0].Holding {
		t.Fatalf("first evaluation: %+v", ev)
	}
	// Still holding: no fire.
	if ev2 := Evaluate([]Rule{r}, ev.States, doc(t, `{"price":80}`)); len(ev2.Fired) != 0 {
		t.Errorf("fired again while holding: %v", fired(ev2.Fired))
	}
	// The rule was edited: its old state does not apply.
	edited := Rule{Path: "/price", Below: f(85)}
	if ev3 := Evaluate([]Rule{edited}, ev.States, doc(t, `{"price":80}`)); len(ev3.Fired) != 1 {
		t.Errorf("an edited rule kept the old rule's state: %+v", ev3)
	}
	// A rule inserted before it: states are matched by fingerprint, so the
	// moved rule starts afresh rather than taking another rule's state.
	other := Rule{Path: "/price", Above: f(1)}
	ev4 := Evaluate([]Rule{other, r}, ev.States, doc(t, `{"price":80}`))
	if got := fired(ev4.Fired); !reflect.DeepEqual(got, []string{"above /price=80", "below /price=80"}) {
		t.Errorf("fired %q", got)
	}
}

func TestRuleFiredJSON(t *testing.T) {
	ev := Evaluate([]Rule{{Path: "/price", ChangeByPercent: f(10)}}, []RuleState{{Rule: Rule{Path: "/price", ChangeByPercent: f(10)}.fingerprint(), Reference: f(100)}}, doc(t, `{"price":80}`))
	b, _ := json.Marshal(ev.Fired)
	if want := `[{"path":"/price","changeByPercent":10,"value":80,"reference":100}]`; string(b) != want {
		t.Errorf("fired JSON %s, want %s", b, want)
	}
}
