// Package model talks to a language model over any OpenAI-compatible
// chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server…)
// through the official openai-go client.
//
// The agent speaks in this package's small types (Message, Tool, ToolCall,
// Usage) rather than the SDK's, so the loop does not depend on one vendor's
// parameter unions, and so everything that crosses the wire is in one file
// to read when a server misbehaves.
//
// Errors that reach the agent are *Error (or the context's error): they
// never carry the API key, the request or the endpoint's URL.
package model

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/shared"
)

// DefaultBaseURL is OpenAI's endpoint, used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// StructuredMode says whether the client asks the endpoint to enforce a JSON
// Schema on an answer (response_format: json_schema).
type StructuredMode string

const (
	// StructuredAuto sends response_format when asked and, the first time the
	// endpoint refuses it with a 400, resends without it and stops sending it
	// (instruct-and-validate remains, so nothing is lost).
	StructuredAuto StructuredMode = "auto"
	// StructuredOn always sends it; a refusal is a model error.
	StructuredOn StructuredMode = "on"
	// StructuredOff never sends it.
	StructuredOff StructuredMode = "off"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the endpoint up to and including the version path, e.g.
	// "http://127.0.0.1:11434/v1" for Ollama. Default DefaultBaseURL.
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none (local servers).
	// It is never logged and never part of an error. Default "".
	APIKey string
	// Model is the model name the endpoint knows. Required.
	Model string
	// HTTPClient carries the requests. Default: a client over a clone of
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Timeout bounds one attempt (a request and its answer). The task's
	// own deadline bounds the whole call anyway. Default 2 minutes, as local
	// models on a CPU can be slow.
	Timeout time.Duration
	// MaxRetries is how many times a connection error, 408, 409, 429 or 5xx
	// is retried by the SDK, with backoff and honouring Retry-After.
	// Default 2; a negative value disables retries.
	MaxRetries int
	// MaxRetryDelay caps the wait between retries. Default 8 seconds.
	MaxRetryDelay time.Duration
	// Structured decides whether response_format json_schema is sent when a
	// request carries a Schema. Default StructuredAuto.
	Structured StructuredMode
	// Temperature, when set, is sent with every request. Default: not sent
	// (the endpoint's default; some models accept only their default).
	Temperature *float64
}

// Role is who wrote a message.
type Role string

const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one message of a conversation.
type Message struct {
	Role    Role
	Content string
	// Images are JPEG pictures sent with a user message (a screenshot of
	// the page for vision models), as data: URLs.
	Images [][]byte
	// ToolCalls are the calls an assistant message made.
	ToolCalls []ToolCall
	// ToolCallID is the call a tool message answers.
	ToolCallID string
}

// ToolCall is one function call the model asked for.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is the JSON text the model wrote; it may be invalid.
	Arguments string
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments object.
	Parameters map[string]any
}

// Schema asks the endpoint to make the answer's content a JSON value
// matching a JSON Schema (response_format: json_schema).
type Schema struct {
	// Name identifies the schema to the endpoint ([a-zA-Z0-9_-], ≤ 64).
	Name string
	// Schema is the JSON Schema text.
	Schema json.RawMessage
	// Strict asks for exact enforcement. OpenAI's strict mode accepts a
	// subset of JSON Schema only, so callers' schemas are sent non-strict.
	Strict bool
}

// Request is one chat-completions call.
type Request struct {
	Messages []Message
	Tools    []Tool
	// Schema, when set, asks for a structured answer (see Config.Structured).
	Schema *Schema
}

// Usage is what the endpoint says a call consumed.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
}

// Response is the assistant's answer.
type Response struct {
	Message Message
	// FinishReason is "stop", "tool_calls", "length", "content_filter"…
	FinishReason string
	Usage        Usage
	// SchemaSent reports whether response_format was actually sent (false
	// when the request had no Schema or the endpoint does not support it).
	SchemaSent bool
}

// Error is a failed call: the endpoint could not be reached, did not answer
// in time, or answered with an error status. The agent turns it into the task
// code MODEL_ERROR.
type Error struct {
	// StatusCode is the HTTP status, 0 when there was no answer.
	StatusCode int
	// Message says what happened, without the key, URL or request.
	Message string
}

func (e *Error) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("model endpoint answered HTTP %d: %s", e.StatusCode, e.Message)
	}
	return "model endpoint: " + e.Message
}

// Client calls one model on one endpoint. It is safe for concurrent use.
type Client struct {
	svc      openai.ChatCompletionService
	model    string
	key      string
	mode     StructuredMode
	temp     *float64
	noSchema atomic.Bool // the endpoint refused response_format once
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("model: a model name is required")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not echoed: an operator may have put a key in it.
		return nil, errors.New("model: the model URL must be an absolute http or https URL")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		var rt http.RoundTripper = http.DefaultTransport
		if t, ok := rt.(*http.Transport); ok {
			rt = t.Clone()
		}
		hc = &http.Client{Transport: rt}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = 2
	case retries < 0:
		retries = 0
	}
	delay := cfg.MaxRetryDelay
	if delay <= 0 {
		delay = 8 * time.Second
	}
	mode := cfg.Structured
	switch mode {
	case "":
		mode = StructuredAuto
	case StructuredAuto, StructuredOn, StructuredOff:
	default:
		return nil, fmt.Errorf("model: structured output mode %q is not auto, on or off", mode)
	}
	// NewChatCompletionService rather than openai.NewClient: the client
	// would read OPENAI_API_KEY and OPENAI_BASE_URL from the environment and
	// could send an OpenAI key to a local server the operator configured
	// without one.
	opts := []option.RequestOption{
		option.WithBaseURL(strings.TrimSuffix(base, "/") + "/"),
		option.WithHTTPClient(hc),
		option.WithRequestTimeout(timeout),
		option.WithMaxRetries(retries),
		option.WithMaxRetryDelay(delay),
	}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	return &Client{
		svc:   openai.NewChatCompletionService(opts...),
		model: cfg.Model,
		key:   cfg.APIKey,
		mode:  mode,
		temp:  cfg.Temperature,
	}, nil
}

