// Package runner is the shell around package monitor's decisions: it keeps
// monitors in the store for the API (create, read, update, delete, run now,
// history), starts their due runs on every node as ordinary tasks of each
// monitor's own session, and settles each run's end for the engine — the
// change decision, the monitor's new state and the notifications it owes,
// committed in the same transaction as the task's end (nothing lost,
// nothing sent twice).
//
// The HTTP API, the dashboard and the MCP server all call the same Runner
// methods; the engine calls Memo when a monitor's run starts and Settle
// when it ends (engine.MonitorHooks).
//
// What a monitor keeps sealed at rest with the secrets key (package seal),
// each blob bound to the monitor and to its role: the task's secrets, the
// webhook's credentials (auth, signing secret, URL userinfo, the same
// scheme as a task's webhook) and the browser storage (cookies, local
// storage) its last run left, so that a login is done once and survives
// restarts and moves between nodes. A run's notifications carry the
// credentials sealed for the run's task, as a task's own do.
package runner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// Errors the API maps to its codes.
var (
	ErrNotFound = errors.New("monitor not found")
	// ErrRunning: a run of the monitor is still going.
	ErrRunning = errors.New("a run of this monitor is still going")
	// ErrBadCursor: a page cursor that this server did not give.
	ErrBadCursor = errors.New("invalid cursor")
)

// Problems is a request's field problems, each named by its JSON Pointer
// in the request body; nothing was stored.
type Problems []*monitor.FieldError

func (p Problems) Error() string {
	parts := make([]string, len(p))
	for i, f := range p {
		parts[i] = f.Error()
	}
	return "invalid monitor: " + strings.Join(parts, "; ")
}

// Defaults of Config.
const (
	DefaultPoll     = 250 * time.Millisecond
	DefaultBatch    = 200
	DefaultKeepRuns = 1000
)

// Config is what a Runner needs.
type Config struct {
	// Store keeps monitors and runs their tasks. Required.
	Store store.Store
	// Secrets seals what a monitor keeps at rest; the engine's key, the
	// same on every node. Required.
	Secrets *seal.Box
	// MinInterval is the shortest time between two runs a schedule may
	// ask for. Default monitor.DefaultMinInterval (1 minute).
	MinInterval time.Duration
	// Poll is the longest the scheduler sleeps between two looks for due
	// monitors (it wakes sooner when the next monitor is due sooner): how
	// soon it sees a monitor another node made due. Default 250ms.
	Poll time.Duration
	// Batch caps the monitors claimed in one transaction. Default 200.
	Batch int
	// KeepRuns is how many runs of each monitor the history keeps.
	// Default 1000.
	KeepRuns int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the scheduler's errors. Default: discard.
	Logger *slog.Logger
}

// Runner keeps, schedules and settles monitors.
type Runner struct {
	cfg Config
	st  store.Store
	box *seal.Box
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex
	schedules map[string]monitor.Schedule // by schedule and zone, parsed once

	stop chan struct{}
	done chan struct{}
}

