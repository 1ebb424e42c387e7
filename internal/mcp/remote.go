package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/errandhq/errand/internal/httpapi"
)

// Remote is an errand reached over its HTTP API (docs/API.md) with an API
// key: the tools act as that key's tenant, and the server checks every
// request as it checks any other.
type Remote struct {
	// URL is the errand's base URL, e.g. http://127.0.0.1:8080. Required.
	URL string
	// Key is the API key, sent as a bearer token. Required.
	Key string
	// Client sends the requests. Default http.DefaultClient (each request
	// is bounded by its context; an event stream lasts as long as its
	// task).
	Client *http.Client
}

var _ Errand = Remote{}

// RunTask implements Errand.
func (r Remote) RunTask(ctx context.Context, _ string, body Body) (Ref, error) {
	a, err := r.call(ctx, "POST", "/start/run-task", body)
	if err != nil {
		return Ref{}, err
	}
	ref, ok := refOf(a)
	if !ok {
		return Ref{}, fmt.Errorf("errand's run-task answer names no task")
	}
	return ref, nil
}

// StartSession implements Errand.
func (r Remote) StartSession(ctx context.Context, _ string, body Body) (Answer, *Ref, error) {
	a, err := r.call(ctx, "POST", "/start/start-session", body)
	if err != nil {
		return nil, nil, err
	}
	if ref, ok := refOf(a); ok {
		return a, &ref, nil
	}
	return a, nil, nil
}

// SendMessage implements Errand.
func (r Remote) SendMessage(ctx context.Context, _ string, body Body) (Answer, *Ref, error) {
	a, err := r.call(ctx, "POST", "/start/send-message", body)
	if err != nil {
		return nil, nil, err
	}
	if ref, ok := refOf(a); ok {
		return nil, &ref, nil
	}
	return a, nil, nil
}

// Task implements Errand. Polling gives the step log of a task still
// running; the event stream gives it for any task, and ends at once for one
// that has ended.
func (r Remote) Task(ctx context.Context, _ string, ref Ref) (Answer, error) {
	a, err := r.call(ctx, "GET", taskPath(ref), nil)
	if err != nil || a["steps"] != nil {
		return a, err
	}
	steps := []Step{}
	final, err := r.Follow(ctx, "", ref, Watch{Step: func(s Step) { steps = append(steps, s) }})
	if err != nil {
		return nil, err
	}
	final["steps"] = steps
	return final, nil
}

// Follow implements Errand over the task's event stream.
func (r Remote) Follow(ctx context.Context, _ string, ref Ref, w Watch) (Answer, error) {
	resp, err := r.send(ctx, "GET", taskPath(ref)+"/events", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var result Answer
	err = readEvents(resp.Body, func(event string, data []byte) error {
		switch event {
		case "status":
			var st struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(data, &st); err != nil {
				return fmt.Errorf("errand's event stream: status: %w", err)
			}
			w.status(st.Status)
		case "step":
			var s Step
			if err := json.Unmarshal(data, &s); err != nil {
				return fmt.Errorf("errand's event stream: step: %w", err)
			}
			w.step(s)
		case "result":
			return json.Unmarshal(data, &result)
		}
		return nil
	})
	if result != nil {
		return result, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err == nil {
		err = errors.New("errand's event stream ended without the task's result")
	}
	return nil, err
}

// Cancel implements Errand.
func (r Remote) Cancel(ctx context.Context, _ string, ref Ref) error {
	_, err := r.call(ctx, "POST", taskPath(ref)+"/cancel", nil)
	return err
}

// Tasks implements Errand.
func (r Remote) Tasks(ctx context.Context, _ string, q url.Values) (Answer, error) {
	return r.call(ctx, "GET", withQuery("/tasks", q), nil)
}

// CreateMonitor implements Errand.
func (r Remote) CreateMonitor(ctx context.Context, _ string, body Body) (Answer, error) {
	return r.call(ctx, "POST", "/monitors", body)
}

// ListMonitors implements Errand.
func (r Remote) ListMonitors(ctx context.Context, _ string, q url.Values) (Answer, error) {
	return r.call(ctx, "GET", withQuery("/monitors", q), nil)
}

// MonitorRuns implements Errand.
func (r Remote) MonitorRuns(ctx context.Context, _ string, id string, q url.Values) (Answer, error) {
	return r.call(ctx, "GET", withQuery("/monitors/"+url.PathEscape(id)+"/runs", q), nil)
}

// DeleteMonitor implements Errand.
func (r Remote) DeleteMonitor(ctx context.Context, _ string, id string) (Answer, error) {
	return r.call(ctx, "DELETE", "/monitors/"+url.PathEscape(id), nil)
}

func withQuery(path string, q url.Values) string {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

func taskPath(ref Ref) string {
	return "/task/" + url.PathEscape(ref.SessionID) + "/" + url.PathEscape(ref.TaskID)
}

// call sends a request and reads its JSON answer; an error answer becomes
// the *httpapi.Error it says.
func (r Remote) call(ctx context.Context, method, path string, body any) (Answer, error) {
	resp, err := r.send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var a Answer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("errand answered %s %s with %s, not a JSON object", method, path, resp.Status)
	}
	return a, nil
}

// send sends a request with the key, asking not to be kept waiting for a
// task (the tools wait themselves, showing progress). An answer that is
// not a success is returned as its error.
func (r Remote) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(r.URL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.Key)
	req.Header.Set("Prefer", "respond-async")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The request's error names the URL, never the key.
		return nil, &httpapi.Error{Status: http.StatusBadGateway, Code: "UNAVAILABLE", Message: fmt.Sprintf("cannot reach errand: %v", err)}
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error   string            `json:"error"`
		Code    string            `json:"code"`
		Details map[string]string `json:"details"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e); err != nil || e.Code == "" {
		return nil, &httpapi.Error{Status: resp.StatusCode, Code: "UNAVAILABLE", Message: fmt.Sprintf("errand answered %s %s with %s", method, path, resp.Status)}
	}
	return nil, &httpapi.Error{Status: resp.StatusCode, Code: e.Code, Message: e.Error, Details: e.Details}
}

// readEvents reads a Server-Sent Events stream, calling fn with each
// event's name and data, until the stream ends or fn fails.
func readEvents(r io.Reader, fn func(event string, data []byte) error) error {
	br := bufio.NewReader(r)
	var event string
	var data bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && err == nil:
			if data.Len() > 0 || event != "" {
				if ferr := fn(event, bytes.TrimSuffix(data.Bytes(), []byte("\n"))); ferr != nil {
					return ferr
				}
			}
			event = ""
			data.Reset()
		case strings.HasPrefix(line, ":"): // a comment (keep-alive)
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			data.WriteByte('\n')
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
