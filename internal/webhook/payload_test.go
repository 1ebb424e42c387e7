package webhook

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// ended is a task as the engine hands it to Body: the seed's ids and figures,
// and an end time with sub-millisecond digits that must be truncated.
func ended(out task.OutputType, message string) task.Task {
	return task.Task{
		ID:        "task_xyz789",
		SessionID: "sess_abc123",
		Spec:      task.Spec{OutputType: out},
		Status:    task.StatusCompleted,
		Message:   message,
		Usage:     task.Usage{InputTokens: 8500, OutputTokens: 2300, ComputeTime: 12.5, Cost: 0.0124},
		EndedAt:   time.Date(2024, 1, 15, 10, 30, 0, 999_999, time.UTC),
	}
}

func failed(code, msg string) task.Task {
	t := ended(task.OutputText, "")
	t.Status, t.ErrorCode, t.ErrorMessage = task.StatusFailed, code, msg
	return t
}

func waiting(question string) task.Task {
	t := ended(task.OutputJSON, "")
	t.Status, t.Question = task.StatusGuardrail, question
	return t
}

const (
	textMessage = "# Widgets & <gadgets>\n\nPrice: \"29.99\" €\n"
	jsonMessage = "{\n  \"title\": \"Product Name\",\n  \"price\": 29.99,\n  \"inStock\": true,\n  \"description\": \"A great product\"\n}"
	csvMessage  = "name,price\nWidget,9.99\n\"Gadget, large\",19.5\n"
)

var outputs = []struct {
	name    string
	out     task.OutputType
	message string
}{
	{"text", task.OutputText, textMessage},
	{"structured_json", task.OutputJSON, jsonMessage},
	{"structured_csv", task.OutputCSV, csvMessage},
}

var submitted = []task.SubmittedData{task.SubmitFullResponse, task.SubmitAIResponse, task.SubmitJustPing}

// TestBodyGolden pins every body byte for byte: 3 submittedData × 3 output
// types for task_completed, and 3 submittedData for each failure and for the
// guardrail (their bodies do not depend on the output type).
func TestBodyGolden(t *testing.T) {
	type tc struct {
		name  string
		task  task.Task
		event task.Event
		sd    task.SubmittedData
	}
	var cases []tc
	for _, sd := range submitted {
		for _, o := range outputs {
			cases = append(cases, tc{"task_completed-" + string(sd) + "-" + o.name, ended(o.out, o.message), task.EventCompleted, sd})
		}
		cases = append(cases,
			tc{"task_failed-" + string(sd), failed(task.CodeOutputInvalid, "required property \"price\" not found on the page"), task.EventFailed, sd},
			tc{"task_failed_cancelled-" + string(sd), func() task.Task {
				c := failed("", "")
				c.Status = task.StatusCancelled
				return c
			}(), task.EventFailed, sd},
			tc{"guardrail_trigger-" + string(sd), waiting("Which size should I pick: <S> or \"M\"?"), task.EventGuardrail, sd},
		)
	}
	// A task that downloaded files lists them at the end of data (the
	// other shapes, without files, have no files key).
	withFiles := ended(task.OutputText, textMessage)
	withFiles.Files = []task.File{
		{ID: "file_a1", Name: "invoice-2024-01.pdf", Type: "application/pdf", Size: 48213},
		{ID: "file_b2", Name: "orders.csv", Type: "text/csv; charset=utf-8", Size: 1520},
	}
	cases = append(cases, tc{"task_completed-full_response-files", withFiles, task.EventCompleted, task.SubmitFullResponse})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Body(c.task, c.event, c.sd)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("not JSON: %s", got)
			}
			if got[0] != '{' && got[0] != '[' {
				t.Fatalf("body is not an object or array: %s", got)
			}
			golden(t, filepath.Join("testdata", "golden", c.name+".json"), got)
		})
	}
}

// golden compares got with the file, or rewrites the file under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
		t.Errorf("body drifted from %s (go test -update rewrites it; review the diff):\ngot  %s\nwant %s", path, got, want)
	}
}

// TestBodyMatchesSeed rebuilds the three examples of seed-webhooks.txt from
// the same figures and requires the seed's bytes: keys, order, spellings.
func TestBodyMatchesSeed(t *testing.T) {
	seedTask := ended(task.OutputJSON, `{"title":"Product Name","price":29.99}`)
	seedTask.EndedAt = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	aiTask := ended(task.OutputJSON, `{"title":"Product Name","price":29.99,"inStock":true,"description":"A great product"}`)
	for _, c := range []struct {
		name string
		task task.Task
		sd   task.SubmittedData
	}{
		{"full_response", seedTask, task.SubmitFullResponse},
		{"ai_response", aiTask, task.SubmitAIResponse},
		{"just_ping", seedTask, task.SubmitJustPing},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Body(c.task, task.EventCompleted, c.sd)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join("testdata", "seed", c.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, raw); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("differs from the seed:\ngot  %s\nwant %s", got, want.Bytes())
			}
		})
	}
}

