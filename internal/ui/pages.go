package ui

import (
	"context"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

// pageSize is how many rows a listing shows at once.
const pageSize = 50

// auth is the logged-in person of a request.
type auth struct {
	login  login
	tenant string
}

// page is what every page template gets.
type page struct {
	Title string
	// Nav names the menu entry to mark current: tasks, sessions or
	// monitors; empty on pages outside the menu (login, errors).
	Nav string
	// Monitors: the monitors pages are served (a menu entry).
	Monitors bool
	CSRF     string
	// Message is an error or a notice shown above the content.
	Message string
	Data    any
}

func (u *ui) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	mux.Handle("GET /ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/tasks", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /ui/login", u.loginPage)
	mux.HandleFunc("POST /ui/login", u.loginSubmit)
	mux.HandleFunc("POST /ui/logout", u.authed(u.logout))
	mux.HandleFunc("GET /ui/tasks", u.authed(u.tasks))
	mux.HandleFunc("GET /ui/sessions", u.authed(u.sessions))
	mux.HandleFunc("GET /ui/sessions/{sessionId}", u.authed(u.session))
	mux.HandleFunc("GET /ui/tasks/{sessionId}/{taskId}", u.authed(u.task))
	mux.HandleFunc("GET /ui/tasks/{sessionId}/{taskId}/parts/{part}", u.authed(u.taskPart))
	mux.HandleFunc("GET /ui/tasks/{sessionId}/{taskId}/screenshots/{index}", u.authed(u.screenshot))
	mux.HandleFunc("GET /ui/tasks/{sessionId}/{taskId}/trace.zip", u.authed(u.traceZip))
	mux.HandleFunc("GET /ui/tasks/{sessionId}/{taskId}/files/{fileId}", u.authed(u.file))
	mux.HandleFunc("GET /ui/tasks/{sessionId}/{taskId}/events", u.authed(u.events))
	mux.HandleFunc("POST /ui/tasks/{sessionId}/{taskId}/redeliver", u.authed(u.redeliver))
	mux.HandleFunc("GET /ui/monitors", u.authed(u.monitors))
	mux.HandleFunc("GET /ui/monitors/{monitorId}", u.authed(u.monitor))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", Message: "There is no such page."})
	})
}

// wantsHTMLPage reports whether a request is a page load (a redirect to
// the login makes sense) rather than a script's fetch.
func wantsHTMLPage(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("X-Requested-With") == "" && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// authed runs h for a logged-in request whose key is still valid, with the
// CSRF token checked on actions.
func (u *ui) authed(h func(w http.ResponseWriter, r *http.Request, a auth)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l, err := u.loginOf(r)
		var tenant string
		if err == nil {
			tenant, err = u.keys.Tenant(r.Context(), l.Key)
			if err != nil && !errors.Is(err, httpapi.ErrInvalidKey) {
				u.log.ErrorContext(r.Context(), "ui: the store cannot check the key", "err", err)
				u.render(w, r, http.StatusServiceUnavailable, "error", page{Title: "Unavailable", Message: "The store is unavailable; try again in a moment."})
				return
			}
			if err != nil {
				u.endLogin(w, r) // the key is no longer accepted
			}
		}
		if err != nil {
			if wantsHTMLPage(r) {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			u.render(w, r, http.StatusUnauthorized, "error", page{Title: "Logged out", Message: "You are not logged in (or your login expired). Log in again."})
			return
		}
		if r.Method == http.MethodPost && !csrfOK(r, l.CSRF) {
			u.render(w, r, http.StatusForbidden, "error", page{Title: "Refused", CSRF: l.CSRF,
				Message: "This action was refused: it did not carry this dashboard's CSRF token. Reload the page and try again."})
			return
		}
		h(w, r, auth{login: l, tenant: tenant})
	}
}

// safeNext is where to go after logging in: a dashboard path only.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/ui/login") {
		return "/ui/tasks"
	}
	return next
}

type loginData struct {
	Next string
}

