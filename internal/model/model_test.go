package model_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/model/modeltest"
)

const testKey = "sk-test-KEY-never-shown"

func newClient(t *testing.T, baseURL string, mut func(*model.Config)) *model.Client {
	t.Helper()
	cfg := model.Config{BaseURL: baseURL, APIKey: testKey, Model: "gpt-test", MaxRetryDelay: 10 * time.Millisecond}
	if mut != nil {
		mut(&cfg)
	}
	c, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestToolCallRoundTrip(t *testing.T) {
	srv := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{
				Calls:        []modeltest.Call{{Name: "click", Args: map[string]int{"id": 3}}},
				PromptTokens: 120, CompletionTokens: 7,
			}
		},
		modeltest.Text("all done"),
	)
	c := newClient(t, srv.URL, nil)
	tools := []model.Tool{{Name: "click", Description: "Click an element.", Parameters: map[string]any{
		"type": "object", "properties": map[string]any{"id": map[string]any{"type": "integer"}}, "required": []string{"id"},
	}}}
	msgs := []model.Message{
		{Role: model.RoleSystem, Content: "be brief"},
		{Role: model.RoleUser, Content: "do it"},
	}
	resp, err := c.Complete(context.Background(), model.Request{Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage != (model.Usage{PromptTokens: 120, CompletionTokens: 7}) {
		t.Errorf("usage = %+v", resp.Usage)
	}
	if resp.FinishReason != "tool_calls" || len(resp.Message.ToolCalls) != 1 {
		t.Fatalf("response = %+v", resp)
	}
	call := resp.Message.ToolCalls[0]
	if call.Name != "click" || call.Arguments != `{"id":3}` || call.ID == "" {
		t.Errorf("call = %+v", call)
	}

	// The assistant's call and the tool's result go back on the wire.
	msgs = append(msgs, resp.Message, model.Message{Role: model.RoleTool, ToolCallID: call.ID, Content: "clicked"})
	resp, err = c.Complete(context.Background(), model.Request{Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Content != "all done" || len(resp.Message.ToolCalls) != 0 {
		t.Errorf("second response = %+v", resp)
	}

	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	first := reqs[0].Body
	if first.Model != "gpt-test" || len(first.Messages) != 2 || first.Messages[0].Role != "system" || first.Messages[1].Text() != "do it" {
		t.Errorf("first request = %+v", first)
	}
	if names := first.ToolNames(); len(names) != 1 || names[0] != "click" || first.Tools[0].Type != "function" {
		t.Errorf("tools = %+v", first.Tools)
	}
	if len(first.ResponseFormat) != 0 {
		t.Errorf("response_format sent without a schema: %s", first.ResponseFormat)
	}
	second := reqs[1].Body.Messages
	if len(second) != 4 || second[2].Role != "assistant" || len(second[2].ToolCalls) != 1 ||
		second[2].ToolCalls[0].ID != call.ID || second[2].ToolCalls[0].Function.Arguments != `{"id":3}` ||
		second[3].Role != "tool" || second[3].ToolCallID != call.ID || second[3].Text() != "clicked" {
		t.Errorf("second request messages = %+v", second)
	}
}

func TestNoKeyNoAuthorization(t *testing.T) {
	// Local servers (Ollama, llama.cpp) take no key; an OPENAI_API_KEY in
	// the environment must not be sent to them.
	t.Setenv("OPENAI_API_KEY", "sk-from-environment")
	srv := modeltest.New(t, modeltest.Text("hi"))
	c := newClient(t, srv.URL, func(c *model.Config) { c.APIKey = "" })
	if _, err := c.Complete(context.Background(), model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[0].Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none", got)
	}
}

func TestRetries(t *testing.T) {
	t.Run("429 then success", func(t *testing.T) {
		srv := modeltest.New(t, modeltest.Status(429, "slow down"), modeltest.Status(503, "busy"), modeltest.Text("ok"))
		c := newClient(t, srv.URL, nil)
		resp, err := c.Complete(context.Background(), model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}})
		if err != nil || resp.Message.Content != "ok" {
			t.Fatalf("resp = %+v, err = %v", resp, err)
		}
		if n := len(srv.Requests()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
	t.Run("5xx past the retries", func(t *testing.T) {
		srv := modeltest.New(t,
			modeltest.Status(500, "boom "+testKey), modeltest.Status(500, "boom"), modeltest.Status(500, "boom"))
		c := newClient(t, srv.URL, nil)
		_, err := c.Complete(context.Background(), model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}})
		var me *model.Error
		if !errors.As(err, &me) || me.StatusCode != 500 {
			t.Fatalf("err = %v, want *model.Error 500", err)
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("error shows the key: %v", err)
		}
		if n := len(srv.Requests()); n != 3 {
			t.Errorf("%d requests, want 1 + 2 retries", n)
		}
	})
	t.Run("400 is not retried", func(t *testing.T) {
		srv := modeltest.New(t, modeltest.Status(400, "bad"))
		c := newClient(t, srv.URL, nil)
		_, err := c.Complete(context.Background(), model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}})
		var me *model.Error
		if !errors.As(err, &me) || me.StatusCode != 400 || !strings.Contains(me.Message, "bad") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newClient(t, "http://"+addr+"/v1?key="+testKey, func(c *model.Config) { c.MaxRetries = -1 })
	_, err = c.Complete(context.Background(), model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}})
	var me *model.Error
	if !errors.As(err, &me) || me.StatusCode != 0 {
		t.Fatalf("err = %v, want *model.Error without status", err)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "key=") {
		t.Errorf("error shows the URL: %v", err)
	}
}

func TestHungEndpointTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { close(release); srv.Close() })
	c := newClient(t, "http://"+ln.Addr().String()+"/v1", func(c *model.Config) {
		c.Timeout = 50 * time.Millisecond
		c.MaxRetries = -1
	})
	_, err = c.Complete(context.Background(), model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}})
	var me *model.Error
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *model.Error", err)
	}
}

func TestCancelledContext(t *testing.T) {
	srv := modeltest.New(t)
	c := newClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Complete(ctx, model.Request{Messages: []model.Message{{Role: model.RoleUser, Content: "x"}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestStructuredOutput(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`)
	req := model.Request{
		Messages: []model.Message{{Role: model.RoleUser, Content: "answer"}},
		Schema:   &model.Schema{Name: "answer", Schema: schema},
	}

	t.Run("sent when supported", func(t *testing.T) {
		srv := modeltest.New(t, modeltest.Text(`{"name":"x"}`))
		c := newClient(t, srv.URL, nil)
		resp, err := c.Complete(context.Background(), req)
		if err != nil || !resp.SchemaSent {
			t.Fatalf("resp = %+v, err = %v", resp, err)
		}
		var rf struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Name   string          `json:"name"`
				Schema json.RawMessage `json:"schema"`
			} `json:"json_schema"`
		}
		if err := json.Unmarshal(srv.Requests()[0].Body.ResponseFormat, &rf); err != nil {
			t.Fatal(err)
		}
		if rf.Type != "json_schema" || rf.JSONSchema.Name != "answer" || !strings.Contains(string(rf.JSONSchema.Schema), `"required":["name"]`) {
			t.Errorf("response_format = %s", srv.Requests()[0].Body.ResponseFormat)
		}
	})

	t.Run("auto falls back after a 400", func(t *testing.T) {
		refuse := func(r modeltest.Request) modeltest.Reply {
			if len(r.Body.ResponseFormat) != 0 {
				return modeltest.Reply{Status: 400, ErrorMessage: "response_format json_schema is not supported"}
			}
			return modeltest.Reply{Content: `{"name":"x"}`}
		}
		srv := modeltest.New(t, refuse, refuse, refuse)
		c := newClient(t, srv.URL, nil)
		resp, err := c.Complete(context.Background(), req)
		if err != nil || resp.SchemaSent || resp.Message.Content != `{"name":"x"}` {
			t.Fatalf("resp = %+v, err = %v", resp, err)
		}
		if c.SupportsSchema() {
			t.Error("SupportsSchema after a refusal")
		}
		// Remembered: the next call does not try again.
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 3 {
			t.Errorf("%d requests, want 3 (refused, resent, then without)", n)
		}
	})

	t.Run("off never sends it", func(t *testing.T) {
		srv := modeltest.New(t, modeltest.Text(`{}`))
		c := newClient(t, srv.URL, func(c *model.Config) { c.Structured = model.StructuredOff })
		resp, err := c.Complete(context.Background(), req)
		if err != nil || resp.SchemaSent || len(srv.Requests()[0].Body.ResponseFormat) != 0 {
			t.Fatalf("resp = %+v, err = %v", resp, err)
		}
	})
}

func TestConfigRefusals(t *testing.T) {
	for name, cfg := range map[string]model.Config{
		"no model":    {BaseURL: "http://127.0.0.1:1/v1"},
		"relative":    {BaseURL: "/v1", Model: "m"},
		"ftp":         {BaseURL: "ftp://host/v1", Model: "m"},
		"bad mode":    {BaseURL: "http://h/v1", Model: "m", Structured: "maybe"},
		"key in url?": {BaseURL: "::" + testKey, Model: "m"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := model.New(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error shows the URL: %v", err)
			}
		})
	}
}