// New makes a Runner; Start starts its scheduler.
func New(cfg Config) *Runner {
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = monitor.DefaultMinInterval
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.KeepRuns <= 0 {
		cfg.KeepRuns = DefaultKeepRuns
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{
		cfg: cfg, st: cfg.Store, box: cfg.Secrets, log: cfg.Logger,
		now:       func() time.Time { return cfg.Now().UTC() },
		schedules: map[string]monitor.Schedule{},
	}
}

// MinInterval is the shortest interval a schedule may have.
func (r *Runner) MinInterval() time.Duration { return r.cfg.MinInterval }

// Seal contexts: each blob opens only for its monitor and its role.
func secretsContext(id string) string { return "monitor-secrets:" + id }
func webhookContext(id string) string { return "monitor-webhook:" + id }
func storageContext(id string) string { return "monitor-storage:" + id }

// CheckParams is what makes a monitor valid.
type CheckParams struct {
	Schedule, Timezone string
	// Task is the task each run runs (its output type and schema decide
	// which watch and rule paths exist).
	Task   task.Spec
	Notify monitor.Notify
}

// Check returns every problem of a monitor's schedule and notify settings,
// named by JSON Pointers into the request body (/schedule, /timezone,
// /notify/...). The task and webhook objects are the caller's to decode
// (the API's task decoder).
func (r *Runner) Check(p CheckParams) Problems {
	var probs Problems
	if f := r.CheckSchedule(p.Schedule, p.Timezone); f != nil {
		probs = append(probs, f)
	}
	probs = append(probs, monitor.CheckNotify(p.Notify, p.Task.OutputType, p.Task.OutputSchema)...)
	return probs
}

// CheckSchedule returns the problem of a schedule in a time zone (nil if
// none): it parses, and its runs come no closer than the minimum interval.
func (r *Runner) CheckSchedule(expr, tz string) *monitor.FieldError {
	s, err := monitor.ParseSchedule(expr, tz)
	if err == nil {
		err = s.Check(r.cfg.MinInterval)
	}
	if err != nil {
		return fieldError(err)
	}
	return nil
}

func fieldError(err error) *monitor.FieldError {
	var fe *monitor.FieldError
	if errors.As(err, &fe) {
		return fe
	}
	return &monitor.FieldError{Pointer: "", Reason: err.Error()}
}

// schedule parses a monitor's schedule, once per expression and zone.
func (r *Runner) schedule(expr, tz string) (monitor.Schedule, error) {
	key := expr + "\x00" + tz
	r.mu.Lock()
	s, ok := r.schedules[key]
	r.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := monitor.ParseSchedule(expr, tz)
	if err != nil {
		return s, err
	}
	r.mu.Lock()
	if len(r.schedules) > 10000 {
		clear(r.schedules) // a bound, not a cache policy: parsing is cheap
	}
	r.schedules[key] = s
	r.mu.Unlock()
	return s, nil
}

// next is m's next run time after now. A schedule that no longer parses
// (never the case for one the API accepted) runs in a day, loudly.
func (r *Runner) next(m monitor.Monitor, now time.Time) time.Time {
	s, err := r.schedule(m.Schedule, m.Timezone)
	if err == nil {
		if t := s.Next(now, m.ID); !t.IsZero() {
			return t
		}
	}
	r.log.Error("monitor schedule unusable; next run in a day", "monitorId", m.ID, "schedule", m.Schedule, "err", err)
	return now.Add(24 * time.Hour)
}

// CreateParams is a new monitor.
type CreateParams struct {
	TenantID string
	Name     string
	Schedule string
	// Timezone is an IANA zone; "" is UTC.
	Timezone string
	// Task is the run-task body each run runs, decoded and validated; its
	// Webhook is ignored (the monitor's Webhook is told instead).
	Task    task.Spec
	Webhook *task.Webhook
	Notify  monitor.Notify
	Paused  bool
}

// Create validates and stores a new monitor; its first run is at its
// schedule's next time. Problems when invalid (nothing stored).
func (r *Runner) Create(ctx context.Context, p CreateParams) (monitor.Monitor, error) {
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	if probs := r.Check(CheckParams{Schedule: p.Schedule, Timezone: p.Timezone, Task: p.Task, Notify: p.Notify}); len(probs) > 0 {
		return monitor.Monitor{}, probs
	}
	now := r.now()
	spec := p.Task
	spec.Webhook = nil
	spec.TerminateOnCompletion = false
	spec.Monitor = nil
	m := monitor.Monitor{
		ID: task.NewID("mon"), TenantID: p.TenantID, Name: p.Name,
		Schedule: strings.TrimSpace(p.Schedule), Timezone: p.Timezone,
		Task: spec, Notify: p.Notify, Paused: p.Paused,
		SessionID: task.NewID("sess"), CreatedAt: now, UpdatedAt: now,
	}
	m.NextRunAt = r.next(m, now)
	// A monitor's checks after the first run replay what the model did
	// (learned tasks, package recipe), under a recipe of the monitor's
	// own, unless its task says otherwise.
	if m.Task.Replay == "" {
		m.Task.Replay = task.ReplayAuto
	}
	if m.Task.Recipe == "" && m.Task.Replay != task.ReplayOff {
		m.Task.Recipe = RecipeName(m.ID)
	}
	if len(spec.Secrets) > 0 {
		plain, _ := json.Marshal(spec.Secrets) // strings only: cannot fail
		m.SealedSecrets = r.box.Seal(plain, secretsContext(m.ID))
	}
	m.Webhook = r.sealWebhook(m.ID, p.Webhook)
	if err := r.st.CreateMonitor(ctx, m); err != nil {
		return monitor.Monitor{}, err
	}
	return m, nil
}

// RecipeName is the recipe a monitor's runs learn and replay unless its
// task names another.
func RecipeName(monitorID string) string { return "monitor-" + monitorID }

// sealWebhook returns a copy of the webhook with its credentials (auth,
// signing secret, URL userinfo) sealed for monitor id, as it is stored.
func (r *Runner) sealWebhook(id string, wh *task.Webhook) *task.Webhook {
	if wh == nil {
		return nil
	}
	c := *wh
	c.SealCredentials(r.box, webhookContext(id))
	return &c
}

// openWebhook returns m's webhook with its credentials, for sending.
func (r *Runner) openWebhook(m monitor.Monitor) (*task.Webhook, error) {
	if m.Webhook == nil {
		return nil, nil
	}
	wh, err := m.Webhook.OpenCredentials(r.box, webhookContext(m.ID))
	if err != nil {
		return nil, err
	}
	return &wh, nil
}

// Get loads a tenant's monitor.
func (r *Runner) Get(ctx context.Context, tenantID, id string) (monitor.Monitor, error) {
	m, err := r.st.Monitor(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return m, ErrNotFound
	}
	return m, err
}

// ListParams pages a tenant's monitors.
type ListParams struct {
	TenantID string
	// Cursor is a page's Next, or "" for the first page.
	Cursor string
	// Limit caps the page (1 to 200; default 50).
	Limit int
}

// Page is one page of monitors, oldest first; Next, when not empty, is the
// cursor of the following page.
type Page struct {
	Monitors []monitor.Monitor
	Next     string
}

// List pages a tenant's monitors, oldest first.
func (r *Runner) List(ctx context.Context, p ListParams) (Page, error) {
	limit := pageLimit(p.Limit)
	at, id, err := decodeCursor(p.Cursor)
	if err != nil {
		return Page{}, err
	}
	ms, err := r.st.ListMonitors(ctx, store.ListMonitorsParams{TenantID: p.TenantID, AfterCreatedAt: at, AfterID: id, Limit: limit})
	if err != nil {
		return Page{}, err
	}
	page := Page{Monitors: ms}
	if len(ms) == limit {
		last := ms[len(ms)-1]
		page.Next = encodeCursor(last.CreatedAt, last.ID)
	}
	return page, nil
}

// Page limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPageLimit
	case n > MaxPageLimit:
		return MaxPageLimit
	}
	return n
}

