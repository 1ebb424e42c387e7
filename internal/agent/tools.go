package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/extract"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/task"
)

// The tools the model acts through. Descriptions are short on purpose: they
// are sent with every request.
const (
	toolNavigate = "navigate"
	toolClick    = "click"
	toolType     = "type"
	toolSelect   = "select"
	toolPress    = "press_key"
	toolScroll   = "scroll"
	toolBack     = "back"
	toolWait     = "wait"
	toolExtract  = "extract"
	toolNote     = "note"
	toolAskHuman = "ask_human"
	toolDone     = "done"
	toolGiveUp   = "give_up"
)

// maxWait bounds the wait tool: a model asking for minutes would only burn
// the task's maxDuration.
const maxWait = 10 * time.Second

// maxExtractChars bounds what extract returns, so one long article does not
// blow the token budget.
const maxExtractChars = 12000

func obj(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }

func elementID() map[string]any {
	return map[string]any{"type": "integer", "description": "the element's number, e.g. 12 for [12]"}
}

// tools lists the tool definitions for a task answering in outputType.
// final leaves only done and give_up, for the last turn once the step
// limit is reached.
func tools(outputType task.OutputType, final bool) []model.Tool {
	answer := str("the result")
	switch outputType {
	case task.OutputJSON:
		answer = map[string]any{"description": "the JSON value (object or array) matching the output schema"}
	case task.OutputCSV:
		answer = str("the CSV text, header row first")
	}
	end := []model.Tool{
		{Name: toolDone, Description: "Finish the task with the answer.", Parameters: obj(map[string]any{"answer": answer}, "answer")},
		{Name: toolGiveUp, Description: "Stop: the task cannot be done. Say why.", Parameters: obj(map[string]any{"reason": str("why")}, "reason")},
	}
	if final {
		return end
	}
	return append([]model.Tool{
		{Name: toolNavigate, Description: "Open a URL.", Parameters: obj(map[string]any{"url": str("absolute URL")}, "url")},
		{Name: toolClick, Description: "Click an element.", Parameters: obj(map[string]any{"id": elementID()}, "id")},
		{Name: toolType, Description: "Replace an input's value with text; submit presses Enter after.", Parameters: obj(map[string]any{
			"id": elementID(), "text": str("text, or a secret placeholder such as {{password}}"), "submit": map[string]any{"type": "boolean"},
		}, "id", "text")},
		{Name: toolSelect, Description: "Choose an option of a select element.", Parameters: obj(map[string]any{"id": elementID(), "value": str("the option's value or label")}, "id", "value")},
		{Name: toolPress, Description: "Press a key (Enter, Escape, Tab, ArrowDown…).", Parameters: obj(map[string]any{"key": str("key name")}, "key")},
		{Name: toolScroll, Description: "Scroll the page.", Parameters: obj(map[string]any{
			"direction": map[string]any{"type": "string", "enum": []string{"up", "down"}},
			"pages":     map[string]any{"type": "number", "description": "default 1"},
		}, "direction")},
		{Name: toolBack, Description: "Go back to the previous page.", Parameters: obj(map[string]any{})},
		{Name: toolWait, Description: "Wait for the page to change (at most 10 s).", Parameters: obj(map[string]any{"seconds": map[string]any{"type": "number"}}, "seconds")},
		{Name: toolExtract, Description: "Read the whole page's main content as markdown.", Parameters: obj(map[string]any{})},
		{Name: toolNote, Description: "Save facts you need later (e.g. items collected so far); notes stay while old page views are dropped.", Parameters: obj(map[string]any{"text": str("the facts")}, "text")},
		{Name: toolAskHuman, Description: "Ask the user a question only they can answer; the task pauses until they reply.", Parameters: obj(map[string]any{"question": str("the question")}, "question")},
	}, end...)
}

