package mcp_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// What a tool call costs over the API call behind it, on loopback with
// the built-in extractor over plain HTTP (BENCHMARKS.md, "MCP"): reading a
// task, and running one to its answer. mcp-local is the tools in this
// process (errand mcp, /mcp), mcp-remote the tools sending to the API
// (errand mcp --server), http-api the API called directly.
func BenchmarkToolCall(b *testing.B) {
	f := newFixture(b)
	page := f.site.URL + "/product"
	sessions := map[string]*sdk.ClientSession{}
	for name, open := range f.errands() {
		sessions["mcp-"+name] = open(b, nil)
	}
	got, _ := call(b, sessions["mcp-local"], "run_task", map[string]any{"taskDetails": "The title", "startingPoint": page}, nil)
	ref := map[string]any{"sessionId": got["sessionId"], "taskId": got["taskId"]}
	for _, name := range []string{"mcp-local", "mcp-remote"} {
		b.Run("get_task/"+name, func(b *testing.B) {
			for b.Loop() {
				if a, isErr := call(b, sessions[name], "get_task", ref, nil); isErr {
					b.Fatal(a)
				}
			}
		})
	}
	b.Run("get_task/http-api", func(b *testing.B) {
		for b.Loop() {
			resp := f.get(b, "/task/"+got["sessionId"].(string)+"/"+got["taskId"].(string))
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for _, name := range []string{"mcp-local", "mcp-remote"} {
		b.Run("run_task/"+name, func(b *testing.B) {
			for b.Loop() {
				if a, _ := call(b, sessions[name], "run_task", map[string]any{"taskDetails": "The title", "startingPoint": page}, nil); a["type"] != "task_completed" {
					b.Fatal(a)
				}
			}
		})
	}
	b.Run("run_task/http-api", func(b *testing.B) {
		// As a client following the task: run-task, then its event stream
		// to the result.
		for b.Loop() {
			_, m := f.post(b, "/start/run-task", map[string]any{"taskDetails": "The title", "startingPoint": page})
			resp := f.get(b, "/task/"+m["sessionId"].(string)+"/"+m["taskId"].(string)+"/events")
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			done := false
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "event: result") {
					done = true
				}
			}
			resp.Body.Close()
			if !done {
				b.Fatal("no result")
			}
		}
	})
}

// get sends a GET with the key; the caller closes the body.
func (f *fixture) get(t testing.TB, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", f.api.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", path, err, resp)
	}
	return resp
}
