package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// taskEvents streams a task's progress as Server-Sent Events: a "status"
// event when its status changes, a "step" event per agent step in order,
// then one "result" event with the answer polling would give, and the
// stream ends.
func (a *api) taskEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tenant, sid, tid := tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId")
	t, err := a.Engine.Task(ctx, tenant, sid, tid)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// A stream lasts as long as its task, past the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	w.WriteHeader(http.StatusOK)
	// Steps written on other nodes are found by polling.
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	lastPing := time.Now()
	sent, status := 0, task.Status("")
	for {
		changed, stop := a.Engine.Changes(tid)
		steps, err := a.Engine.Steps(ctx, t.ID)
		if err == nil {
			t, err = a.Engine.Task(ctx, tenant, sid, tid)
		}
		if err != nil {
			stop()
			return nil // the stream has started: end it
		}
		if t.Status != status && !t.Status.Final() && t.Status != task.StatusGuardrail {
			status = t.Status
			writeEvent(w, "status", "", map[string]any{"sessionId": sid, "taskId": tid, "status": status})
		}
		for _, s := range stepsView(steps[min(sent, len(steps)):]) {
			sent++
			writeEvent(w, "step", fmt.Sprint(sent), s)
		}
		if t.Status.Final() || t.Status == task.StatusGuardrail {
			stop()
			_, body := taskView(t)
			writeEvent(w, "result", "", body)
			rc.Flush()
			return nil
		}
		if time.Since(lastPing) > 15*time.Second {
			fmt.Fprint(w, ": keep-alive\n\n")
			lastPing = time.Now()
		}
		rc.Flush()
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-changed:
		case <-poll.C:
		}
		stop()
	}
}

func writeEvent(w http.ResponseWriter, event, id string, v any) {
	data, _ := json.Marshal(v)
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
}