func (u *ui) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := u.loginOf(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	tok := u.loginFormToken(w, r)
	u.render(w, r, http.StatusOK, "login", page{Title: "Log in", CSRF: tok, Data: loginData{Next: safeNext(r.URL.Query().Get("next"))}})
}

func (u *ui) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	next := safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(loginCookie)
	if err != nil || !csrfOK(r, c.Value) {
		tok := u.loginFormToken(w, r)
		u.render(w, r, http.StatusForbidden, "login", page{Title: "Log in", CSRF: tok, Data: loginData{Next: next},
			Message: "The login form was refused: it did not carry this dashboard's CSRF token. Try again."})
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	_, err = u.keys.Tenant(r.Context(), key)
	switch {
	case errors.Is(err, httpapi.ErrInvalidKey):
		u.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", CSRF: c.Value, Data: loginData{Next: next},
			Message: "That API key is not valid."})
		return
	case err != nil:
		u.log.ErrorContext(r.Context(), "ui: the store cannot check the key", "err", err)
		u.render(w, r, http.StatusServiceUnavailable, "login", page{Title: "Log in", CSRF: c.Value, Data: loginData{Next: next},
			Message: "The store is unavailable; try again in a moment."})
		return
	}
	u.startLogin(w, r, key)
	u.setCookie(w, r, loginCookie, "", -1)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request, a auth) {
	u.endLogin(w, r)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// cursor reads a listing's "after" parameter: unix milliseconds and id.
func cursor(v string) store.Page {
	p := store.Page{Limit: pageSize}
	at, id, ok := strings.Cut(v, "~")
	if !ok {
		return p
	}
	msec, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return p
	}
	p.AfterAt, p.AfterID = time.UnixMilli(msec).UTC(), id
	return p
}

// nextPage is the link to a listing's next page; its query is encoded
// here, so the template may trust it.
func nextPage(path string, q url.Values) template.URL {
	return template.URL(path + "?" + q.Encode())
}

func cursorOf(at time.Time, id string) string {
	return strconv.FormatInt(at.UnixMilli(), 10) + "~" + id
}

// statuses are the task statuses a listing filters by, in menu order.
var statuses = []task.Status{task.StatusQueued, task.StatusRunning, task.StatusGuardrail, task.StatusCompleted, task.StatusFailed, task.StatusCancelled}

type tasksData struct {
	Status   string
	Query    string
	Statuses []task.Status
	Tasks    []task.Task
	// Next is the link to the next page, when there may be one.
	Next template.URL
	// Session is set on a session's page.
	Session *engine.SessionSummary
}

func (u *ui) tasks(w http.ResponseWriter, r *http.Request, a auth) {
	q := r.URL.Query()
	status := task.Status(q.Get("status"))
	if !slices.Contains(statuses, status) {
		status = ""
	}
	query := strings.TrimSpace(q.Get("q"))
	list, err := u.eng.Tasks(r.Context(), store.TaskFilter{TenantID: a.tenant, Status: status, Query: query, Page: cursor(q.Get("after"))})
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	d := tasksData{Status: string(status), Query: query, Statuses: statuses, Tasks: list}
	if len(list) == pageSize {
		last := list[len(list)-1]
		d.Next = nextPage("/ui/tasks", url.Values{"status": {string(status)}, "q": {query}, "after": {cursorOf(last.CreatedAt, last.ID)}})
	}
	u.render(w, r, http.StatusOK, "tasks", page{Title: "Tasks", Nav: "tasks", CSRF: a.login.CSRF, Data: d})
}

var sessionStates = []task.SessionState{task.SessionActive, task.SessionPaused, task.SessionTerminated}

type sessionsData struct {
	State    string
	Query    string
	States   []task.SessionState
	Sessions []engine.SessionSummary
	Next     template.URL
}

