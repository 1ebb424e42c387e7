package monitor

import (
	"reflect"
	"testing"

	"github.com/errandhq/errand/internal/task"
)

// step is one run fed to Decide and what should come of it.
type step struct {
	status  task.Status
	answer  string
	events  []task.Event
	changed bool
}

func ok(answer string, changed bool, events ...task.Event) step {
	return step{status: task.StatusCompleted, answer: answer, changed: changed, events: events}
}

func failed(events ...task.Event) step { return step{status: task.StatusFailed, events: events} }

func runSteps(t *testing.T, kind task.OutputType, n Notify, steps []step) State {
	t.Helper()
	c := mustComparer(t, kind, n)
	var st State
	for i, s := range steps {
		d := Decide(c, n, st, Ending{Status: s.status, Answer: s.answer})
		if !reflect.DeepEqual(d.Events, s.events) {
			t.Errorf("run %d (%s %s): events %v, want %v", i, s.status, s.answer, d.Events, s.events)
		}
		if d.Changed != s.changed {
			t.Errorf("run %d (%s %s): changed %v, want %v (changes %q)", i, s.status, s.answer, d.Changed, s.changed, chs(d.Changes))
		}
		st = d.State
	}
	return st
}

func TestDecideSeries(t *testing.T) {
	price := func(p string) string { return `{"title":"Anvil","price":` + p + `}` }
	changed := EventChanged
	tests := []struct {
		name   string
		kind   task.OutputType
		notify Notify
		steps  []step
	}{
		{"baseline, change, no change, change back", task.OutputJSON, Notify{},
			[]step{ok(price("30"), false), ok(price("25"), true, changed), ok(price("25"), false), ok(price("30"), true, changed)}},
		{"rules with hysteresis: a change that fires no rule sends nothing", task.OutputJSON, Notify{Rules: []Rule{{Path: "/price", Below: f(28)}}},
			[]step{ok(price("30"), false), ok(price("29"), true), ok(price("25"), true, changed), ok(price("24"), true), ok(price("24"), false),
				ok(price("30"), true), ok(price("27"), true, changed)}},
		{"firstRun baseline never sends the first answer, even if a rule holds", task.OutputJSON, Notify{Rules: []Rule{{Path: "/price", Below: f(28)}}},
			[]step{ok(price("20"), false), ok(price("19"), true)}},
		{"firstRun notify sends when a rule holds", task.OutputJSON, Notify{FirstRun: FirstRunNotify, Rules: []Rule{{Path: "/price", Below: f(28)}}},
			[]step{ok(price("20"), true, changed), ok(price("19"), true)}},
		{"firstRun notify without a holding rule sends nothing", task.OutputJSON, Notify{FirstRun: FirstRunNotify, Rules: []Rule{{Path: "/price", Below: f(28)}}},
			[]step{ok(price("40"), true), ok(price("20"), true, changed)}},
		{"firstRun notify without rules sends the first answer", task.OutputJSON, Notify{FirstRun: FirstRunNotify},
			[]step{ok(price("40"), true, changed), ok(price("40"), false)}},
		{"every_run", task.OutputJSON, Notify{On: OnEveryRun}, []step{ok(price("1"), false), ok(price("1"), false, changed), ok(price("2"), true, changed)}},
		{"failures are not changes; one failing, one recovered", task.OutputJSON, Notify{FailuresBeforeAlert: 2},
			[]step{ok(price("30"), false), failed(), failed(EventFailing), failed(), failed(), ok(price("30"), false, EventRecovered),
				failed(), ok(price("31"), true, changed)}},
		{"recovered and changed in one run", task.OutputJSON, Notify{FailuresBeforeAlert: 1},
			[]step{ok(price("30"), false), failed(EventFailing), ok(price("20"), true, EventRecovered, changed)}},
		{"failing before any baseline", task.OutputJSON, Notify{}, []step{failed(), failed(), failed(EventFailing), ok(price("1"), false, EventRecovered), ok(price("2"), true, changed)}},
		{"cancelled runs count for nothing", task.OutputJSON, Notify{FailuresBeforeAlert: 1},
			[]step{ok(price("30"), false), {status: task.StatusCancelled}, ok(price("30"), false)}},
		{"text with ignore", task.OutputText, Notify{Ignore: []string{`\d+:\d+`}},
			[]step{ok("Price 10 at 10:00", false), ok("Price 10 at 10:05", false), ok("Price 11 at 10:10", true, changed)}},
		{"csv by key", task.OutputCSV, Notify{Key: "sku", Rules: []Rule{{Path: "/0/price", Below: f(10)}}},
			[]step{ok("sku,price\nA,12\n", false), ok("sku,price\nA,9\n", true, changed), ok("sku,price\nA,9\nB,1\n", true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, tt.kind, tt.notify, tt.steps)
		})
	}
}

func TestDecideKeepsAnswerOnFailure(t *testing.T) {
	n := Notify{}
	c := mustComparer(t, task.OutputJSON, n)
	st := Decide(c, n, State{}, Ending{Status: task.StatusCompleted, Answer: `{"a":1}`, PageHash: "h1"}).State
	st = Decide(c, n, st, Ending{Status: task.StatusFailed}).State
	if st.Answer != `{"a":1}` || st.PageHash != "h1" || !st.Baseline || st.Failures != 1 {
		t.Errorf("state after a failure: %+v", st)
	}
	d := Decide(c, n, st, Ending{Status: task.StatusCompleted, Answer: `{"a":2}`})
	if got := chs(d.Changes); !reflect.DeepEqual(got, []string{"changed /a 1 -> 2"}) {
		t.Errorf("changes after recovery compared with the last good answer: %q", got)
	}
}

func TestDecideChangeByMeasuresFromLastNotified(t *testing.T) {
	// A changeBy rule's reference moves only when a notification is sent,
	// whatever made it: here an "above" rule notifies at 150.
	n := Notify{Rules: []Rule{{Path: "/p", ChangeByPercent: f(20)}, {Path: "/p", Above: f(140)}}}
	c := mustComparer(t, task.OutputJSON, n)
	var st State
	var got [][]string
	for _, p := range []string{"100", "115", "150", "160", "181"} {
		d := Decide(c, n, st, Ending{Status: task.StatusCompleted, Answer: `{"p":` + p + `}`})
		got = append(got, fired(d.Fired))
		st = d.State
	}
	want := [][]string{{}, {}, {"changeByPercent /p=150 (from 100)", "above /p=150"}, {}, {"changeByPercent /p=181 (from 150)"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fired:\n got %q\nwant %q", got, want)
	}
}
