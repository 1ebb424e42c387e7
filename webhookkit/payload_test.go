package webhookkit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/errandhq/errand/webhookkit"
)

var at = webhookkit.Timestamp{Time: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)}

func TestDecode(t *testing.T) {
	usage := webhookkit.Usage{InputTokens: 8500, OutputTokens: 2300, ComputeTime: 12.5, Cost: 0.0124}
	for _, c := range []struct {
		name  string
		event string
		body  string
		want  webhookkit.Payload
	}{
		{"seed full_response", "task_completed",
			`{"type":"task_completed","sessionId":"sess_abc123","taskId":"task_xyz789","data":{"message":"{\"title\":\"Product Name\",\"price\":29.99}","prompt_tokens":8500,"completion_tokens":2300,"total_tokens":10800,"completion_time":12.5},"usage":{"inputTokens":8500,"outputTokens":2300,"computeTime":12.5,"cost":0.0124},"completedAt":"2024-01-15T10:30:00.000Z"}`,
			&webhookkit.Completed{Type: "task_completed", SessionID: "sess_abc123", TaskID: "task_xyz789",
				Data:  webhookkit.CompletedData{Message: `{"title":"Product Name","price":29.99}`, PromptTokens: 8500, CompletionTokens: 2300, TotalTokens: 10800, CompletionTime: 12.5},
				Usage: usage, CompletedAt: at}},
		{"seed just_ping", "task_completed",
			`{"event":"task_completed","sessionId":"sess_abc123","taskId":"task_xyz789","completedAt":"2024-01-15T10:30:00.000Z"}`,
			&webhookkit.CompletedPing{Event: "task_completed", SessionID: "sess_abc123", TaskID: "task_xyz789", CompletedAt: at}},
		{"seed ai_response", "task_completed",
			`{"title":"Product Name","price":29.99,"inStock":true,"description":"A great product"}`,
			&webhookkit.AIResponse{Raw: json.RawMessage(`{"title":"Product Name","price":29.99,"inStock":true,"description":"A great product"}`)}},
		{"ai_response array", "task_completed", `[{"sku":"a"}]`, &webhookkit.AIResponse{Raw: json.RawMessage(`[{"sku":"a"}]`)}},
		{"ai_response with a non-string type key", "task_completed", `{"type":3}`, &webhookkit.AIResponse{Raw: json.RawMessage(`{"type":3}`)}},
		{"ai_response with a foreign type", "task_completed", `{"type":"gadget"}`, &webhookkit.AIResponse{Raw: json.RawMessage(`{"type":"gadget"}`)}},
		{"no header: from the body", "",
			`{"event":"task_failed","sessionId":"s","taskId":"t","failedAt":"2024-01-15T10:30:00.000Z"}`,
			&webhookkit.FailedPing{Event: "task_failed", SessionID: "s", TaskID: "t", FailedAt: at}},
		{"no header, no marker: ai_response", "", `{"text":"# Hi"}`, &webhookkit.AIResponse{Raw: json.RawMessage(`{"text":"# Hi"}`)}},
		{"failed", "task_failed",
			`{"type":"task_failed","sessionId":"s","taskId":"t","error":"the task was cancelled","code":"CANCELLED","usage":{"inputTokens":1,"outputTokens":2,"computeTime":0.5,"cost":0},"failedAt":"2024-01-15T10:30:00.000Z"}`,
			&webhookkit.Failed{Type: "task_failed", SessionID: "s", TaskID: "t", Error: "the task was cancelled", Code: "CANCELLED",
				Usage: webhookkit.Usage{InputTokens: 1, OutputTokens: 2, ComputeTime: 0.5}, FailedAt: at}},
		{"guardrail", "guardrail_trigger",
			`{"type":"guardrail_trigger","sessionId":"s","taskId":"t","data":{"type":"human_input_needed","value":"Which size?"},"usage":{"inputTokens":0,"outputTokens":0,"computeTime":0,"cost":0},"triggeredAt":"2024-01-15T10:30:00.000Z"}`,
			&webhookkit.Guardrail{Type: "guardrail_trigger", SessionID: "s", TaskID: "t",
				Data: webhookkit.GuardrailData{Type: "human_input_needed", Value: "Which size?"}, TriggeredAt: at}},
		{"guardrail ping", "guardrail_trigger",
			`{"event":"guardrail_trigger","sessionId":"s","taskId":"t","triggeredAt":"2024-01-15T10:30:00.000Z"}`,
			&webhookkit.GuardrailPing{Event: "guardrail_trigger", SessionID: "s", TaskID: "t", TriggeredAt: at}},
		{"unknown keys ignored (forward compatible)", "task_completed",
			`{"event":"task_completed","sessionId":"s","taskId":"t","completedAt":"2024-01-15T10:30:00.000Z","attempt":2}`,
			&webhookkit.CompletedPing{Event: "task_completed", SessionID: "s", TaskID: "t", CompletedAt: at}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := webhookkit.Decode(c.event, []byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %#v\nwant %#v", got, c.want)
			}
			if got.EventName() != c.want.EventName() {
				t.Errorf("event %s", got.EventName())
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		event string
		body  string
		want  error
	}{
		{"not JSON", "task_completed", `{"type":`, webhookkit.ErrInvalidBody},
		{"empty", "task_completed", ``, webhookkit.ErrInvalidBody},
		{"unknown event", "task_exploded", `{}`, webhookkit.ErrUnknownEvent},
		{"header and body disagree", "task_completed", `{"event":"task_failed","sessionId":"s","taskId":"t","failedAt":"2024-01-15T10:30:00.000Z"}`, webhookkit.ErrEventMismatch},
		{"failure without marker", "task_failed", `{"error":"x"}`, webhookkit.ErrInvalidBody},
		{"guardrail array", "guardrail_trigger", `[]`, webhookkit.ErrInvalidBody},
		{"wrong field type", "task_failed", `{"type":"task_failed","code":7}`, webhookkit.ErrInvalidBody},
		{"bad time", "task_completed", `{"event":"task_completed","completedAt":"yesterday"}`, webhookkit.ErrInvalidBody},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := webhookkit.Decode(c.event, []byte(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestAIResponseDecodeInto(t *testing.T) {
	p, err := webhookkit.Decode("task_completed", []byte(`{"csv":"a,b\n1,2\n"}`))
	if err != nil {
		t.Fatal(err)
	}
	var csv webhookkit.CSVResponse
	if err := p.(*webhookkit.AIResponse).DecodeInto(&csv); err != nil || csv.CSV != "a,b\n1,2\n" {
		t.Errorf("%+v %v", csv, err)
	}
}

func TestTimestamp(t *testing.T) {
	for _, c := range []struct {
		name, in, out string
	}{
		{"milliseconds", `"2024-01-15T10:30:00.123Z"`, `"2024-01-15T10:30:00.123Z"`},
		{"no fraction", `"2024-01-15T10:30:00Z"`, `"2024-01-15T10:30:00.000Z"`},
		{"nanoseconds truncated", `"2024-01-15T10:30:00.123999999Z"`, `"2024-01-15T10:30:00.123Z"`},
		{"offset to UTC", `"2024-01-15T11:30:00.5+01:00"`, `"2024-01-15T10:30:00.500Z"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ts webhookkit.Timestamp
			if err := json.Unmarshal([]byte(c.in), &ts); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(ts)
			if err != nil || string(out) != c.out {
				t.Errorf("got %s %v, want %s", out, err, c.out)
			}
		})
	}
}

// FuzzDecode: any body and event either fail cleanly or decode to a value
// that re-encodes, decodes again, and re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"task_completed","sessionId":"s","taskId":"t","data":{"message":"m","prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"completion_time":1.5},"usage":{"inputTokens":1,"outputTokens":2,"computeTime":1.5,"cost":0.01},"completedAt":"2024-01-15T10:30:00.000Z"}`,
		`{"event":"task_failed","sessionId":"s","taskId":"t","failedAt":"2024-01-15T10:30:00.123999Z"}`,
		`{"type":"guardrail_trigger","data":{"type":"human_input_needed","value":"?"}}`,
		`{"text":"hi"}`, `[1,2]`, `{"type":5}`, `null`, `"x"`,
	} {
		for _, e := range []string{"", "task_completed", "task_failed", "guardrail_trigger"} {
			f.Add(e, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		p, err := webhookkit.Decode(event, body)
		if err != nil {
			return
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", p, err)
		}
		p2, err := webhookkit.Decode(p.EventName(), again)
		if err != nil {
			t.Fatalf("decode re-encoded %s: %v", again, err)
		}
		if ai, ok := p.(*webhookkit.AIResponse); ok {
			// encoding/json re-escapes a Marshaler's output (& becomes
			// \u0026): compare the values, not the bytes.
			if v1, v2 := jsonValue(t, ai.Raw), jsonValue(t, p2.(*webhookkit.AIResponse).Raw); !reflect.DeepEqual(v1, v2) {
				t.Fatalf("ai_response changed: %s -> %s", ai.Raw, again)
			}
			return
		}
		// Times keep what was received but encode to milliseconds, so the
		// fixed point is the second encoding.
		again2, err := json.Marshal(p2)
		if err != nil || !bytes.Equal(again, again2) {
			t.Fatalf("round trip changed it:\n%s\n%s (%v)", again, again2, err)
		}
	})
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}