// toolArgs are the arguments of every tool, decoded leniently: models send
// "12" for 12 and omit what has a default.
type toolArgs struct {
	URL       string          `json:"url"`
	ID        flexInt         `json:"id"`
	Text      string          `json:"text"`
	Submit    flexBool        `json:"submit"`
	Value     string          `json:"value"`
	Key       string          `json:"key"`
	Direction string          `json:"direction"`
	Pages     flexFloat       `json:"pages"`
	Seconds   flexFloat       `json:"seconds"`
	Question  string          `json:"question"`
	Reason    string          `json:"reason"`
	Answer    json.RawMessage `json:"answer"`
}

type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	var f flexFloat
	if err := f.UnmarshalJSON(b); err != nil {
		return err
	}
	*n = flexInt(f)
	return nil
}

type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case float64:
		*f = flexFloat(x)
	case string:
		var g float64
		if _, err := fmt.Sscan(strings.TrimSpace(strings.Trim(x, "[]")), &g); err != nil {
			return fmt.Errorf("%q is not a number", x)
		}
		*f = flexFloat(g)
	case nil:
	default:
		return fmt.Errorf("%s is not a number", b)
	}
	return nil
}

type flexBool bool

func (t *flexBool) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*t = flexBool(x)
	case string:
		*t = flexBool(strings.EqualFold(x, "true"))
	}
	return nil
}

// actResult is what one tool call did.
type actResult struct {
	// text goes back to the model as the tool's result (already masked).
	text string
	// err is recorded in the step (already masked), empty on success.
	err string
	// end, when set, ends the task with this outcome (Usage and Network
	// are filled in by the loop).
	end *task.Outcome
	// answer is done's answer, to be validated by the loop.
	answer *string
	// navigated marks an action that may have loaded another page and
	// succeeded.
	navigated bool
	// navFailure is the action's refused or failed navigation, kept for the
	// code of a task that ends without an answer.
	navFailure *NavigationError
	// keep marks a result worth keeping in full in later turns (a note).
	keep bool
	// notRun marks a call that was not run (it would have acted blind):
	// the page did not change, so the step has no screenshot.
	notRun bool
}

// act runs one tool call.
func (r *taskRun) act(ctx context.Context, call model.ToolCall) actResult {
	r.settleShot() // the last step's screenshot shows the page it left
	var a toolArgs
	if strings.TrimSpace(call.Arguments) != "" {
		if err := json.Unmarshal([]byte(call.Arguments), &a); err != nil {
			msg := "the arguments are not valid JSON for " + call.Name + ": " + err.Error()
			return actResult{text: "ERROR: " + msg, err: msg}
		}
	}
	tab := r.tab
	switch call.Name {
	case toolNavigate:
		u, err := normalizeURL(a.URL)
		if err != nil {
			return actResult{text: "ERROR: " + err.Error(), err: err.Error()}
		}
		return r.browserResult(tab.Navigate(ctx, u), true)
	case toolClick:
		return r.browserResult(tab.Click(ctx, int(a.ID)), true)
	case toolType:
		text, _, err := r.sec.fill(a.Text, tab.ElementURL(int(a.ID)))
		if err != nil {
			return actResult{text: err.Error(), err: err.Error()}
		}
		return r.browserResult(tab.Type(ctx, int(a.ID), text, bool(a.Submit)), bool(a.Submit))
	case toolSelect:
		return r.browserResult(tab.Select(ctx, int(a.ID), a.Value), false)
	case toolPress:
		if a.Key == "" {
			return actResult{text: "ERROR: key is required", err: "key is required"}
		}
		return r.browserResult(tab.Press(ctx, a.Key), a.Key == "Enter")
	case toolScroll:
		dir := strings.ToLower(a.Direction)
		if dir != "up" && dir != "down" {
			return actResult{text: `ERROR: direction must be "up" or "down"`, err: "bad direction"}
		}
		pages := float64(a.Pages)
		if pages <= 0 {
			pages = 1
		}
		return r.browserResult(tab.Scroll(ctx, dir, pages), false)
	case toolBack:
		return r.browserResult(tab.Back(ctx), true)
	case toolWait:
		d := time.Duration(float64(a.Seconds) * float64(time.Second))
		if d <= 0 {
			d = time.Second
		}
		d = min(d, maxWait)
		return r.browserResult(tab.Wait(ctx, d), false)
	case toolExtract:
		return r.extract(ctx)
	case toolNote:
		if strings.TrimSpace(a.Text) == "" {
			return actResult{text: "ERROR: text is required", err: "text is required"}
		}
		r.notes = append(r.notes, r.sec.mask(clip(a.Text, 4000)))
		return actResult{text: "noted", keep: true}
	case toolAskHuman:
		q := strings.TrimSpace(a.Question)
		if q == "" {
			return actResult{text: "ERROR: question is required", err: "question is required"}
		}
		return actResult{text: "asked", end: &task.Outcome{Question: r.sec.mask(q)}}
	case toolDone:
		ans := answerText(a.Answer)
		return actResult{text: "checking the answer", answer: &ans}
	case toolGiveUp:
		return actResult{text: "stopping", end: r.giveUp(a.Reason)}
	}
	msg := fmt.Sprintf("there is no tool %q", call.Name)
	return actResult{text: "ERROR: " + msg, err: msg}
}

