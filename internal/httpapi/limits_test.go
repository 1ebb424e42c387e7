package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Header values and sizes: what cannot be sent as a header, and every
// free-text field past its documented maximum, is a 400 naming the field
// — never echoing the value — while the maximum itself passes.
func TestHeaderValuesAndSizes(t *testing.T) {
	l := newLiveAPI(t)
	hook := func(k string, v any) map[string]any {
		h := map[string]any{"name": "n", "url": "https://hooks.example.com/x", "auth": "Bearer ok", "submittedData": "just_ping"}
		h[k] = v
		return h
	}
	task := func(k string, v any) map[string]any {
		m := map[string]any{"taskDetails": "x", "startingPoint": "https://example.com/"}
		m[k] = v
		return m
	}
	long := func(n int) string { return strings.Repeat("é", n) } // characters, not bytes
	url := func(n int) string { return "https://example.com/" + strings.Repeat("a", n-len("https://example.com/")) }
	domains := make([]string, maxDomains+1)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%d.example.com", i)
	}
	secrets := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"match": "example.com", "fields": map[string]string{"p": "v"}}
		}
		return out
	}
	secretValue := func(v string) []map[string]any {
		return []map[string]any{{"match": "example.com", "fields": map[string]string{"password": v}}}
	}

	cases := []struct {
		name    string
		path    string
		body    any
		pointer string // "" when the request must pass
		reason  string
	}{
		{"auth with NUL", "/start/run-task", task("webhook", hook("auth", "Bearer a\x00b")), "/webhook/auth", "U+0000"},
		{"auth with CR LF", "/start/run-task", task("webhook", hook("auth", "Bearer a\r\nX-Evil: 1")), "/webhook/auth", "U+000D"},
		{"auth with LF", "/start/run-task", task("webhook", hook("auth", "Bearer a\nb")), "/webhook/auth", "U+000A"},
		{"auth with ESC", "/start/run-task", task("webhook", hook("auth", "Bearer \x1b[31m")), "/webhook/auth", "U+001B"},
		{"auth with DEL", "/start/run-task", task("webhook", hook("auth", "Bearer a\x7f")), "/webhook/auth", "U+007F"},
		{"auth with NEL (C1)", "/start/run-task", task("webhook", hook("auth", "Bearer a\u0085b")), "/webhook/auth", "U+0085"},
		{"auth with line separator", "/start/run-task", task("webhook", hook("auth", "Bearer a\u2028b")), "/webhook/auth", "U+2028"},
		{"auth with paragraph separator", "/start/run-task", task("webhook", hook("auth", "Bearer a\u2029b")), "/webhook/auth", "U+2029"},
		{"auth in start-session", "/start/start-session", map[string]any{"initialTask": task("webhook", hook("auth", "a\rb"))}, "/initialTask/webhook/auth", "U+000D"},
		{"auth with a tab and non-ASCII passes", "/start/run-task", task("webhook", hook("auth", "Bearer\tjeton-été")), "", ""},
		{"auth at its maximum", "/start/run-task", task("webhook", hook("auth", long(maxAuthLen))), "", ""},
		{"auth too long", "/start/run-task", task("webhook", hook("auth", long(maxAuthLen+1))), "/webhook/auth", "at most 8192 characters"},
		{"name at its maximum", "/start/run-task", task("webhook", hook("name", long(maxNameLen))), "", ""},
		{"name too long", "/start/run-task", task("webhook", hook("name", long(300_000))), "/webhook/name", "at most 200 characters"},
		{"name with a line break", "/start/run-task", task("webhook", hook("name", "a\nb")), "/webhook/name", "one line"},
		{"webhook url at its maximum", "/start/run-task", task("webhook", hook("url", url(maxURLLen))), "", ""},
		{"webhook url too long", "/start/run-task", task("webhook", hook("url", url(maxURLLen+1))), "/webhook/url", "at most 8192 characters"},
		{"secret too long", "/start/run-task", task("webhook", hook("secret", "whsec_"+strings.Repeat("A", maxSigningLen))), "/webhook/secret", "at most 1024 characters"},
		{"startingPoint at its maximum", "/start/run-task", task("startingPoint", url(maxURLLen)), "", ""},
		{"startingPoint too long", "/start/run-task", task("startingPoint", url(maxURLLen+1)), "/startingPoint", "at most 8192 characters"},
		{"startingUrl too long", "/start/run-task", map[string]any{"taskDetails": "x", "startingUrl": url(maxURLLen + 1)}, "/startingUrl", "at most 8192 characters"},
		{"taskDetails at its maximum", "/start/run-task", task("taskDetails", long(maxDetailsLen)), "", ""},
		{"taskDetails too long", "/start/run-task", task("taskDetails", long(maxDetailsLen+1)), "/taskDetails", "at most 100000 characters"},
		{"too many avoidDomains", "/start/run-task", task("avoidDomains", domains), "/avoidDomains", "at most 100 entries"},
		{"avoidDomains entry too long", "/start/run-task", task("avoidDomains", []string{strings.Repeat("a", maxDomainLen+1)}), "/avoidDomains/0", "at most 253 characters"},
		{"too many secrets", "/start/run-task", task("secrets", secrets(maxSecrets+1)), "/secrets", "at most 20 entries"},
		{"secret match too long", "/start/run-task", task("secrets", []map[string]any{{"match": strings.Repeat("a", maxDomainLen+1), "fields": map[string]string{"p": "v"}}}), "/secrets/0/match", "at most 253 characters"},
		{"secret value too long", "/start/run-task", task("secrets", secretValue(long(maxSecretValueLen+1))), "/secrets/0/fields/password", "at most 4096 characters"},
		{"sessionId too long", "/start/send-message", map[string]any{"sessionId": long(maxIDLen + 1), "message": map[string]any{"actionType": "state", "newState": "pause"}}, "/sessionId", "at most 200 characters"},
		{"guardrail answer too long", "/start/send-message", map[string]any{"sessionId": "sess_x", "message": map[string]any{"actionType": "guardrail", "taskDetails": long(maxDetailsLen + 1)}}, "/message/taskDetails", "at most 100000 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(tc.body)
			code, m := l.call(t, "POST", tc.path, tc.path, string(body), true)
			if tc.pointer == "" {
				if code != 200 {
					t.Fatalf("refused: %d %v", code, m)
				}
				return
			}
			details, _ := m["details"].(map[string]any)
			reason, _ := details[tc.pointer].(string)
			if code != 400 || m["code"] != "INVALID_REQUEST" || !strings.Contains(reason, tc.reason) {
				t.Fatalf("got %d %v, want 400 naming %s (%q)", code, m, tc.pointer, tc.reason)
			}
			if len(details) != 1 {
				t.Errorf("other fields named too: %v", details)
			}
			if strings.Contains(fmt.Sprint(m), "Bearer") || strings.Contains(fmt.Sprint(m), "X-Evil") {
				t.Errorf("the answer echoes the header value: %v", m)
			}
		})
	}

	// The redelivery's url is held to the same maximum.
	path := "/task/{sessionId}/{taskId}/deliveries/redeliver"
	code, m := l.call(t, "POST", path, "/task/sess_x/task_x/deliveries/redeliver", `{"url":"`+url(maxURLLen+1)+`"}`, true)
	if reason, _ := m["details"].(map[string]any)["/url"].(string); code != 400 || !strings.Contains(reason, "at most 8192") {
		t.Errorf("redelivery url too long: %d %v", code, m)
	}
}

