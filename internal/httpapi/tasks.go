package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

func (a *api) startSession(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	spec, err := a.decodeStartSession(body)
	if err != nil {
		return err
	}
	s, t, err := a.Engine.StartSession(r.Context(), tenantOf(r), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, StartedAnswer(s, t, a.Engine.SessionIdle()))
	return nil
}

// StartedAnswer is start-session's answer: the session, and its initial
// task if one was queued. idle is the engine's session idle time.
func StartedAnswer(s task.Session, t *task.Task, idle time.Duration) map[string]any {
	resp := map[string]any{
		"success":   true,
		"sessionId": s.ID,
		"expiresIn": int(idle.Seconds()),
		"message":   "Session started",
	}
	if t != nil {
		resp["taskId"] = t.ID
		resp["message"] = "Session started; the initial task is queued"
	}
	return resp
}

// decodeStartSession reads a start-session body: its initial task, or nil
// for an idle session.
func (a *api) decodeStartSession(body map[string]json.RawMessage) (*task.Spec, error) {
	probs := problems{}
	root := newObject("", body, probs)
	if mode, ok := root.str("mode"); ok && mode != "default" {
		probs.add("/mode", `must be "default"`)
	}
	var spec *task.Spec
	if it, ok := root.object("initialTask"); ok {
		spec = a.decodeTask(it, modeInitial)
	}
	return spec, probs.err()
}

func (a *api) runTask(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	spec, err := a.decodeRunTask(body)
	if err != nil {
		return err
	}
	t, err := a.Engine.RunTask(r.Context(), tenantOf(r), spec)
	if err != nil {
		return err
	}
	return a.answerTask(w, r, t)
}

func (a *api) decodeRunTask(body map[string]json.RawMessage) (task.Spec, error) {
	probs := problems{}
	spec := a.decodeTask(newObject("", body, probs), modeRunTask)
	if err := probs.err(); err != nil {
		return task.Spec{}, err
	}
	return *spec, nil
}

func (a *api) sendMessage(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	m, err := a.decodeMessage(body)
	if err != nil {
		return err
	}
	t, err := m.Send(r.Context(), a.Engine, tenantOf(r))
	if err != nil {
		return err
	}
	if t != nil {
		return a.answerTask(w, r, *t)
	}
	writeJSON(w, http.StatusOK, StateAnswer(m))
	return nil
}

// StateAnswer is send-message's answer to a state message.
func StateAnswer(m Message) map[string]any {
	return map[string]any{"success": true, "sessionId": m.SessionID, "message": stateMessage[m.NewState]}
}

// Message is a send-message body, read and checked.
type Message struct {
	SessionID string
	// Action is newTask, state or guardrail.
	Action string
	// Task is a newTask message's task.
	Task task.Spec
	// NewState is a state message's: pause, resume, stop or terminate.
	NewState string
	// Answer is a guardrail message's answer to the waiting task.
	Answer string
}

func (a *api) decodeMessage(body map[string]json.RawMessage) (Message, error) {
	probs := problems{}
	root := newObject("", body, probs)
	sessionID, _ := root.requiredStr("sessionId")
	root.limit("sessionId", sessionID, maxIDLen)
	m := Message{SessionID: sessionID}
	msg, ok := root.object("message")
	if !ok {
		if !root.has("message") {
			probs.add("/message", "is required")
		}
		return m, probs.err()
	}
	m.Action, _ = msg.requiredStr("actionType")
	switch m.Action {
	case "newTask":
		if spec := a.decodeTask(msg, modeMessage); spec != nil {
			m.Task = *spec
		}
	case "state":
		st, ok := msg.requiredStr("newState")
		if ok && st != "pause" && st != "resume" && st != "stop" && st != "terminate" {
			probs.add("/message/newState", "must be one of pause, resume, stop, terminate")
		}
		m.NewState = st
	case "guardrail":
		m.Answer, _ = msg.requiredStr("taskDetails")
		msg.limit("taskDetails", m.Answer, maxDetailsLen)
		if st, ok := msg.str("newState"); ok && st != "resume" {
			probs.add("/message/newState", `must be "resume"`)
		}
	case "interaction":
		probs.add("/message/actionType", "interaction is not supported: errand has no live view")
	case "":
	default:
		probs.add("/message/actionType", "must be one of newTask, state, guardrail, interaction")
	}
	return m, probs.err()
}

