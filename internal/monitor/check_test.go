package monitor

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/task"
)

const productSchema = `{"type":"object","properties":{
	"title":{"type":"string"},"price":{"type":"number"},"inStock":{"type":"boolean"},
	"offers":{"type":"array","items":{"$ref":"#/$defs/offer"}},
	"meta":{"type":"object","additionalProperties":{"type":"integer"}}},
	"required":["title","price"],"additionalProperties":false,
	"$defs":{"offer":{"type":"object","properties":{"sku":{"type":"string"},"price":{"type":["number","null"]}}}}}`

func problems(ps []*FieldError) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Pointer+": "+p.Reason)
	}
	sort.Strings(out)
	return out
}

func TestCheckNotify(t *testing.T) {
	tests := []struct {
		name   string
		kind   task.OutputType
		schema string
		notify Notify
		want   []string // pointer: reason prefix
	}{
		{"fine", task.OutputJSON, productSchema, Notify{Watch: []string{"/price", "/offers/*/price", "/offers/0/sku", "/meta/x"},
			Key: "sku", Rules: []Rule{{Path: "/price", Below: f(10)}, {Path: "/offers/0/price", ChangeByPercent: f(5)},
				{Path: "/inStock", Equals: json.RawMessage(`true`)}, {Path: "/meta/views", Above: f(3)}}}, nil},
		{"watch path the schema cannot have", task.OutputJSON, productSchema, Notify{Watch: []string{"/cost", "/offers/x", "/title/0", "price"}},
			[]string{"/notify/watch/0: the output schema has no value at /cost", "/notify/watch/1: the output schema has no value at /offers/x",
				"/notify/watch/2: the output schema has no value at /title/0", "/notify/watch/3: must be a JSON Pointer"}},
		{"rule problems", task.OutputJSON, productSchema, Notify{Rules: []Rule{
			{Path: "/title", Below: f(3)},
			{Path: "/nope", Above: f(1)},
			{Path: "/price"},
			{Path: "/price", Below: f(1), Above: f(2)},
			{Path: "/price", ChangeByPercent: f(-1)},
			{Path: "/title", Equals: json.RawMessage(`3`)},
			{Path: "/price", Equals: json.RawMessage(`{"a":1}`)},
		}}, []string{
			"/notify/rules/0/path: is string in the output schema; below needs a number",
			"/notify/rules/1/path: the output schema has no value at /nope",
			"/notify/rules/2: must set one of",
			"/notify/rules/3: must set only one of",
			"/notify/rules/4/changeByPercent: must be greater than 0",
			"/notify/rules/5/path: is string in the output schema; equals needs a number",
			"/notify/rules/6/equals: must be a number, string, boolean or null",
		}},
		{"enums", task.OutputJSON, productSchema, Notify{On: "sometimes", FirstRun: "later", FailuresBeforeAlert: -1},
			[]string{"/notify/failuresBeforeAlert: must be between", "/notify/firstRun: must be baseline or notify", "/notify/on: must be change or every_run"}},
		{"bad ignore", task.OutputText, "", Notify{Ignore: []string{"(", ""}},
			[]string{"/notify/ignore/0: must be a regular expression", "/notify/ignore/1: must not be empty"}},
		{"text takes no watch, key or rules", task.OutputText, "", Notify{Watch: []string{"/a"}, Key: "k", Rules: []Rule{{Path: "/a", Below: f(1)}}},
			[]string{"/notify/key: applies to", "/notify/rules: apply to", "/notify/watch: applies to"}},
		{"csv", task.OutputCSV, `["sku","price"]`, Notify{Key: "sku", Watch: []string{"/*/price", "/0", "/*/cost", "/x"},
			Rules: []Rule{{Path: "/0/price", Below: f(3)}, {Path: "/*/price", Below: f(3)}, {Path: "/0/cost", Below: f(3)}}},
			[]string{"/notify/rules/1/path: must name one cell", "/notify/rules/2/path: the output schema has no value at /0/cost",
				"/notify/watch/2: the output schema has no value at /*/cost", "/notify/watch/3: the output schema has no value at /x"}},
		{"csv key must be a column", task.OutputCSV, `["sku","price"]`, Notify{Key: "id"}, []string{"/notify/key: must be one of the CSV columns (sku, price)"}},
		{"schema without types allows anything", task.OutputJSON, `{"type":"object"}`, Notify{Watch: []string{"/a/b/0"}, Rules: []Rule{{Path: "/x", Below: f(1)}}}, nil},
		{"declared properties are the members", task.OutputJSON, `{"type":"object","properties":{"price":{"type":"number"}}}`, Notify{Watch: []string{"/prcie"}},
			[]string{"/notify/watch/0: the output schema has no value at /prcie"}},
		{"unless others are allowed", task.OutputJSON, `{"type":"object","properties":{"price":{"type":"number"}},"additionalProperties":true}`, Notify{Watch: []string{"/other"}}, nil},
		{"anyOf", task.OutputJSON, `{"anyOf":[{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false},{"type":"object","properties":{"b":{"type":"number"}},"additionalProperties":false}]}`,
			Notify{Rules: []Rule{{Path: "/b", Below: f(1)}, {Path: "/a", Below: f(1)}, {Path: "/c", Below: f(1)}}},
			[]string{"/notify/rules/1/path: is string in the output schema", "/notify/rules/2/path: the output schema has no value at /c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(CheckNotify(tt.notify, tt.kind, json.RawMessage(tt.schema)))
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n got %q\nwant %q", got, tt.want)
			}
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			for i := range got {
				if !strings.HasPrefix(got[i], want[i]) {
					t.Errorf("problem %d: got %q, want prefix %q", i, got[i], want[i])
				}
			}
			if len(got) == 0 && !reflect.DeepEqual(got, []string{}) {
				t.Errorf("got %q", got)
			}
		})
	}
}
