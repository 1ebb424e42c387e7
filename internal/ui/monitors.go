package ui

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/monitor/runner"
)

type monitorsData struct {
	Monitors []monitor.Monitor
	Next     template.URL
}

// monitors lists the tenant's monitors, oldest first (the Runner's order).
func (u *ui) monitors(w http.ResponseWriter, r *http.Request, a auth) {
	if u.mons == nil {
		u.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", CSRF: a.login.CSRF, Message: "Monitors are not served here."})
		return
	}
	pg, err := u.mons.List(r.Context(), runner.ListParams{TenantID: a.tenant, Cursor: r.URL.Query().Get("cursor"), Limit: pageSize})
	if err != nil {
		u.failMonitor(w, r, a, err)
		return
	}
	d := monitorsData{Monitors: pg.Monitors}
	if pg.Next != "" {
		d.Next = nextPage("/ui/monitors", url.Values{"cursor": {pg.Next}})
	}
	u.render(w, r, http.StatusOK, "monitors", page{Title: "Monitors", Nav: "monitors", CSRF: a.login.CSRF, Data: d})
}

type monitorData struct {
	Monitor monitor.Monitor
	Runs    []monitor.Run
	Next    template.URL
}

// monitor shows a monitor and its runs, newest first: each run's status,
// whether it changed, its changes and fired rules, and its task.
func (u *ui) monitor(w http.ResponseWriter, r *http.Request, a auth) {
	if u.mons == nil {
		u.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", CSRF: a.login.CSRF, Message: "Monitors are not served here."})
		return
	}
	id := r.PathValue("monitorId")
	m, err := u.mons.Get(r.Context(), a.tenant, id)
	if err != nil {
		u.failMonitor(w, r, a, err)
		return
	}
	runs, err := u.mons.Runs(r.Context(), runner.RunsParams{TenantID: a.tenant, MonitorID: id, Cursor: r.URL.Query().Get("cursor"), Limit: pageSize})
	if err != nil {
		u.failMonitor(w, r, a, err)
		return
	}
	d := monitorData{Monitor: m, Runs: runs.Runs}
	if runs.Next != "" {
		d.Next = nextPage("/ui/monitors/"+url.PathEscape(id), url.Values{"cursor": {runs.Next}})
	}
	u.render(w, r, http.StatusOK, "monitor", page{Title: "Monitor " + m.Name, Nav: "monitors", CSRF: a.login.CSRF, Data: d})
}

// failMonitor answers the monitor room's errors as pages.
func (u *ui) failMonitor(w http.ResponseWriter, r *http.Request, a auth, err error) {
	switch {
	case errors.Is(err, runner.ErrNotFound):
		u.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", CSRF: a.login.CSRF, Message: "There is no such monitor for this API key."})
	case errors.Is(err, runner.ErrBadCursor):
		u.render(w, r, http.StatusBadRequest, "error", page{Title: "Bad page", CSRF: a.login.CSRF, Message: "That page link is not one this server gave."})
	default:
		u.fail(w, r, a, err)
	}
}