func (u *ui) sessions(w http.ResponseWriter, r *http.Request, a auth) {
	q := r.URL.Query()
	state := task.SessionState(q.Get("state"))
	if !slices.Contains(sessionStates, state) {
		state = ""
	}
	query := strings.TrimSpace(q.Get("q"))
	list, err := u.eng.Sessions(r.Context(), store.SessionFilter{TenantID: a.tenant, State: state, Query: query, Page: cursor(q.Get("after"))})
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	d := sessionsData{State: string(state), Query: query, States: sessionStates, Sessions: list}
	if len(list) == pageSize {
		last := list[len(list)-1]
		d.Next = nextPage("/ui/sessions", url.Values{"state": {string(state)}, "q": {query}, "after": {cursorOf(last.CreatedAt, last.ID)}})
	}
	u.render(w, r, http.StatusOK, "sessions", page{Title: "Sessions", Nav: "sessions", CSRF: a.login.CSRF, Data: d})
}

func (u *ui) session(w http.ResponseWriter, r *http.Request, a auth) {
	sid := r.PathValue("sessionId")
	found, err := u.eng.Sessions(r.Context(), store.SessionFilter{TenantID: a.tenant, Query: sid, Page: store.Page{Limit: 5}})
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	i := slices.IndexFunc(found, func(s engine.SessionSummary) bool { return s.ID == sid })
	if i < 0 {
		u.fail(w, r, a, engine.ErrSessionNotFound)
		return
	}
	q := r.URL.Query()
	list, err := u.eng.Tasks(r.Context(), store.TaskFilter{TenantID: a.tenant, SessionID: sid, Page: cursor(q.Get("after"))})
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	d := tasksData{Tasks: list, Session: &found[i]}
	if len(list) == pageSize {
		last := list[len(list)-1]
		d.Next = nextPage("/ui/sessions/"+url.PathEscape(sid), url.Values{"after": {cursorOf(last.CreatedAt, last.ID)}})
	}
	u.render(w, r, http.StatusOK, "session", page{Title: "Session " + sid, Nav: "sessions", CSRF: a.login.CSRF, Data: d})
}

// taskData is what the task page and its parts show.
type taskData struct {
	// Base is the task page's path; parts, screenshots and actions are
	// under it.
	Base  string
	Trace trace.View
	// Files are what a completed task downloaded, in order.
	Files      []task.File
	Deliveries []engine.DeliveryLog
	// Attempts counts every delivery attempt, for the page's script to see
	// a new one arrive.
	Attempts int
	Live     bool
}

func (u *ui) loadTask(ctx context.Context, a auth, sid, tid string) (taskData, error) {
	base := "/ui/tasks/" + url.PathEscape(sid) + "/" + url.PathEscape(tid)
	v, err := u.eng.Trace(ctx, a.tenant, sid, tid, func(i int) string { return base + "/screenshots/" + strconv.Itoa(i) })
	if err != nil {
		return taskData{}, err
	}
	t, err := u.eng.Task(ctx, a.tenant, sid, tid)
	if err != nil {
		return taskData{}, err
	}
	ds, err := u.eng.Deliveries(ctx, a.tenant, sid, tid)
	if err != nil {
		return taskData{}, err
	}
	d := taskData{Base: base, Trace: v, Files: t.Files, Deliveries: ds, Live: !v.Status.Final() && v.Status != task.StatusGuardrail}
	for _, x := range ds {
		d.Attempts += len(x.Attempts)
	}
	return d, nil
}

func (u *ui) task(w http.ResponseWriter, r *http.Request, a auth) {
	d, err := u.loadTask(r.Context(), a, r.PathValue("sessionId"), r.PathValue("taskId"))
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	u.render(w, r, http.StatusOK, "task", page{Title: "Task " + d.Trace.TaskID, Nav: "tasks", CSRF: a.login.CSRF, Data: d})
}

// parts are the pieces of the task page a script redraws.
var parts = []string{"summary", "answer", "steps", "deliveries"}

func (u *ui) taskPart(w http.ResponseWriter, r *http.Request, a auth) {
	part := r.PathValue("part")
	if !slices.Contains(parts, part) {
		http.NotFound(w, r)
		return
	}
	d, err := u.loadTask(r.Context(), a, r.PathValue("sessionId"), r.PathValue("taskId"))
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	u.render(w, r, http.StatusOK, "part-"+part, page{CSRF: a.login.CSRF, Data: d})
}

