package extract

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
)

// corpusCase is one hand-written task on one page of testdata/corpus, with
// what a careful person reading the page would answer, field by field.
type corpusCase struct {
	Name        string          `json:"name"`
	Page        string          `json:"page"`
	URL         string          `json:"url"`
	OutputType  task.OutputType `json:"outputType"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Columns     []string        `json:"columns,omitempty"`
	TaskDetails string          `json:"taskDetails"`
	// Expect holds the expected value of each field (structured_json): an
	// object whose leaves are the fields, arrays compared item by item.
	Expect json.RawMessage `json:"expect,omitempty"`
	// Missing names fields (paths such as "price" or "offer/price") that
	// must not be answered: the page does not give them, or gives two
	// values of which neither is clearly the field.
	Missing []string `json:"missing,omitempty"`
	// Fails names the required fields the task must fail OUTPUT_INVALID
	// for, naming exactly these.
	Fails []string `json:"fails,omitempty"`
	// Rows are the expected CSV rows (structured_csv), header excluded; an
	// empty cell is a field that must not be answered.
	Rows [][]string `json:"rows,omitempty"`
	// Contains and Absent check a text answer: each string is one field.
	Contains []string `json:"contains,omitempty"`
	Absent   []string `json:"absent,omitempty"`
}

// tally counts fields: right (the expected value, or rightly left out),
// wrong (a value that is not the page's), missing (a value the page gives
// that was not answered).
type tally struct{ right, wrong, missing int }

func (t *tally) add(o tally) { t.right += o.right; t.wrong += o.wrong; t.missing += o.missing }
func (t tally) total() int   { return t.right + t.wrong + t.missing }
func (t tally) String() string {
	return fmt.Sprintf("%d fields: %d right (%.1f%%), %d wrong, %d missing", t.total(), t.right, t.pct(), t.wrong, t.missing)
}
func (t tally) pct() float64 {
	if t.total() == 0 {
		return 0
	}
	return 100 * float64(t.right) / float64(t.total())
}

func loadCorpus(tb testing.TB) []corpusCase {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "corpus", "cases.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var cases []corpusCase
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		tb.Fatalf("cases.json: %v", err)
	}
	return cases
}

// runCase answers one case and scores it; notes say what went wrong.
func runCase(tb testing.TB, c corpusCase) (tally, []string) {
	tb.Helper()
	html, err := os.ReadFile(filepath.Join("testdata", "corpus", c.Page))
	if err != nil {
		tb.Fatal(err)
	}
	req := Request{Type: c.OutputType, Columns: c.Columns, Instruction: c.TaskDetails}
	if c.OutputType == task.OutputJSON {
		s, err := output.CompileSchema(c.Schema)
		if err != nil {
			tb.Fatalf("%s: schema: %v", c.Name, err)
		}
		req.Schema = s
	}
	res, err := Extract(Page{URL: c.URL, HTML: html}, req)
	var xe *Error
	if err != nil && !errors.As(err, &xe) {
		tb.Fatalf("%s: %v is not an *Error", c.Name, err)
	}
	switch c.OutputType {
	case task.OutputJSON:
		return scoreJSON(c, res, xe)
	case task.OutputCSV:
		return scoreCSV(c, res, xe)
	}
	return scoreText(c, res, xe)
}

func scoreJSON(c corpusCase, res Result, xe *Error) (tally, []string) {
	var t tally
	var notes []string
	want := map[string]any{}
	if len(c.Expect) > 0 {
		v, err := output.DecodeJSON(c.Expect)
		if err != nil {
			return tally{wrong: 1}, []string{"expect: " + err.Error()}
		}
		flatten("", v, want)
	}
	got := map[string]any{}
	if xe == nil {
		flatten("", res.Value, got)
	}
	if len(c.Fails) > 0 {
		failed := xe != nil && slices.Equal(xe.Missing, sorted(c.Fails))
		for _, f := range c.Fails {
			if failed {
				t.right++
			} else {
				t.wrong++
				notes = append(notes, fmt.Sprintf("%s: want OUTPUT_INVALID naming %v, got %v / %s", f, c.Fails, errMissing(xe), res.Message))
			}
		}
	} else if xe != nil {
		notes = append(notes, "failed: "+xe.Error())
	}
	for _, p := range sortedKeys(want) {
		g, ok := got[p]
		switch {
		case !ok:
			t.missing++
			notes = append(notes, fmt.Sprintf("%s: missing, want %v", p, want[p]))
		case !sameValue(g, want[p]):
			t.wrong++
			notes = append(notes, fmt.Sprintf("%s: WRONG %v, want %v", p, g, want[p]))
		default:
			t.right++
		}
	}
	for _, m := range c.Missing {
		if v, ok := got[m]; ok {
			t.wrong++
			notes = append(notes, fmt.Sprintf("%s: WRONG %v, want it left out", m, v))
		} else {
			t.right++
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok && !slices.Contains(c.Missing, p) {
			t.wrong++
			notes = append(notes, fmt.Sprintf("%s: WRONG %v, not on the page", p, got[p]))
		}
	}
	return t, notes
}

func scoreCSV(c corpusCase, res Result, xe *Error) (tally, []string) {
	var t tally
	var notes []string
	var got [][]string
	if xe == nil {
		rows, err := output.ParseCSV(res.Message, c.Columns)
		if err != nil {
			return tally{wrong: 1}, []string{fmt.Sprintf("bad CSV answer %q: %v", res.Message, err)}
		}
		got = rows
	} else {
		notes = append(notes, "failed: "+xe.Error())
	}
	for i := range max(len(got), len(c.Rows)) {
		for j, col := range c.Columns {
			var g, w string
			if i < len(got) && j < len(got[i]) {
				g = got[i][j]
			}
			if i < len(c.Rows) {
				w = c.Rows[i][j]
			}
			switch {
			case g == w:
				t.right++
			case g == "":
				t.missing++
				notes = append(notes, fmt.Sprintf("row %d %s: missing, want %q", i+1, col, w))
			default:
				t.wrong++
				notes = append(notes, fmt.Sprintf("row %d %s: WRONG %q, want %q", i+1, col, g, w))
			}
		}
	}
	return t, notes
}

func scoreText(c corpusCase, res Result, xe *Error) (tally, []string) {
	var t tally
	var notes []string
	if xe != nil {
		notes = append(notes, "failed: "+xe.Error())
	}
	for _, s := range c.Contains {
		if xe == nil && strings.Contains(res.Message, s) {
			t.right++
		} else {
			t.missing++
			notes = append(notes, fmt.Sprintf("text lacks %q", s))
		}
	}
	for _, s := range c.Absent {
		if xe == nil && strings.Contains(res.Message, s) {
			t.wrong++
			notes = append(notes, fmt.Sprintf("text WRONGLY holds %q", s))
		} else {
			t.right++
		}
	}
	return t, notes
}

// flatten maps every leaf of v to its path ("offer/price", "items/2/name").
func flatten(prefix string, v any, out map[string]any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			flatten(join(prefix, k), e, out)
		}
	case []any:
		for i, e := range v {
			flatten(join(prefix, strconv.Itoa(i)), e, out)
		}
	default:
		out[prefix] = v
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "/" + k
}

// sameValue compares an answer with the expectation: numbers by value,
// the rest exactly.
func sameValue(a, b any) bool {
	if _, ok := a.(string); ok {
		return a == b
	}
	return agree("", a, b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func errMissing(xe *Error) []string {
	if xe == nil {
		return nil
	}
	return xe.Missing
}

// TestCorpus answers every case of testdata/corpus and reports right,
// wrong and missing fields, per case and overall. A wrong value fails the
// test: the caller's pipeline would store it. Fewer than 95% of fields
// right fails it too.
func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	var all tally
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, notes := runCase(t, c)
			all.add(got)
			t.Logf("%s", got)
			for _, n := range notes {
				t.Logf("  %s", n)
			}
			if got.wrong > 0 {
				t.Errorf("%d wrong values", got.wrong)
			}
		})
	}
	t.Logf("corpus: %d cases, %s", len(cases), all)
	if all.pct() < 95 {
		t.Errorf("only %.1f%% of fields right; the target is 95%%", all.pct())
	}
}

// BenchmarkCorpus answers the whole corpus and reports the field figures
// beside the time (go test -run '^$' -bench Corpus ./internal/extract).
func BenchmarkCorpus(b *testing.B) {
	cases := loadCorpus(b)
	var all tally
	for b.Loop() {
		all = tally{}
		for _, c := range cases {
			got, _ := runCase(b, c)
			all.add(got)
		}
	}
	b.ReportMetric(float64(len(cases)), "cases")
	b.ReportMetric(float64(all.total()), "fields")
	b.ReportMetric(float64(all.right), "right")
	b.ReportMetric(float64(all.wrong), "wrong")
	b.ReportMetric(float64(all.missing), "missing")
	b.ReportMetric(all.pct(), "right%")
}
