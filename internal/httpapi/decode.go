package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

// problems collects field problems by JSON pointer.
type problems map[string]string

func (p problems) add(ptr, reason string) {
	if _, ok := p[ptr]; !ok {
		p[ptr] = reason
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return invalid(p)
}

// object reads the fields of one JSON object, recording a problem at the
// field's pointer when one has the wrong type. Unknown fields are ignored
// (docs/API.md).
type object struct {
	ptr    string
	fields map[string]json.RawMessage
	probs  problems
}

func newObject(ptr string, fields map[string]json.RawMessage, probs problems) object {
	return object{ptr: ptr, fields: fields, probs: probs}
}

func (o object) at(name string) string {
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
	return o.ptr + "/" + name
}

// raw returns the field if present and not null.
func (o object) raw(name string) (json.RawMessage, bool) {
	v, ok := o.fields[name]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, false
	}
	return v, true
}

func (o object) has(name string) bool { _, ok := o.raw(name); return ok }

func (o object) str(name string) (string, bool) {
	v, ok := o.raw(name)
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		o.probs.add(o.at(name), "must be a string")
		return "", false
	}
	return s, true
}

func (o object) requiredStr(name string) (string, bool) {
	s, ok := o.str(name)
	if !ok {
		if !o.has(name) {
			o.probs.add(o.at(name), "is required")
		}
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		o.probs.add(o.at(name), "must not be empty")
		return "", false
	}
	return s, true
}

func (o object) boolean(name string) (bool, bool) {
	v, ok := o.raw(name)
	if !ok {
		return false, false
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		o.probs.add(o.at(name), "must be a boolean")
		return false, false
	}
	return b, true
}

// integer reads a whole number within [lo, hi].
func (o object) integer(name string, lo, hi int64) (int64, bool) {
	v, ok := o.raw(name)
	if !ok {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		o.probs.add(o.at(name), "must be an integer")
		return 0, false
	}
	if f != math.Trunc(f) {
		o.probs.add(o.at(name), "must be an integer")
		return 0, false
	}
	if f < float64(lo) || f > float64(hi) {
		o.probs.add(o.at(name), fmt.Sprintf("must be between %d and %d", lo, hi))
		return 0, false
	}
	return int64(f), true
}

func (o object) strings(name string) ([]string, bool) {
	v, ok := o.raw(name)
	if !ok {
		return nil, false
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		o.probs.add(o.at(name), "must be an array of strings")
		return nil, false
	}
	return ss, true
}

