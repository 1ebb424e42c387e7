package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/trace"
)

// ShotPath is the API path of step index's screenshot of a task's trace.
func ShotPath(sessionID, taskID string, index int) string {
	return fmt.Sprintf("/task/%s/%s/trace/screenshots/%d", sessionID, taskID, index)
}

// getTrace answers a task's trace: its steps, each with its action and
// arguments (secrets as placeholders), URL, tokens and cost, time, and its
// screenshot's URL; the answer and its validation.
func (a *api) getTrace(w http.ResponseWriter, r *http.Request) error {
	sid, tid := r.PathValue("sessionId"), r.PathValue("taskId")
	v, err := a.Engine.Trace(r.Context(), tenantOf(r), sid, tid, func(i int) string { return ShotPath(sid, tid, i) })
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
		trace.View
	}{true, v})
	return nil
}

// getTraceZip answers a task's trace as a zip: trace.json and the
// screenshots.
func (a *api) getTraceZip(w http.ResponseWriter, r *http.Request) error {
	ctx, tenant := r.Context(), tenantOf(r)
	sid, tid := r.PathValue("sessionId"), r.PathValue("taskId")
	v, err := a.Engine.Trace(ctx, tenant, sid, tid, func(i int) string { return ShotPath(sid, tid, i) })
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="trace-`+tid+`.zip"`)
	// The archive is written as it is read: once it has started, a failure
	// can only cut it short (the client sees a broken zip).
	err = trace.WriteZip(ctx, w, v, func(ctx context.Context, i int) ([]byte, error) {
		return a.Engine.Screenshot(ctx, tenant, sid, tid, i)
	})
	if err != nil {
		a.Logger.WarnContext(ctx, "trace export cut short", "taskId", tid, "err", err)
	}
	return nil
}

// getScreenshot answers one step's screenshot, as image/jpeg.
func (a *api) getScreenshot(w http.ResponseWriter, r *http.Request) error {
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || index < 1 {
		return engine.ErrScreenshotNotFound // steps are numbered from 1
	}
	img, err := a.Engine.Screenshot(r.Context(), tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId"), index)
	if err != nil {
		return err
	}
	ServeScreenshot(w, img)
	return nil
}

// ServeScreenshot writes a screenshot: a JPEG that does not change, and is
// only for who asked (its answer depends on the key or the login).
func ServeScreenshot(w http.ResponseWriter, img []byte) {
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(img)
}

// screenshotError maps the engine's missing screenshot.
func screenshotError(err error) *Error {
	if errors.Is(err, engine.ErrScreenshotNotFound) {
		return errorf(http.StatusNotFound, "SCREENSHOT_NOT_FOUND", "this step has no screenshot (none was taken, the trace retention removed it, or there is no such step)")
	}
	return nil
}
