// Package mcptest helps tests be an MCP client of errand (with the Go
// SDK's client): it calls tools and reads their answers, and records the
// progress notifications a call gets.
package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Call calls a tool and returns its structured answer and whether the tool
// said it failed. The text content must say the same as the structured.
func Call(t testing.TB, cs *sdk.ClientSession, name string, args map[string]any, meta sdk.Meta) (map[string]any, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args, Meta: meta})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m, ok := res.StructuredContent.(map[string]any)
	if !ok || len(res.Content) != 1 {
		t.Fatalf("%s: the result has no structured answer: %+v", name, res)
	}
	text, ok := res.Content[0].(*sdk.TextContent)
	var fromText any
	if !ok || json.Unmarshal([]byte(text.Text), &fromText) != nil {
		t.Fatalf("%s: the text content is not the answer's JSON: %+v", name, res.Content[0])
	}
	a, _ := json.Marshal(m)
	b, _ := json.Marshal(fromText)
	if !bytes.Equal(a, b) {
		t.Errorf("%s: text content %s differs from structured content %s", name, b, a)
	}
	return m, res.IsError
}

// Progress records the progress notifications a client gets: give
// Options to the client.
type Progress struct {
	mu     sync.Mutex
	msgs   []string
	counts []float64
}

// Options are client options that record into p.
func (p *Progress) Options() *sdk.ClientOptions {
	return &sdk.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.msgs = append(p.msgs, r.Params.Message)
		p.counts = append(p.counts, r.Params.Progress)
	}}
}

// Got is every notification so far: its messages and progress values.
func (p *Progress) Got() ([]string, []float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs), slices.Clone(p.counts)
}

// WaitSteps waits (up to 10 s) until the notifications tell of n steps,
// and returns all the messages so far.
func (p *Progress) WaitSteps(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, _ := p.Got()
		if len(Steps(msgs)) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Steps are the messages that tell of a step ("step N: …").
func Steps(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if strings.HasPrefix(m, "step ") {
			out = append(out, m)
		}
	}
	return out
}