func (o object) object(name string) (object, bool) {
	v, ok := o.raw(name)
	if !ok {
		return object{}, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil || m == nil {
		o.probs.add(o.at(name), "must be an object")
		return object{}, false
	}
	return newObject(o.at(name), m, o.probs), true
}

// Limits on task fields.
const (
	maxDurationLimit = 24 * time.Hour
	maxTokensLimit   = 100_000_000
	maxSettleTimeout = time.Minute
)

// taskMode says where a task object comes from.
type taskMode int

const (
	modeInitial taskMode = iota // start-session's initialTask: may be empty
	modeMessage                 // send-message newTask
	modeRunTask                 // run-task: startingUrl accepted too
)

// decodeTask validates a task object. It returns nil (and no problem) for
// an initialTask whose taskDetails is empty: an idle session.
func (a *api) decodeTask(o object, mode taskMode) *task.Spec {
	details, ok := o.str("taskDetails")
	if !ok && !o.has("taskDetails") && mode != modeInitial {
		o.probs.add(o.at("taskDetails"), "is required")
	}
	if ok && strings.TrimSpace(details) == "" && mode != modeInitial {
		o.probs.add(o.at("taskDetails"), "must not be empty")
	}
	o.limit("taskDetails", details, maxDetailsLen)
	spec := task.Spec{
		TaskDetails:     details,
		MaxDuration:     task.DefaultMaxDuration,
		MaxInputTokens:  task.DefaultMaxTokens,
		MaxOutputTokens: task.DefaultMaxTokens,
		OutputType:      task.OutputText,
	}

	startField := "startingPoint"
	if mode == modeRunTask && !o.has("startingPoint") && o.has("startingUrl") {
		startField = "startingUrl"
	}
	if sp, ok := o.str(startField); ok {
		if o.limit(startField, sp, maxURLLen) {
			if reason := a.checkPageURL(sp); reason != "" {
				o.probs.add(o.at(startField), reason)
			}
		}
		spec.StartingPoint = sp
	}
	if ms, ok := o.integer("maxDuration", 1, maxDurationLimit.Milliseconds()); ok {
		spec.MaxDuration = time.Duration(ms) * time.Millisecond
	}
	if n, ok := o.integer("maxInputTokens", 1, maxTokensLimit); ok {
		spec.MaxInputTokens = int(n)
	}
	if n, ok := o.integer("maxOutputTokens", 1, maxTokensLimit); ok {
		spec.MaxOutputTokens = int(n)
	}
	if ms, ok := o.integer("settleTimeout", 1, maxSettleTimeout.Milliseconds()); ok {
		spec.SettleTimeout = time.Duration(ms) * time.Millisecond
	}
	if ds, ok := o.strings("avoidDomains"); ok {
		if len(ds) > maxDomains {
			o.probs.add(o.at("avoidDomains"), fmt.Sprintf("must have at most %d entries", maxDomains))
			ds = nil
		}
		for i, d := range ds {
			d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
			if len(d) > maxDomainLen {
				o.probs.add(fmt.Sprintf("%s/%d", o.at("avoidDomains"), i), fmt.Sprintf("must be at most %d characters", maxDomainLen))
				continue
			}
			if d == "" || strings.ContainsAny(d, "/:@ ") {
				o.probs.add(fmt.Sprintf("%s/%d", o.at("avoidDomains"), i), "must be a domain name such as example.com")
				continue
			}
			spec.AvoidDomains = append(spec.AvoidDomains, d)
		}
	}
	if b, ok := o.boolean("terminateOnCompletion"); ok {
		spec.TerminateOnCompletion = b
	}
	if name, ok := o.str("recipe"); ok {
		if !recipe.ValidName(name) {
			o.probs.add(o.at("recipe"), recipeNameRule)
		}
		spec.Recipe = name
	}
	if m, ok := o.str("replay"); ok {
		switch mode := task.ReplayMode(m); mode {
		case task.ReplayAuto, task.ReplayOff, task.ReplayRequire:
			spec.Replay = mode
		default:
			o.probs.add(o.at("replay"), "must be one of auto, off, require")
		}
	}
	if ot, ok := o.str("outputType"); ok {
		switch ot {
		case "text", "structured_json", "structured_csv":
			spec.OutputType = task.OutputType(ot)
		case "structured":
			spec.OutputType = task.OutputJSON
		default:
			o.probs.add(o.at("outputType"), "must be one of text, structured_json, structured_csv (structured is structured_json)")
		}
	}
	a.decodeSchema(o, &spec)
	if wo, ok := o.object("webhook"); ok {
		spec.Webhook = a.decodeWebhook(wo, taskEvents)
	}
	spec.Secrets = decodeSecrets(o)
	if mode == modeInitial && strings.TrimSpace(details) == "" {
		return nil
	}
	a.checkRunnable(o, &spec, startField)
	return &spec
}

// checkRunnable refuses, at submission, what is already known to fail:
// what the configured agent cannot run (the built-in extractor without a
// startingPoint), and a startingPoint the task's own avoidDomains forbid.
func (a *api) checkRunnable(o object, spec *task.Spec, startField string) {
	if a.Engine != nil {
		for _, p := range a.Engine.Capabilities().Refusals(*spec) {
			field := p.Field
			if field == "startingPoint" {
				field = startField
			}
			o.probs.add(o.at(field), p.Reason)
		}
	}
	if spec.StartingPoint == "" || len(spec.AvoidDomains) == 0 {
		return
	}
	if u, err := url.Parse(spec.StartingPoint); err == nil && netguard.NewDomainMatcher(spec.AvoidDomains).Match(u.Hostname()) {
		o.probs.add(o.at(startField), "is on a domain the task's avoidDomains forbid: the task could not load it")
	}
}

func (a *api) decodeSchema(o object, spec *task.Spec) {
	raw, ok := o.raw("outputSchema")
	switch spec.OutputType {
	case task.OutputJSON:
		if !ok {
			o.probs.add(o.at("outputSchema"), "is required when outputType is structured_json")
			return
		}
		if _, err := output.CompileSchema(raw); err != nil {
			o.probs.add(o.at("outputSchema"), err.Error())
			return
		}
	case task.OutputCSV:
		if !ok {
			o.probs.add(o.at("outputSchema"), "is required when outputType is structured_csv (an array of column names)")
			return
		}
		if _, err := output.ParseColumns(raw); err != nil {
			o.probs.add(o.at("outputSchema"), err.Error())
			return
		}
	default:
		return // a schema is meaningless for text: ignored
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err == nil {
		spec.OutputSchema = buf.Bytes()
	}
}

// taskEvents are the events a task's webhook may subscribe to.
var taskEvents = []task.Event{task.EventCompleted, task.EventFailed, task.EventGuardrail}

// decodeWebhook reads a webhook object whose events may be among allowed.
func (a *api) decodeWebhook(o object, allowed []task.Event) *task.Webhook {
	wh := &task.Webhook{}
	if name, ok := o.requiredStr("name"); ok && o.limit("name", name, maxNameLen) {
		if reason := textProblem(name); reason != "" {
			o.probs.add(o.at("name"), reason)
		}
		wh.Name = name
	}
	if u, ok := o.requiredStr("url"); ok {
		if o.limit("url", u, maxURLLen) {
			if err := a.Policy.CheckWebhookURL(u); err != nil {
				o.probs.add(o.at("url"), err.Error())
			}
		}
		wh.URL = u
	}
	if auth, ok := o.str("auth"); ok {
		if o.limit("auth", auth, maxAuthLen) {
			if reason := headerValueProblem(auth); reason != "" {
				o.probs.add(o.at("auth"), reason)
			}
		}
		wh.Auth = auth
	}
	if sd, ok := o.requiredStr("submittedData"); ok {
		switch task.SubmittedData(sd) {
		case task.SubmitAIResponse, task.SubmitFullResponse, task.SubmitJustPing:
			wh.SubmittedData = task.SubmittedData(sd)
		default:
			o.probs.add(o.at("submittedData"), "must be one of ai_response, full_response, just_ping")
		}
	}
	if evs, ok := o.strings("events"); ok {
		names := make([]string, len(allowed))
		for i, ev := range allowed {
			names[i] = string(ev)
		}
		for i, ev := range evs {
			if !slices.Contains(allowed, task.Event(ev)) {
				o.probs.add(fmt.Sprintf("%s/%d", o.at("events"), i), "must be one of "+strings.Join(names, ", "))
				continue
			}
			wh.Events = append(wh.Events, task.Event(ev))
		}
	}
	wh.MaxAttempts = 1
	if n, ok := o.integer("maxAttempts", 1, 20); ok {
		wh.MaxAttempts = int(n)
	}
	if secret, ok := o.str("secret"); ok && o.limit("secret", secret, maxSigningLen) {
		// Several space-separated secrets sign with each (rotation).
		secrets := strings.Fields(secret)
		if len(secrets) == 0 {
			o.probs.add(o.at("secret"), "must not be empty")
		}
		for _, sec := range secrets {
			if _, err := webhook.ParseSecret(sec); err != nil {
				o.probs.add(o.at("secret"), err.Error())
				break
			}
		}
		wh.Secret = secret
	}
	return wh
}

// checkPageURL is the submission check of a page URL: an absolute http(s)
// URL, whose host is not an address the network policy refuses (an IP
// literal in a refused range, or localhost while loopback is refused). A
// host name is judged when the page loads, after DNS resolution; a refusal
// then fails the task with NAVIGATION_BLOCKED.
func (a *api) checkPageURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "must be an absolute http or https URL"
	}
	if a.Policy != nil {
		if err := a.Policy.CheckPageURL(raw); err != nil {
			return err.Error()
		}
	}
	return ""
}