// TestBodyKeys checks each envelope's key paths against docs/API.md, independent
// of the golden files: nothing missing, nothing undocumented.
func TestBodyKeys(t *testing.T) {
	usage := []string{"usage", "usage.computeTime", "usage.cost", "usage.inputTokens", "usage.outputTokens"}
	ids := []string{"sessionId", "taskId"}
	for _, c := range []struct {
		name  string
		task  task.Task
		event task.Event
		sd    task.SubmittedData
		want  []string
	}{
		{"completed full", ended(task.OutputText, "x"), task.EventCompleted, task.SubmitFullResponse,
			slices.Concat(ids, usage, []string{"type", "data", "data.message", "data.prompt_tokens", "data.completion_tokens", "data.total_tokens", "data.completion_time", "completedAt"})},
		{"completed ping", ended(task.OutputText, "x"), task.EventCompleted, task.SubmitJustPing, slices.Concat(ids, []string{"event", "completedAt"})},
		{"completed ai text", ended(task.OutputText, "x"), task.EventCompleted, task.SubmitAIResponse, []string{"text"}},
		{"completed ai csv", ended(task.OutputCSV, "a\n1\n"), task.EventCompleted, task.SubmitAIResponse, []string{"csv"}},
		{"failed full", failed(task.CodeTaskTimeout, "x"), task.EventFailed, task.SubmitFullResponse, slices.Concat(ids, usage, []string{"type", "error", "code", "failedAt"})},
		{"failed ai", failed(task.CodeTaskTimeout, "x"), task.EventFailed, task.SubmitAIResponse, slices.Concat(ids, usage, []string{"type", "error", "code", "failedAt"})},
		{"failed ping", failed(task.CodeTaskTimeout, "x"), task.EventFailed, task.SubmitJustPing, slices.Concat(ids, []string{"event", "failedAt"})},
		{"guardrail full", waiting("q"), task.EventGuardrail, task.SubmitFullResponse, slices.Concat(ids, usage, []string{"type", "data", "data.type", "data.value", "triggeredAt"})},
		{"guardrail ai", waiting("q"), task.EventGuardrail, task.SubmitAIResponse, slices.Concat(ids, usage, []string{"type", "data", "data.type", "data.value", "triggeredAt"})},
		{"guardrail ping", waiting("q"), task.EventGuardrail, task.SubmitJustPing, slices.Concat(ids, []string{"event", "triggeredAt"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Body(c.task, c.event, c.sd)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			got := keyPaths("", v)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Errorf("keys\ngot  %v\nwant %v", got, want)
			}
			// The event name is in "type" or "event", and every time is
			// the API's format.
			for k, x := range v {
				switch k {
				case "type", "event":
					if x != string(c.event) {
						t.Errorf("%s = %v, want %s", k, x, c.event)
					}
				case "completedAt", "failedAt", "triggeredAt":
					if x != "2024-01-15T10:30:00.000Z" {
						t.Errorf("%s = %v", k, x)
					}
				}
			}
		})
	}
}

func keyPaths(prefix string, v map[string]any) []string {
	var out []string
	for k, x := range v {
		out = append(out, prefix+k)
		if m, ok := x.(map[string]any); ok {
			out = append(out, keyPaths(prefix+k+".", m)...)
		}
	}
	return out
}

func TestBodyErrors(t *testing.T) {
	noTime := ended(task.OutputText, "x")
	noTime.EndedAt = time.Time{}
	for _, c := range []struct {
		name  string
		task  task.Task
		event task.Event
		sd    task.SubmittedData
		want  string
	}{
		{"unknown submittedData", ended(task.OutputText, "x"), task.EventCompleted, "everything", "submittedData"},
		{"unknown event", ended(task.OutputText, "x"), "task_exploded", task.SubmitFullResponse, "unknown event"},
		{"no end time", noTime, task.EventCompleted, task.SubmitJustPing, "no time"},
		{"failed without code", failed("", "boom"), task.EventFailed, task.SubmitFullResponse, "no error code"},
		{"json result not JSON", ended(task.OutputJSON, "{title: x}"), task.EventCompleted, task.SubmitAIResponse, "not JSON"},
		{"json result a scalar", ended(task.OutputJSON, "42"), task.EventCompleted, task.SubmitAIResponse, "object or array"},
		{"unknown output type", ended("yaml", "a: 1"), task.EventCompleted, task.SubmitAIResponse, "outputType"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Body(c.task, c.event, c.sd)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestBodyFigures: float noise from price arithmetic does not reach the
// wire, and NaN (which JSON cannot carry) does not stop the event.
func TestBodyFigures(t *testing.T) {
	tk := ended(task.OutputText, "x")
	tk.Usage = task.Usage{InputTokens: 1, OutputTokens: 2, ComputeTime: 0.1 + 0.2, Cost: 1e-6*0.6 + 2e-6*2.7}
	b, err := Body(tk, task.EventCompleted, task.SubmitFullResponse)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"computeTime":0.3,"cost":0.000006}`) {
		t.Errorf("figures not rounded: %s", b)
	}
	tk.Usage.Cost = math.NaN()
	if _, err := Body(tk, task.EventCompleted, task.SubmitFullResponse); err != nil {
		t.Errorf("NaN cost: %v", err)
	}
}

func TestFormatTime(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		name string
		in   time.Time
		want string
	}{
		{"whole second", time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC), "2024-01-15T10:30:00.000Z"},
		{"truncated not rounded", time.Date(2024, 1, 15, 10, 30, 0, 999_999_999, time.UTC), "2024-01-15T10:30:00.999Z"},
		{"milliseconds", time.Date(2024, 1, 15, 10, 30, 0, 120_000_000, time.UTC), "2024-01-15T10:30:00.120Z"},
		{"converted to UTC", time.Date(2024, 1, 15, 11, 30, 0, 0, paris), "2024-01-15T10:30:00.000Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := FormatTime(c.in); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}
