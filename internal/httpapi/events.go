package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/task"
)

// taskEvents streams a task's progress as Server-Sent Events: a "status"
// event when its status changes, a "step" event per agent step in order,
// then one "result" event with the answer polling would give, and the
// stream ends.
func (a *api) taskEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tenant, sid, tid := tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId")
	if _, err := a.Engine.Task(ctx, tenant, sid, tid); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// A stream lasts as long as its task, past the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	w.WriteHeader(http.StatusOK)
	lastPing := time.Now()
	sent, status := 0, task.Status("")
	t, err := a.Engine.Follow(ctx, engine.FollowParams{
		TenantID: tenant, SessionID: sid, TaskID: tid,
		Each: func(t task.Task, steps []task.Step) error {
			if t.Status != status && !t.Status.Final() && t.Status != task.StatusGuardrail {
				status = t.Status
				writeEvent(w, "status", "", map[string]any{"sessionId": sid, "taskId": tid, "status": status})
			}
			for _, s := range stepsView(steps) {
				sent++
				writeEvent(w, "step", fmt.Sprint(sent), s)
			}
			if time.Since(lastPing) > 15*time.Second {
				fmt.Fprint(w, ": keep-alive\n\n")
				lastPing = time.Now()
			}
			_ = rc.Flush()
			return nil
		},
	})
	if err != nil {
		return nil // the stream has started (or the client left): end it
	}
	_, body := taskView(t)
	writeEvent(w, "result", "", body)
	_ = rc.Flush()
	return nil
}

func writeEvent(w http.ResponseWriter, event, id string, v any) {
	data, _ := json.Marshal(v)
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
}
