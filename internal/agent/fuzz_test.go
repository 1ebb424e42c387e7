package agent

import (
	"encoding/json"
	"testing"
)

// FuzzToolArguments feeds arbitrary model-written arguments to the decoders
// of tool calls and answers: model output is untrusted input, and none of
// them may panic.
func FuzzToolArguments(f *testing.F) {
	for _, s := range []string{
		`{"id": 3}`, `{"id": "12"}`, `{"id": "[7]"}`, `{"submit": "true"}`, `{"pages": null}`,
		`{"answer": {"a": 1}}`, `{"answer": "x"}`, `{"url": "example.com"}`, `{"url": "javascript:alert(1)"}`,
		"```json\n{\"a\":1}\n```", "```", `{"seconds": 1e308}`, `{"id": 1e30}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var a toolArgs
		if json.Unmarshal([]byte(s), &a) == nil {
			_ = answerText(a.Answer)
			if u, err := normalizeURL(a.URL); err == nil && u == "" {
				t.Errorf("normalizeURL(%q) accepted an empty URL", a.URL)
			}
		}
		_ = stripFence(s)
		_ = answerText(json.RawMessage(s))
		_ = clip(s, 5)
	})
}