var secretFieldName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// decodeSecrets reads `secrets: [{match, fields: {name: value}}]`. Problems
// name the field, never a value.
func decodeSecrets(o object) []task.Secret {
	raw, ok := o.raw("secrets")
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		o.probs.add(o.at("secrets"), "must be an array of {match, fields}")
		return nil
	}
	if len(items) > maxSecrets {
		o.probs.add(o.at("secrets"), fmt.Sprintf("must have at most %d entries", maxSecrets))
		return nil
	}
	var out []task.Secret
	for i, item := range items {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(item, &fields); err != nil || fields == nil {
			o.probs.add(fmt.Sprintf("%s/%d", o.at("secrets"), i), "must be an object {match, fields}")
			continue
		}
		so := newObject(fmt.Sprintf("%s/%d", o.at("secrets"), i), fields, o.probs)
		sec := task.Secret{Fields: map[string]string{}}
		if m, ok := so.requiredStr("match"); ok && so.limit("match", m, maxDomainLen) {
			sec.Match = m
		}
		fo, ok := so.object("fields")
		if !ok {
			if !so.has("fields") {
				o.probs.add(so.at("fields"), "is required")
			}
			continue
		}
		if len(fo.fields) == 0 {
			o.probs.add(so.at("fields"), "must name at least one value")
		}
		for name := range fo.fields {
			if !secretFieldName.MatchString(name) {
				o.probs.add(fo.at(name), "must be a name of letters, digits, '_', '.' or '-'")
				continue
			}
			var v string
			if err := json.Unmarshal(fo.fields[name], &v); err != nil {
				o.probs.add(fo.at(name), "must be a string")
				continue
			}
			if fo.limit(name, v, maxSecretValueLen) && task.IsTOTP(v) {
				// A seed that does not parse would only fail when typed:
				// refused now, naming the field, never quoting the value.
				if _, err := task.ParseTOTP(v); err != nil {
					o.probs.add(fo.at(name), err.Error())
				}
			}
			sec.Fields[name] = v
		}
		out = append(out, sec)
	}
	return out
}