// Send carries out the message for the tenant. A newTask message returns
// the task it queued, a guardrail answer the task it resumed (queued
// again); a state message returns no task.
func (m Message) Send(ctx context.Context, eng *engine.Engine, tenantID string) (*task.Task, error) {
	switch m.Action {
	case "newTask":
		t, err := eng.NewTask(ctx, tenantID, m.SessionID, m.Task)
		if err != nil {
			return nil, err
		}
		return &t, nil
	case "guardrail":
		t, err := eng.AnswerGuardrail(ctx, tenantID, m.SessionID, m.Answer)
		if err != nil {
			return nil, err
		}
		t.Status = task.StatusQueued
		return &t, nil
	}
	err := eng.SetState(ctx, tenantID, m.SessionID, m.NewState)
	if errors.Is(err, store.ErrConflict) {
		return nil, engine.ErrSessionExpired
	}
	return nil, err
}

var stateMessage = map[string]string{
	"pause":     "Session paused",
	"resume":    "Session resumed",
	"stop":      "Running task stopped",
	"terminate": "Session terminated",
}

// answerTask answers a newly queued task: its result if it ends within the
// inline wait, else pending with a pollUrl. A client that asks
// "Prefer: respond-async" (RFC 7240) is answered pending at once.
func (a *api) answerTask(w http.ResponseWriter, r *http.Request, t task.Task) error {
	wait := a.InlineWait
	if preferAsync(r) {
		wait = 0
		w.Header().Set("Preference-Applied", "respond-async")
	}
	cur, settled, err := a.Engine.Wait(r.Context(), t, wait)
	if err != nil {
		return err
	}
	if settled {
		status, body := taskView(cur)
		writeJSON(w, status, body)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success":   true,
		"sessionId": t.SessionID,
		"taskId":    t.ID,
		"status":    "pending",
		"pollUrl":   pollURL(r, t),
	})
	return nil
}

// preferAsync reports whether the request asks to be answered without
// waiting for its task (Prefer: respond-async).
func preferAsync(r *http.Request) bool {
	for _, h := range r.Header.Values("Prefer") {
		for pref := range strings.SplitSeq(h, ",") {
			name, _, _ := strings.Cut(pref, "=")
			if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
				return true
			}
		}
	}
	return false
}

// cancelTask answers POST /task/{sessionId}/{taskId}/cancel: the task
// stops whatever its place in its session (send-message's stop stops only
// the running one), and the answer, given once it has ended or after the
// inline wait, says its status. A task that had ended is left as it was.
func (a *api) cancelTask(w http.ResponseWriter, r *http.Request) error {
	t, err := a.Engine.CancelTask(r.Context(), tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId"))
	if err != nil {
		return err
	}
	msg := "The task had already ended"
	if !t.Status.Final() {
		// A queued task is cancelled now, a running one once its run stops.
		cur, settled, err := a.Engine.Wait(r.Context(), t, max(a.InlineWait, time.Millisecond))
		if err != nil {
			return err
		}
		t, msg = cur, "Task cancelled"
		if !settled {
			msg = "Cancellation requested; the task is stopping"
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success": true, "sessionId": t.SessionID, "taskId": t.ID, "status": string(t.Status), "message": msg,
	})
	return nil
}

func pollURL(r *http.Request, t task.Task) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/task/" + t.SessionID + "/" + t.ID
}