// encodeCursor writes a page position opaquely: the last item's time and id.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMilli(), 10) + "." + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	if c == "" {
		return time.Time{}, "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", ErrBadCursor
	}
	msText, id, ok := strings.Cut(string(raw), ".")
	ms, err := strconv.ParseInt(msText, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", ErrBadCursor
	}
	return time.UnixMilli(ms).UTC(), id, nil
}

// UpdateParams changes a monitor: nil fields stay as they are.
type UpdateParams struct {
	TenantID, ID string
	Paused       *bool
	// Schedule and Timezone: either or both; the other stays.
	Schedule, Timezone *string
	Notify             *monitor.Notify
	Webhook            *task.Webhook
	// RemoveWebhook drops the webhook (PATCH with "webhook": null).
	RemoveWebhook bool
}

// Update validates and applies a change. A new schedule, or a resume,
// moves the next run to the schedule's next time from now. Problems when
// invalid (nothing stored).
func (r *Runner) Update(ctx context.Context, p UpdateParams) (monitor.Monitor, error) {
	m, err := r.Get(ctx, p.TenantID, p.ID)
	if err != nil {
		return m, err
	}
	schedule, tz := m.Schedule, m.Timezone
	if p.Schedule != nil {
		schedule = strings.TrimSpace(*p.Schedule)
	}
	if p.Timezone != nil {
		tz = *p.Timezone
		if tz == "" {
			tz = "UTC"
		}
	}
	notify := m.Notify
	if p.Notify != nil {
		notify = *p.Notify
	}
	var probs Problems
	if p.Schedule != nil || p.Timezone != nil {
		if f := r.CheckSchedule(schedule, tz); f != nil {
			probs = append(probs, f)
		}
	}
	if p.Notify != nil {
		probs = append(probs, monitor.CheckNotify(notify, m.Task.OutputType, m.Task.OutputSchema)...)
	}
	if len(probs) > 0 {
		return monitor.Monitor{}, probs
	}
	now := r.now()
	up := store.UpdateMonitorParams{TenantID: p.TenantID, ID: p.ID, Paused: p.Paused, Notify: p.Notify, At: now}
	resumed := p.Paused != nil && !*p.Paused && m.Paused
	if p.Schedule != nil || p.Timezone != nil {
		up.Schedule, up.Timezone = &schedule, &tz
	}
	if p.Schedule != nil || p.Timezone != nil || resumed {
		next := m
		next.Schedule, next.Timezone = schedule, tz
		up.NextRunAt = r.next(next, now)
	}
	switch {
	case p.RemoveWebhook:
		up.RemoveWebhook = true
	case p.Webhook != nil:
		up.Webhook = r.sealWebhook(m.ID, p.Webhook)
	}
	m, err = r.st.UpdateMonitor(ctx, up)
	if errors.Is(err, store.ErrNotFound) {
		return m, ErrNotFound
	}
	return m, err
}

