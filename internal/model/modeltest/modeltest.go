// Package modeltest is a fake OpenAI-compatible chat-completions server for
// tests: real HTTP on loopback, the real wire format of
// POST /v1/chat/completions, answers scripted per test. A hosted model cannot
// run in a test, so this stands in for it, and the production client
// (package model) is what talks to it.
//
// A script is a list of steps, one per request: a step sees the decoded
// request (messages, tools, response_format) and returns the reply —
// a tool call, a text, or an HTTP error. Every request is recorded so that
// tests can assert what the model was sent.
package modeltest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Request is one request the server received.
type Request struct {
	// Raw is the body exactly as sent.
	Raw    []byte
	Header http.Header
	Body   ChatRequest
}

// ChatRequest is the decoded body of POST /v1/chat/completions (the fields
// errand sends).
type ChatRequest struct {
	Model          string          `json:"model"`
	Messages       []Message       `json:"messages"`
	Tools          []Tool          `json:"tools,omitempty"`
	ToolChoice     json.RawMessage `json:"tool_choice,omitempty"`
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
	Temperature    *float64        `json:"temperature,omitempty"`
}

// Message is one message on the wire. Content is a string or an array of
// parts; Text flattens it.
type Message struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	ToolCalls  []WireToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// Text is the message's content as one string.
func (m Message) Text() string {
	if len(m.Content) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return string(m.Content)
}

// WireToolCall is a tool call as the wire carries it.
type WireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Tool is an offered function.
type Tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

// ToolNames lists the names of the offered tools.
func (r ChatRequest) ToolNames() []string {
	var names []string
	for _, t := range r.Tools {
		names = append(names, t.Function.Name)
	}
	return names
}

// Text is every message's text, joined by newlines, tool-call arguments
// included: what a test searches for a string the model must (not) see.
func (r ChatRequest) Text() string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(m.Text())
		b.WriteByte('\n')
		for _, tc := range m.ToolCalls {
			b.WriteString(tc.Function.Name + " " + tc.Function.Arguments + "\n")
		}
	}
	return b.String()
}

// Last is the text of the last message (the latest observation or tool
// result).
func (r ChatRequest) Last() string {
	if len(r.Messages) == 0 {
		return ""
	}
	return r.Messages[len(r.Messages)-1].Text()
}

// Reply is what a step answers.
type Reply struct {
	// Content is the assistant's text.
	Content string
	// Calls are the tool calls; arguments are marshalled to JSON unless
	// already a string (which is sent as is, so a test can send broken JSON).
	Calls []Call
	// FinishReason defaults to "tool_calls" when there are calls, else "stop".
	FinishReason string
	// PromptTokens and CompletionTokens are the usage reported; zero means
	// derived from the sizes (a quarter of the request body's bytes, and of
	// the reply's), so budgets can be exercised without counting by hand.
	PromptTokens, CompletionTokens int64
	// Status, when not 0 or 200, answers that HTTP status with an OpenAI
	// error body carrying ErrorMessage.
	Status       int
	ErrorMessage string
}

// Call is one scripted tool call.
type Call struct {
	Name string
	Args any
}

// Step answers one request.
type Step func(Request) Reply

// ToolCall answers with one call of tool name with args.
func ToolCall(name string, args any) Step {
	return func(Request) Reply { return Reply{Calls: []Call{{Name: name, Args: args}}} }
}

// Text answers with assistant text and no tool call.
func Text(content string) Step {
	return func(Request) Reply { return Reply{Content: content} }
}

// Status answers with an HTTP error status.
func Status(code int, message string) Step {
	return func(Request) Reply { return Reply{Status: code, ErrorMessage: message} }
}

// Server is the fake endpoint. Its URL is the base URL a client is
// configured with (ending in /v1).
type Server struct {
	URL string

	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	script []Step
	next   int
	reqs   []Request
	calls  int
}

// New starts a server that answers requests with steps, in order. A
// request beyond the script fails the test and is answered 400 (which
// clients do not retry). The server is closed when the test ends.
func New(t testing.TB, steps ...Step) *Server {
	t.Helper()
	s := &Server{t: t, script: steps}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/v1"
	t.Cleanup(s.srv.Close)
	return s
}

