package mcp

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/httpapi"
)

// Tool arguments are untrusted JSON: reading the timeout and an
// endpoint's parameters from any object never panics, refuses with the
// API's error naming the argument, and passes on only what it read.
func FuzzToolArguments(f *testing.F) {
	for _, s := range []string{`{}`, `{"timeout":5}`, `{"timeout":-1}`, `{"timeout":1e400}`, `{"timeout":"5"}`, `{"timeout":2.5}`,
		`{"sessionId":"s","taskId":"t"}`, `{"sessionId":7,"taskId":null}`, `{"monitorId":""}`, `{"limit":10,"cursor":"abc","status":["x"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var args Body
		if json.Unmarshal([]byte(raw), &args) != nil || args == nil {
			return
		}
		c := &call{args: args}
		d, err := c.timeout(50 * time.Second)
		if err == nil && (d < 0 || d > MaxTimeout) {
			t.Fatalf("%s: timeout %v accepted", raw, d)
		}
		if err != nil && !strings.Contains(err.Error(), "/timeout") {
			t.Fatalf("%s: %v does not name /timeout", raw, err)
		}
		if _, left := c.args["timeout"]; left {
			t.Fatalf("%s: the timeout stays in the request's arguments", raw)
		}
		path, q, err := c.params([]string{"sessionId"}, "limit", "cursor")
		if err != nil {
			ae := httpapi.ErrorOf(err)
			if ae.Code != "INVALID_REQUEST" || len(ae.Details) == 0 {
				t.Fatalf("%s: %v", raw, ae)
			}
			return
		}
		if path["sessionId"] == "" {
			t.Fatalf("%s: an empty sessionId was accepted", raw)
		}
		for k := range q {
			if k != "limit" && k != "cursor" {
				t.Fatalf("%s: query carries %s", raw, k)
			}
		}
	})
}

// An event stream is read event by event whatever the server sends: no
// panic, and each event's data is what its data lines said.
func FuzzReadEvents(f *testing.F) {
	f.Add("event: step\ndata: {\"n\":1}\n\nevent: result\ndata: {}\n\n")
	f.Add(": keep-alive\n\nid: 3\nevent: status\r\ndata: a\ndata: b\n\n")
	f.Add("data:x")
	f.Fuzz(func(t *testing.T, stream string) {
		var got []string
		err := readEvents(strings.NewReader(stream), func(event string, data []byte) error {
			got = append(got, fmt.Sprintf("%s=%s", event, data))
			return nil
		})
		if err != nil {
			t.Fatalf("%q: %v", stream, err)
		}
		// An event ends at a blank line: at most one per blank line.
		lines := strings.Split(stream, "\n")
		blank := 0
		for _, l := range lines[:len(lines)-1] {
			if strings.TrimRight(l, "\r") == "" {
				blank++
			}
		}
		if len(got) > blank {
			t.Fatalf("%q: %d events from %d blank lines", stream, len(got), blank)
		}
	})
}