// openapi.json states the same limits: what the server refuses, the
// document's schemas refuse too.
func TestDocumentStatesTheLimits(t *testing.T) {
	schemas := newDocSchemas(t)
	webhook := func(k, v string) []byte {
		b, _ := json.Marshal(map[string]any{"name": "n", "url": "https://hooks.example.com/x", "submittedData": "just_ping", k: v})
		return b
	}
	if err := schemas.validate(t, "/components/schemas/Webhook", webhook("auth", "Bearer\tok-été")); err != nil {
		t.Errorf("a valid auth is refused: %v", err)
	}
	for _, bad := range [][]byte{
		webhook("auth", "a\r\nb"), webhook("auth", "a\x00b"), webhook("auth", "a\u0085b"), webhook("auth", strings.Repeat("a", maxAuthLen+1)),
		webhook("name", strings.Repeat("a", maxNameLen+1)), webhook("name", "a\nb"), webhook("url", "https://x/"+strings.Repeat("a", maxURLLen)),
		webhook("secret", "whsec_"+strings.Repeat("A", maxSigningLen)),
	} {
		if err := schemas.validate(t, "/components/schemas/Webhook", bad); err == nil {
			t.Errorf("the document accepts %.80q", bad)
		}
	}
	task, _ := json.Marshal(map[string]any{"taskDetails": strings.Repeat("é", maxDetailsLen+1)})
	if err := schemas.validate(t, "/components/schemas/TaskFields", task); err == nil {
		t.Errorf("the document accepts a taskDetails over %d characters", maxDetailsLen)
	}
}