func (a *api) getTask(w http.ResponseWriter, r *http.Request) error {
	t, err := a.Engine.Task(r.Context(), tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId"))
	if err != nil {
		return err
	}
	status, body := taskView(t)
	if !t.Status.Final() && t.Status != task.StatusGuardrail {
		steps, err := a.Engine.Steps(r.Context(), t.ID)
		if err != nil {
			return err
		}
		body["steps"] = stepsView(steps)
	}
	writeJSON(w, status, body)
	return nil
}

// usageView is the usage object of polling answers.
func usageView(u task.Usage) map[string]any {
	return map[string]any{
		"prompt_tokens":     u.InputTokens,
		"completion_tokens": u.OutputTokens,
		"total_tokens":      u.InputTokens + u.OutputTokens,
		"completion_time":   u.ComputeTime,
		"cost":              u.Cost,
	}
}

// taskView is a task as polling shows it (docs/API.md).
func taskView(t task.Task) (int, map[string]any) {
	base := map[string]any{"sessionId": t.SessionID, "taskId": t.ID}
	switch t.Status {
	case task.StatusCompleted:
		urls := make([]map[string]any, 0, len(t.Network))
		for _, n := range t.Network {
			urls = append(urls, map[string]any{"url": n.URL, "timestamp": webhook.FormatTime(n.Timestamp)})
		}
		base["success"] = true
		base["type"] = "task_completed"
		files := make([]map[string]any, 0, len(t.Files))
		for _, f := range t.Files {
			files = append(files, map[string]any{"id": f.ID, "name": f.Name, "type": f.Type, "size": f.Size, "url": webhook.FilePath(t, f.ID)})
		}
		base["data"] = map[string]any{
			"message": t.Message,
			"files":   files,
			"network": []any{map[string]any{"id": "net_" + strings.TrimPrefix(t.ID, "task_"), "taskId": t.ID, "urls": urls}},
		}
		base["usage"] = usageView(t.Usage)
		base["completedAt"] = webhook.FormatTime(t.EndedAt)
	case task.StatusGuardrail:
		base["success"] = true
		base["type"] = "guardrail_trigger"
		base["data"] = map[string]any{"type": "human_input_needed", "value": t.Question}
	case task.StatusFailed, task.StatusCancelled:
		base["success"] = false
		base["status"] = string(t.Status)
		base["error"] = t.ErrorMessage
		base["code"] = t.ErrorCode
		base["usage"] = usageView(t.Usage)
	default:
		base["success"] = true
		base["status"] = string(t.Status)
		base["usage"] = usageView(t.Usage)
	}
	return http.StatusOK, base
}

func stepsView(steps []task.Step) []map[string]any {
	out := make([]map[string]any, 0, len(steps))
	for _, s := range steps {
		v := map[string]any{
			"n": s.N, "action": s.Action, "inputTokens": s.InputTokens, "outputTokens": s.OutputTokens,
			"durationMs": s.DurationMs, "at": webhook.FormatTime(s.At),
		}
		if len(s.Args) > 0 {
			v["args"] = json.RawMessage(s.Args)
		}
		if s.URL != "" {
			v["url"] = s.URL
		}
		if s.Error != "" {
			v["error"] = s.Error
		}
		out = append(out, v)
	}
	return out
}

func (a *api) getDeliveries(w http.ResponseWriter, r *http.Request) error {
	atts, err := a.Engine.Attempts(r.Context(), tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId"))
	if err != nil {
		return err
	}
	list := make([]map[string]any, 0, len(atts))
	for _, at := range atts {
		v := map[string]any{
			"id": at.DeliveryID, "event": at.Event, "attempt": at.Attempt, "url": webhook.RedactURL(at.URL),
			"statusCode": at.StatusCode, "durationMs": at.DurationMs, "error": at.Error,
			"responseSnippet": at.ResponseSnippet, "at": webhook.FormatTime(at.At),
		}
		list = append(list, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success": true, "sessionId": r.PathValue("sessionId"), "taskId": r.PathValue("taskId"), "deliveries": list,
	})
	return nil
}

func (a *api) redeliver(w http.ResponseWriter, r *http.Request) error {
	newURL := ""
	if r.ContentLength != 0 {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		probs := problems{}
		root := newObject("", body, probs)
		if u, ok := root.str("url"); ok && root.limit("url", u, maxURLLen) {
			if err := a.Policy.CheckWebhookURL(u); err != nil {
				probs.add("/url", err.Error())
			}
			newURL = u
		}
		if err := probs.err(); err != nil {
			return err
		}
	}
	d, err := a.Engine.Redeliver(r.Context(), tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId"), newURL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success": true, "id": d.ID, "event": d.Event, "url": webhook.RedactURL(d.URL),
		"message": "Redelivery queued", "queuedAt": webhook.FormatTime(time.Now()),
	})
	return nil
}