func (u *ui) screenshot(w http.ResponseWriter, r *http.Request, a auth) {
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	img, err := u.eng.Screenshot(r.Context(), a.tenant, r.PathValue("sessionId"), r.PathValue("taskId"), index)
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	httpapi.ServeScreenshot(w, img)
}

func (u *ui) traceZip(w http.ResponseWriter, r *http.Request, a auth) {
	ctx := r.Context()
	sid, tid := r.PathValue("sessionId"), r.PathValue("taskId")
	v, err := u.eng.Trace(ctx, a.tenant, sid, tid, func(i int) string { return httpapi.ShotPath(sid, tid, i) })
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="trace-`+tid+`.zip"`)
	err = trace.WriteZip(ctx, w, v, func(ctx context.Context, i int) ([]byte, error) {
		return u.eng.Screenshot(ctx, a.tenant, sid, tid, i)
	})
	if err != nil {
		u.log.WarnContext(ctx, "ui: trace export cut short", "taskId", tid, "err", err)
	}
}

// file serves a file the task downloaded, as the API does, to the
// logged-in tenant only.
func (u *ui) file(w http.ResponseWriter, r *http.Request, a auth) {
	f, body, err := u.eng.File(r.Context(), a.tenant, r.PathValue("sessionId"), r.PathValue("taskId"), r.PathValue("fileId"))
	if err != nil {
		u.fail(w, r, a, err)
		return
	}
	defer body.Close()
	httpapi.ServeFile(w, r, f, body)
}

// events relays the API's event stream of the task, with the login's key.
func (u *ui) events(w http.ResponseWriter, r *http.Request, a auth) {
	api := r.Clone(r.Context())
	api.URL = &url.URL{Path: "/task/" + r.PathValue("sessionId") + "/" + r.PathValue("taskId") + "/events"}
	api.RequestURI = api.URL.Path
	api.Header = http.Header{"Authorization": {"Bearer " + a.login.Key}, "Accept": {"text/event-stream"}}
	u.api.ServeHTTP(w, api)
}

func (u *ui) redeliver(w http.ResponseWriter, r *http.Request, a auth) {
	sid, tid := r.PathValue("sessionId"), r.PathValue("taskId")
	_, err := u.eng.Redeliver(r.Context(), a.tenant, sid, tid, "")
	script := r.Header.Get("X-CSRF-Token") != ""
	switch {
	case err != nil:
		u.fail(w, r, a, err)
	case script:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Redirect(w, r, "/ui/tasks/"+url.PathEscape(sid)+"/"+url.PathEscape(tid)+"#deliveries", http.StatusSeeOther)
	}
}

// fail answers an error as a page: not found for unknown (or another
// tenant's) ids, a conflict for a redelivery with nothing to send, else a
// 500 that only the log explains.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, a auth, err error) {
	p := page{CSRF: a.login.CSRF}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, engine.ErrTaskNotFound), errors.Is(err, engine.ErrSessionNotFound):
		status, p.Title, p.Message = http.StatusNotFound, "Not found", "There is no such task or session for this API key."
	case errors.Is(err, engine.ErrFileNotFound):
		status, p.Title, p.Message = http.StatusNotFound, "Not found", "This task has no such file."
	case errors.Is(err, engine.ErrScreenshotNotFound):
		status, p.Title, p.Message = http.StatusNotFound, "Not found", "This step has no screenshot."
	case errors.Is(err, engine.ErrNoFinalEvent):
		status, p.Title, p.Message = http.StatusConflict, "Nothing to redeliver", "This task has no webhook delivery to send again."
	case errors.Is(err, context.Canceled):
		return
	default:
		u.log.ErrorContext(r.Context(), "ui: request failed", "path", r.URL.Path, "err", err)
		p.Title, p.Message = "Error", "Something went wrong; the server's log says what."
	}
	u.render(w, r, status, "error", p)
}
