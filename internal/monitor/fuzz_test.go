package monitor

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// FuzzDiffJSON checks that every change a JSON diff lists is true: its path
// resolves, in the new answer (changed, added) or the previous one
// (removed), to exactly the value it reports, and that an answer compared
// with itself has no change.
func FuzzDiffJSON(f *testing.F) {
	f.Add(`{"a":1,"b":[1,2]}`, `{"a":2,"b":[2]}`, "")
	f.Add(`{"p":[{"sku":"a","x":1},{"sku":"b","x":2}]}`, `{"p":[{"sku":"b","x":3},{"sku":"c","x":1}]}`, "sku")
	f.Add(`[1,"x",null,true]`, `{"x/y":{"~":2}}`, "")
	f.Add(`[{"id":1},{"id":1}]`, `[{"id":1}]`, "id")
	f.Fuzz(func(t *testing.T, before, after, key string) {
		b, berr := decodeAnswer(task.OutputJSON, before)
		a, aerr := decodeAnswer(task.OutputJSON, after)
		if berr != nil || aerr != nil {
			return
		}
		c, err := NewComparer(task.OutputJSON, Notify{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if same, _ := c.Diff(before, before); len(same) != 0 {
			t.Fatalf("an answer differs from itself: %q", chs(same))
		}
		changes, truncated := c.Diff(before, after)
		if truncated {
			return
		}
		for _, ch := range changes {
			tokens, err := splitPointer(ch.Path)
			if err != nil {
				t.Fatalf("change path %q: %v", ch.Path, err)
			}
			var in any
			var want json.RawMessage
			switch ch.Kind {
			case KindChanged, KindAdded:
				in, want = a, ch.After
			case KindRemoved:
				in, want = b, ch.Before
			default:
				t.Fatalf("kind %q", ch.Kind)
			}
			v, ok := resolve(in, tokens)
			if !ok {
				t.Fatalf("%s path %q does not resolve", ch.Kind, ch.Path)
			}
			if got := encodeValue(v); !bytes.Equal(got, want) {
				t.Fatalf("%s %q: value %s, change says %s", ch.Kind, ch.Path, got, want)
			}
		}
		back, _ := c.Diff(after, before)
		if (len(changes) == 0) != (len(back) == 0) {
			t.Fatalf("a->b has %d changes, b->a has %d", len(changes), len(back))
		}
	})
}

// FuzzDiffText checks that a text diff is an edit script: the previous
// answer without its removed lines equals the new one without its added
// lines.
func FuzzDiffText(f *testing.F) {
	f.Add("a\nb\nc", "a\nc\nd", "")
	f.Add("x 10:31\ny", "x 11:02\ny\n", `\d+:\d+`)
	f.Add("\n\n", "\r\n", "")
	f.Fuzz(func(t *testing.T, before, after, ignore string) {
		c, err := NewComparer(task.OutputText, Notify{Ignore: []string{ignore}})
		if err != nil {
			return
		}
		changes, truncated := c.Diff(before, after)
		if truncated {
			return
		}
		removed, added := map[int]bool{}, map[int]bool{}
		for _, ch := range changes {
			n, err := strconv.Atoi(ch.Path[1:])
			if err != nil {
				t.Fatalf("path %q", ch.Path)
			}
			switch ch.Kind {
			case KindRemoved:
				removed[n] = true
			case KindAdded:
				added[n] = true
			default:
				t.Fatalf("kind %q", ch.Kind)
			}
		}
		keep := func(lines []string, drop map[int]bool) []string {
			var out []string
			for i, l := range lines {
				if !drop[i] {
					out = append(out, c.clean(l))
				}
			}
			return out
		}
		bl, al := keep(splitLines(before), removed), keep(splitLines(after), added)
		if len(bl) != len(al) {
			t.Fatalf("after the edits: %q vs %q", bl, al)
		}
		for i := range bl {
			if bl[i] != al[i] {
				t.Fatalf("after the edits: %q vs %q", bl, al)
			}
		}
	})
}

// FuzzParseSchedule: any expression either fails with a field error or
// gives run times strictly after the time asked, the same every time.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"* * * * *", "@every 15m", "0 9 * * 1-5", "@hourly", "CRON_TZ=x", "TZ=", "*/0 * * * *", "@every 1ns", "0 0 29 2 *"} {
		f.Add(s, "Europe/Paris", int64(1_800_000_000))
	}
	f.Fuzz(func(t *testing.T, expr, tz string, at int64) {
		s, err := ParseSchedule(expr, tz)
		if err != nil {
			if _, ok := err.(*FieldError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		after := time.Unix(at%(1<<34), 0)
		next := s.Next(after, expr)
		if next.IsZero() {
			return
		}
		if !next.After(after) {
			t.Fatalf("%q: next %s not after %s", expr, next, after)
		}
		if again := s.Next(after, expr); !again.Equal(next) {
			t.Fatalf("%q: next %s then %s", expr, next, again)
		}
	})
}

// FuzzCheckNotify: any schema and pointers are judged without a panic.
func FuzzCheckNotify(fz *testing.F) {
	fz.Add(productSchema, "/offers/*/price", "/price", `3`)
	fz.Add(`{"$ref":"#"}`, "/a/b", "/a", `"x"`)
	fz.Add(`{"allOf":[{"$ref":"#/allOf/0"}]}`, "/0", "", `null`)
	fz.Fuzz(func(t *testing.T, schema, watch, path, equals string) {
		n := Notify{Watch: []string{watch}, Rules: []Rule{{Path: path, Below: f(1)}, {Path: path, Equals: json.RawMessage(equals)}}}
		CheckNotify(n, task.OutputJSON, json.RawMessage(schema))
		CheckNotify(n, task.OutputCSV, json.RawMessage(schema))
		if d, err := decodeAnswer(task.OutputJSON, schema); err == nil {
			Evaluate(n.Rules, nil, d)
		}
	})
}