// Delete removes a monitor and its history: it runs no more; a run still
// going finishes and sends nothing.
func (r *Runner) Delete(ctx context.Context, tenantID, id string) error {
	err := r.st.DeleteMonitor(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// RunNow starts a run of a monitor at once (even when paused); its
// schedule is unchanged. ErrRunning while a run is going.
func (r *Runner) RunNow(ctx context.Context, tenantID, id string) (monitor.Run, error) {
	run, err := r.st.RunMonitorNow(ctx, store.RunMonitorParams{TenantID: tenantID, ID: id, Now: r.now(), Task: r.runTask})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return run, ErrNotFound
	case errors.Is(err, store.ErrConflict):
		return run, ErrRunning
	}
	return run, err
}

// RunsParams pages a monitor's runs.
type RunsParams struct {
	TenantID, MonitorID string
	Cursor              string
	Limit               int
}

// RunsPage is one page of a monitor's runs, newest first.
type RunsPage struct {
	Runs []monitor.Run
	Next string
}

// Runs pages a tenant's monitor's runs, newest first.
func (r *Runner) Runs(ctx context.Context, p RunsParams) (RunsPage, error) {
	if _, err := r.Get(ctx, p.TenantID, p.MonitorID); err != nil {
		return RunsPage{}, err
	}
	limit := pageLimit(p.Limit)
	at, id, err := decodeCursor(p.Cursor)
	if err != nil {
		return RunsPage{}, err
	}
	runs, err := r.st.MonitorRuns(ctx, store.MonitorRunsParams{TenantID: p.TenantID, MonitorID: p.MonitorID,
		BeforeRunAt: at, BeforeID: id, Limit: limit})
	if err != nil {
		return RunsPage{}, err
	}
	page := RunsPage{Runs: runs}
	if len(runs) == limit {
		last := runs[len(runs)-1]
		page.Next = encodeCursor(last.RunAt, last.ID)
	}
	return page, nil
}

// runTask is the task of one run of m: the monitor's task in its session,
// marked as the run (Spec.Monitor), without a webhook of its own, its
// secrets sealed for it. Secrets that do not open on this node (another
// key) are left out with a warning: the run then fails or succeeds on its
// own terms, and one monitor cannot stall a claim of many.
func (r *Runner) runTask(m monitor.Monitor, run monitor.Run) (task.Task, error) {
	spec := m.Task
	spec.Webhook = nil
	spec.TerminateOnCompletion = false
	spec.Monitor = &task.MonitorRun{MonitorID: m.ID, RunID: run.ID, DueAt: run.DueAt}
	t := task.Task{ID: task.NewID("task"), Spec: spec, Status: task.StatusQueued, CreatedAt: run.RunAt}
	if len(m.SealedSecrets) > 0 {
		plain, err := r.box.Open(m.SealedSecrets, secretsContext(m.ID))
		if err != nil {
			r.log.Warn("the monitor's secrets cannot be used on this node; the run goes without them", "monitorId", m.ID, "err", err)
		} else {
			t.SealedSecrets = r.box.Seal(plain, t.ID)
		}
	}
	return t, nil
}
