package httpapi

import (
	"context"
	"encoding/base64"
	"github.com/errandhq/errand/internal/engine"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

// maxListLimit is the most rows one page of a listing holds (the store's
// cap).
const maxListLimit = 500

// listDetailsLen is how much of a task's taskDetails a listing shows.
const listDetailsLen = 200

// listTasks answers GET /tasks: the caller's tasks, newest first, a page
// at a time, optionally of one session or in one status.
func (a *api) listTasks(w http.ResponseWriter, r *http.Request) error {
	body, err := ListTasks(r.Context(), a.Engine, tenantOf(r), r.URL.Query())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// ListTasks is GET /tasks's answer for the tenant and the query
// (sessionId, status, limit, cursor).
func ListTasks(ctx context.Context, eng *engine.Engine, tenantID string, q url.Values) (map[string]any, error) {
	f := store.TaskFilter{TenantID: tenantID, SessionID: q.Get("sessionId")}
	if s := q.Get("status"); s != "" {
		switch st := task.Status(s); st {
		case task.StatusQueued, task.StatusRunning, task.StatusGuardrail, task.StatusCompleted, task.StatusFailed, task.StatusCancelled:
			f.Status = st
		default:
			return nil, errorf(http.StatusBadRequest, "INVALID_REQUEST", "status must be one of queued, running, guardrail_trigger, completed, failed, cancelled")
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			return nil, errorf(http.StatusBadRequest, "INVALID_REQUEST", "limit must be a whole number from 1 to %d", maxListLimit)
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		at, id, ok := decodeCursor(c)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "INVALID_REQUEST", "cursor is not a cursor this server gave")
		}
		f.AfterAt, f.AfterID = at, id
	}
	list, err := eng.Tasks(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(list))
	for _, t := range list {
		out = append(out, taskListView(t))
	}
	body := map[string]any{"success": true, "tasks": out}
	if len(list) == f.PageLimit() {
		last := list[len(list)-1]
		body["nextCursor"] = encodeCursor(last.CreatedAt, last.ID)
	}
	return body, nil
}

// taskListView is a task as a listing shows it: enough to choose one and
// poll it.
func taskListView(t task.Task) map[string]any {
	details := t.Spec.TaskDetails
	if utf8.RuneCountInString(details) > listDetailsLen {
		details = string([]rune(details)[:listDetailsLen]) + "…"
	}
	v := map[string]any{
		"sessionId": t.SessionID, "taskId": t.ID, "status": string(t.Status),
		"taskDetails": details, "createdAt": webhook.FormatTime(t.CreatedAt),
	}
	if t.Spec.StartingPoint != "" {
		v["startingPoint"] = t.Spec.StartingPoint
	}
	if !t.EndedAt.IsZero() {
		v["endedAt"] = webhook.FormatTime(t.EndedAt)
	}
	if t.ErrorCode != "" {
		v["code"] = t.ErrorCode
	}
	return v
}

// A cursor is where a page ended: its last row's creation time and id,
// opaque to clients.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + id))
}

func decodeCursor(c string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	us, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}
