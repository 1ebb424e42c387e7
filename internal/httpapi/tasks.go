package httpapi

import (
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
	probs := problems{}
	root := newObject("", body, probs)
	if mode, ok := root.str("mode"); ok && mode != "default" {
		probs.add("/mode", `must be "default"`)
	}
	var spec *task.Spec
	if it, ok := root.object("initialTask"); ok {
		spec = a.decodeTask(it, modeInitial)
	}
	if err := probs.err(); err != nil {
		return err
	}
	s, t, err := a.Engine.StartSession(r.Context(), tenantOf(r), spec)
	if err != nil {
		return err
	}
	resp := map[string]any{
		"success":   true,
		"sessionId": s.ID,
		"expiresIn": int(a.Engine.SessionIdle().Seconds()),
		"message":   "Session started",
	}
	if t != nil {
		resp["taskId"] = t.ID
		resp["message"] = "Session started; the initial task is queued"
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *api) runTask(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	probs := problems{}
	spec := a.decodeTask(newObject("", body, probs), modeRunTask)
	if err := probs.err(); err != nil {
		return err
	}
	t, err := a.Engine.RunTask(r.Context(), tenantOf(r), *spec)
	if err != nil {
		return err
	}
	return a.answerTask(w, r, t)
}

func (a *api) sendMessage(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	probs := problems{}
	root := newObject("", body, probs)
	sessionID, _ := root.requiredStr("sessionId")
	root.limit("sessionId", sessionID, maxIDLen)
	msg, ok := root.object("message")
	if !ok {
		if !root.has("message") {
			probs.add("/message", "is required")
		}
		return probs.err()
	}
	action, _ := msg.requiredStr("actionType")
	switch action {
	case "newTask":
		spec := a.decodeTask(msg, modeMessage)
		if err := probs.err(); err != nil {
			return err
		}
		t, err := a.Engine.NewTask(r.Context(), tenantOf(r), sessionID, *spec)
		if err != nil {
			return err
		}
		return a.answerTask(w, r, t)
	case "state":
		st, ok := msg.requiredStr("newState")
		if ok && st != "pause" && st != "resume" && st != "stop" && st != "terminate" {
			probs.add("/message/newState", "must be one of pause, resume, stop, terminate")
		}
		if err := probs.err(); err != nil {
			return err
		}
		if err := a.Engine.SetState(r.Context(), tenantOf(r), sessionID, st); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return engine.ErrSessionExpired
			}
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "sessionId": sessionID, "message": stateMessage[st]})
		return nil
	case "guardrail":
		answer, _ := msg.requiredStr("taskDetails")
		msg.limit("taskDetails", answer, maxDetailsLen)
		if st, ok := msg.str("newState"); ok && st != "resume" {
			probs.add("/message/newState", `must be "resume"`)
		}
		if err := probs.err(); err != nil {
			return err
		}
		t, err := a.Engine.AnswerGuardrail(r.Context(), tenantOf(r), sessionID, answer)
		if err != nil {
			return err
		}
		t.Status = task.StatusQueued
		return a.answerTask(w, r, t)
	case "interaction":
		probs.add("/message/actionType", "interaction is not supported: errand has no live view")
		return probs.err()
	case "":
		return probs.err()
	default:
		probs.add("/message/actionType", "must be one of newTask, state, guardrail, interaction")
		return probs.err()
	}
}

var stateMessage = map[string]string{
	"pause":     "Session paused",
	"resume":    "Session resumed",
	"stop":      "Running task stopped",
	"terminate": "Session terminated",
}

// answerTask answers a newly queued task: its result if it ends within the
// inline wait, else pending with a pollUrl.
func (a *api) answerTask(w http.ResponseWriter, r *http.Request, t task.Task) error {
	cur, settled, err := a.Engine.Wait(r.Context(), t, a.InlineWait)
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

// TaskAnswer is a task as the API shows it when polled (docs/API.md), for
// callers outside the HTTP server such as `errand run`.
func TaskAnswer(t task.Task) map[string]any {
	_, body := taskView(t)
	return body
}