// Model is the configured model name.
func (c *Client) Model() string { return c.model }

// Complete sends one chat-completions request and returns the assistant's
// message. A failure is an *Error, or ctx's error when ctx ended first.
func (c *Client) Complete(ctx context.Context, req Request) (Response, error) {
	sendSchema := req.Schema != nil && c.mode != StructuredOff && !(c.mode == StructuredAuto && c.noSchema.Load())
	resp, err := c.call(ctx, req, sendSchema)
	if err != nil && sendSchema && c.mode == StructuredAuto && statusOf(err) == http.StatusBadRequest && ctx.Err() == nil {
		// The endpoint (an older llama.cpp or Ollama, a proxy) does not know
		// response_format json_schema: the caller validates the answer
		// anyway, so ask again without it and stop sending it.
		c.noSchema.Store(true)
		return c.call(ctx, req, false)
	}
	return resp, err
}

// SupportsSchema reports whether requests with a Schema are currently sent
// with response_format (false once auto-detection saw a refusal).
func (c *Client) SupportsSchema() bool {
	return c.mode == StructuredOn || (c.mode == StructuredAuto && !c.noSchema.Load())
}

func (c *Client) call(ctx context.Context, req Request, sendSchema bool) (Response, error) {
	params := openai.ChatCompletionNewParams{
		Model:    shared.ChatModel(c.model),
		Messages: make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages)),
	}
	for _, m := range req.Messages {
		params.Messages = append(params.Messages, toParam(m))
	}
	for _, t := range req.Tools {
		fd := shared.FunctionDefinitionParam{Name: t.Name, Parameters: shared.FunctionParameters(t.Parameters)}
		if t.Description != "" {
			fd.Description = param.NewOpt(t.Description)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(fd))
	}
	if c.temp != nil {
		params.Temperature = param.NewOpt(*c.temp)
	}
	if sendSchema {
		js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: req.Schema.Name, Schema: req.Schema.Schema}
		if req.Schema.Strict {
			js.Strict = param.NewOpt(true)
		}
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: js},
		}
	}

	cc, err := c.svc.New(ctx, params)
	if err != nil {
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		return Response{}, c.wrap(err)
	}
	if cc == nil || len(cc.Choices) == 0 {
		return Response{}, &Error{Message: "the answer has no choices"}
	}
	ch := cc.Choices[0]
	out := Response{
		Message:      Message{Role: RoleAssistant, Content: ch.Message.Content},
		FinishReason: ch.FinishReason,
		Usage:        Usage{PromptTokens: cc.Usage.PromptTokens, CompletionTokens: cc.Usage.CompletionTokens},
		SchemaSent:   sendSchema,
	}
	for _, tc := range ch.Message.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue // custom tools are never offered
		}
		out.Message.ToolCalls = append(out.Message.ToolCalls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	return out, nil
}

func toParam(m Message) openai.ChatCompletionMessageParamUnion {
	switch m.Role {
	case RoleSystem:
		return openai.SystemMessage(m.Content)
	case RoleTool:
		return openai.ToolMessage(m.Content, m.ToolCallID)
	case RoleAssistant:
		var a openai.ChatCompletionAssistantMessageParam
		if m.Content != "" || len(m.ToolCalls) == 0 {
			a.Content.OfString = param.NewOpt(m.Content)
		}
		for _, tc := range m.ToolCalls {
			a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID: tc.ID,
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
						Name: tc.Name, Arguments: tc.Arguments,
					},
				},
			})
		}
		return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}
	default:
		if len(m.Images) == 0 {
			return openai.UserMessage(m.Content)
		}
		parts := []openai.ChatCompletionContentPartUnionParam{openai.TextContentPart(m.Content)}
		for _, img := range m.Images {
			parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{
				URL: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(img),
			}))
		}
		return openai.UserMessage(parts)
	}
}

// wrap turns an SDK error into an *Error that names neither the key nor the
// URL: *url.Error carries the URL (which an operator may have put a key
// in), and an endpoint may echo a bad key back in its error message.
func (c *Client) wrap(err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if msg == "" {
			msg = http.StatusText(apiErr.StatusCode)
		}
		return &Error{StatusCode: apiErr.StatusCode, Message: c.redact(clip(msg, 300))}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		msg := "could not be reached: " + uerr.Err.Error()
		if uerr.Timeout() {
			msg = "did not answer in time"
		}
		return &Error{Message: c.redact(msg)}
	}
	return &Error{Message: c.redact(clip(err.Error(), 300))}
}

func (c *Client) redact(s string) string {
	if c.key != "" {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	return s
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