// browserResult turns what a browser action returned into the tool's
// result. A refused or failed navigation is a result the model can act on;
// a broken browser ends the task.
func (r *taskRun) browserResult(err error, navigates bool) actResult {
	if err == nil {
		return actResult{text: "ok", navigated: navigates}
	}
	msg := r.sec.mask(err.Error())
	var nav *NavigationError
	switch code := failureCode(err); {
	case code == task.CodeBrowserError:
		return actResult{err: msg, end: &task.Outcome{Code: code, Error: "the browser failed: " + msg}}
	case errors.As(err, &nav) && nav.Blocked:
		return actResult{text: code + ": " + msg + " (this site is off limits; find another way or give up)", err: msg, navFailure: nav}
	case errors.As(err, &nav):
		return actResult{text: code + ": " + msg, err: msg, navFailure: nav}
	}
	return actResult{text: "ERROR: " + msg, err: msg}
}

// failureCode is the one mapping from the browser's errors to task codes:
// a refused or failed navigation gives its own code (NAVIGATION_BLOCKED or
// NAVIGATION_TIMEOUT), a crashed or hung browser BROWSER_ERROR, anything
// else "".
func failureCode(err error) string {
	var nav *NavigationError
	var be *BrowserError
	switch {
	case errors.As(err, &be):
		return task.CodeBrowserError
	case errors.As(err, &nav):
		return nav.Code()
	}
	return ""
}

func (r *taskRun) extract(ctx context.Context) actResult {
	pageURL, html, err := r.tab.Page(ctx)
	if err != nil {
		return r.browserResult(err, false)
	}
	res, err := extract.Extract(extract.Page{URL: pageURL, HTML: html}, extract.Request{Type: task.OutputText})
	if err != nil {
		msg := r.sec.mask(err.Error())
		return actResult{text: "ERROR: " + msg, err: msg}
	}
	md := r.sec.mask(res.Message)
	if len(md) > maxExtractChars {
		md = clip(md, maxExtractChars) + "\n(content cut here)"
	}
	return actResult{text: md}
}

// giveUp ends the task without an answer; the code says why as precisely as
// the agent knows.
func (r *taskRun) giveUp(reason string) *task.Outcome {
	reason = r.sec.mask(strings.TrimSpace(reason))
	if reason == "" {
		reason = "no reason given"
	}
	if f := r.navFailure; f != nil {
		why := "the page needed did not load"
		if f.Blocked {
			why = "the page needed is blocked by the network policy or avoidDomains"
		}
		return &task.Outcome{Code: f.Code(), Error: why + "; the agent gave up: " + reason}
	}
	return &task.Outcome{Code: task.CodeOutputInvalid, Error: "the agent could not do the task: " + reason}
}

// answerText reads done's answer: models send the JSON value itself or a
// string holding it; both are accepted.
func answerText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// normalizeURL accepts what models write ("example.com/x") and refuses
// schemes a browser must not be driven to (file:, javascript:, chrome:).
func normalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("url is required")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("only http and https URLs can be opened, not %s URLs", u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	return u.String(), nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
