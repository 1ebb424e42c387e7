package httpapi

import (
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/errandhq/errand/internal/task"
)

// getFile streams a file a task downloaded (ServeFile).
func (a *api) getFile(w http.ResponseWriter, r *http.Request) error {
	f, rc, err := a.Engine.File(r.Context(), tenantOf(r), r.PathValue("sessionId"), r.PathValue("taskId"), r.PathValue("fileId"))
	if err != nil {
		return err
	}
	defer rc.Close()
	ServeFile(w, r, f, rc)
	return nil
}

// ServeFile writes a file a task downloaded, as it was saved: its media
// type, its name as an attachment. The bytes are the page's, so they are
// never rendered as errand's own: nosniff, a sandboxing CSP and
// Content-Disposition: attachment. The dashboard serves files with it too.
func ServeFile(w http.ResponseWriter, r *http.Request, f task.File, body io.Reader) {
	typ := f.Type
	if _, _, err := mime.ParseMediaType(typ); err != nil || typ == "" {
		typ = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": f.Name})
	if disposition == "" {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// Headers are sent: a failure past here can only cut the body short,
	// which the client sees against Content-Length.
	_, _ = io.Copy(w, body)
}

// deleteTask deletes an ended task with its result, step log, deliveries
// and files.
func (a *api) deleteTask(w http.ResponseWriter, r *http.Request) error {
	sid, tid := r.PathValue("sessionId"), r.PathValue("taskId")
	if err := a.Engine.DeleteTask(r.Context(), tenantOf(r), sid, tid); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "sessionId": sid, "taskId": tid, "deleted": true})
	return nil
}