// Append adds steps to the end of the script.
func (s *Server) Append(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, steps...)
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Remaining is how many scripted steps were not used.
func (s *Server) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script) - s.next
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		writeError(w, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path)
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req := Request{Raw: raw, Header: r.Header.Clone()}
	if err := json.Unmarshal(raw, &req.Body); err != nil {
		s.t.Errorf("modeltest: request body is not a chat request: %v", err)
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}

	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	var step Step
	n := s.next
	if s.next < len(s.script) {
		step = s.script[s.next]
		s.next++
	}
	s.calls++
	id := s.calls
	s.mu.Unlock()

	if step == nil {
		s.t.Errorf("modeltest: request %d is beyond the script of %d steps; last message: %.300s", n+1, n, req.Body.Last())
		writeError(w, http.StatusBadRequest, "modeltest: script exhausted")
		return
	}
	reply := step(req)
	if reply.Status != 0 && reply.Status != http.StatusOK {
		// A short Retry-After keeps the SDK's retries fast in tests.
		w.Header().Set("Retry-After-Ms", "1")
		writeError(w, reply.Status, reply.ErrorMessage)
		return
	}
	s.writeCompletion(w, req, reply, id)
}

func (s *Server) writeCompletion(w http.ResponseWriter, req Request, reply Reply, id int) {
	type wireCall struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	msg := map[string]any{"role": "assistant", "content": nil}
	if reply.Content != "" || len(reply.Calls) == 0 {
		msg["content"] = reply.Content
	}
	var calls []wireCall
	size := len(reply.Content)
	for i, c := range reply.Calls {
		var wc wireCall
		wc.ID = fmt.Sprintf("call_%d_%d", id, i)
		wc.Type = "function"
		wc.Function.Name = c.Name
		switch a := c.Args.(type) {
		case string:
			wc.Function.Arguments = a
		case nil:
			wc.Function.Arguments = "{}"
		default:
			b, err := json.Marshal(a)
			if err != nil {
				s.t.Errorf("modeltest: arguments of %s: %v", c.Name, err)
			}
			wc.Function.Arguments = string(b)
		}
		size += len(wc.Function.Name) + len(wc.Function.Arguments)
		calls = append(calls, wc)
	}
	if len(calls) > 0 {
		msg["tool_calls"] = calls
	}
	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
		if len(calls) > 0 {
			finish = "tool_calls"
		}
	}
	prompt, completion := reply.PromptTokens, reply.CompletionTokens
	if prompt == 0 {
		prompt = int64(len(req.Raw)/4 + 1)
	}
	if completion == 0 {
		completion = int64(size/4 + 1)
	}
	body := map[string]any{
		"id":      "chatcmpl-" + strconv.Itoa(id),
		"object":  "chat.completion",
		"created": 1700000000,
		"model":   req.Body.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       msg,
			"finish_reason": finish,
			"logprobs":      nil,
		}},
		"usage": map[string]any{
			"prompt_tokens":     prompt,
			"completion_tokens": completion,
			"total_tokens":      prompt + completion,
		},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": message, "type": "invalid_request_error", "param": nil, "code": nil,
	}})
}

var idPattern = regexp.MustCompile(`\[(\d+)\]`)

// ElementID returns the number of the first element ([12]…) on a line of
// observation text that contains substr, or -1. Scripts use it to click
// what a page shows rather than hard-coding ids.
func ElementID(observation, substr string) int {
	for _, line := range strings.Split(observation, "\n") {
		at := strings.Index(line, substr)
		if at < 0 {
			continue
		}
		// Several elements may share a line: take the last number before
		// substr, else the first after it.
		best := -1
		for _, m := range idPattern.FindAllStringSubmatchIndex(line, -1) {
			n, _ := strconv.Atoi(line[m[2]:m[3]])
			if m[0] <= at || best < 0 {
				best = n
			}
			if m[0] > at {
				break
			}
		}
		if best >= 0 {
			return best
		}
	}
	return -1
}
