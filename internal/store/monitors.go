package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/task"
)

// Monitors is what the store keeps of monitors (package monitor): the
// monitors themselves (tenant-scoped), their durable next run times, their
// run history, and the claim that turns due monitors into tasks exactly
// once across any number of nodes.
//
// A monitor's runs are ordinary tasks of the monitor's own session. A run's
// end is settled in its task's finishing transaction (FinishParams.Monitor),
// so the change decision, the monitor's new state and the notification it
// owes are committed together with the task's end, or not at all.
type Monitors interface {
	// CreateMonitor stores a new monitor and creates its session.
	// ErrConflict if the id is taken.
	CreateMonitor(ctx context.Context, m monitor.Monitor) error
	// Monitor loads a tenant's monitor; ErrNotFound if there is none (or
	// it is another tenant's).
	Monitor(ctx context.Context, tenantID, id string) (monitor.Monitor, error)
	// MonitorByID loads a monitor whatever its tenant, for the runner.
	MonitorByID(ctx context.Context, id string) (monitor.Monitor, error)
	// ListMonitors pages a tenant's monitors, oldest first.
	ListMonitors(ctx context.Context, p ListMonitorsParams) ([]monitor.Monitor, error)
	// UpdateMonitor changes what p sets and returns the monitor as it is
	// now. ErrNotFound if there is no such monitor for the tenant.
	UpdateMonitor(ctx context.Context, p UpdateMonitorParams) (monitor.Monitor, error)
	// DeleteMonitor removes a monitor and its history: it runs no more,
	// and a run still going finishes without owing anything (its
	// settlement finds no monitor). ErrNotFound if there is none.
	DeleteMonitor(ctx context.Context, tenantID, id string) error
	// ClaimMonitors starts the runs of due monitors, see
	// ClaimMonitorsParams. Safe to call from every node at once: each due
	// tick is claimed by exactly one caller.
	ClaimMonitors(ctx context.Context, p ClaimMonitorsParams) ([]ClaimedMonitor, error)
	// RunMonitorNow starts a run of a tenant's monitor at once, whatever
	// its schedule (and even when paused); its next scheduled run is
	// unchanged. ErrConflict while a run is going, ErrNotFound if there is
	// no such monitor.
	RunMonitorNow(ctx context.Context, p RunMonitorParams) (monitor.Run, error)
	// MonitorRuns pages a monitor's runs, newest first. A run not settled
	// yet reports its task's status.
	MonitorRuns(ctx context.Context, p MonitorRunsParams) ([]monitor.Run, error)
	// DueMonitors counts the monitors due at now and not paused (for
	// metrics and benchmarks).
	DueMonitors(ctx context.Context, now time.Time) (int64, error)
	// NextMonitorDue is the earliest next run time of the monitors not
	// paused; ok is false when there is none.
	NextMonitorDue(ctx context.Context) (at time.Time, ok bool, err error)
}

// ListMonitorsParams pages a tenant's monitors.
type ListMonitorsParams struct {
	TenantID string
	// AfterCreatedAt and AfterID are the last monitor of the previous
	// page; zero for the first page.
	AfterCreatedAt time.Time
	AfterID        string
	// Limit caps the page.
	Limit int
}

// UpdateMonitorParams changes a monitor: nil fields stay as they are.
type UpdateMonitorParams struct {
	TenantID, ID string
	Paused       *bool
	// Schedule and Timezone change together, with NextRunAt.
	Schedule, Timezone *string
	// NextRunAt, when not zero, is the monitor's new next run time (a new
	// schedule, or a resume).
	NextRunAt time.Time
	Notify    *monitor.Notify
	// Webhook replaces the webhook (its credentials sealed by the caller,
	// see task.Webhook.SealCredentials); RemoveWebhook drops it.
	Webhook       *task.Webhook
	RemoveWebhook bool
	At            time.Time
}

// ClaimMonitorsParams claims due monitors. In one transaction per batch,
// for each monitor not paused whose next run time is not after Now: its
// next run time becomes Next(m) (one catch-up run after downtime, not one
// per missed tick); if a run of it is still going, the tick is skipped and
// counted (monitor.Monitor.Skipped); else a run is recorded and Task(m,
// run)'s task is queued in the monitor's session, as AddTask queues one.
type ClaimMonitorsParams struct {
	Now   time.Time
	Limit int
	// Next is m's next run time after Now.
	Next func(m monitor.Monitor) time.Time
	// Task is the task of run: the engine's, its secrets sealed for it,
	// Spec.Monitor set. An error leaves m unclaimed (rolled back with the
	// batch).
	Task func(m monitor.Monitor, run monitor.Run) (task.Task, error)
}

// ClaimedMonitor is one due monitor a claim handled.
type ClaimedMonitor struct {
	MonitorID string
	// Run is the run started, nil when the tick was skipped.
	Run *monitor.Run
	// DueAt is the tick claimed; NextRunAt the monitor's next one.
	DueAt, NextRunAt time.Time
}

// RunMonitorParams starts a run of a monitor now.
type RunMonitorParams struct {
	TenantID, ID string
	Now          time.Time
	Task         func(m monitor.Monitor, run monitor.Run) (task.Task, error)
}

// MonitorRunsParams pages a monitor's runs.
type MonitorRunsParams struct {
	TenantID, MonitorID string
	// BeforeRunAt and BeforeID are the last run of the previous page; zero
	// for the first page.
	BeforeRunAt time.Time
	BeforeID    string
	Limit       int
}

// MonitorSettlement is the end of a monitor's run, written with its task's
// end (FinishParams.Monitor) if the monitor still exists and the run is the
// one it has going; otherwise nothing of it is written.
type MonitorSettlement struct {
	MonitorID string
	RunID     string
	// State is the monitor's state after the run.
	State monitor.State
	// Run is the run as its history keeps it (status, change, events).
	Run monitor.Run
	// SealedStorage, when not nil, is the browser storage the run left,
	// sealed for the monitor.
	SealedStorage []byte
	// Deliveries are the notifications the run owes (monitor.changed,
	// monitor.failing, monitor.recovered), attached to its task.
	Deliveries []task.Delivery
	// KeepRuns, when positive, prunes the monitor's history to its newest
	// KeepRuns runs.
	KeepRuns int
}

// The helpers below are shared by the store implementations, so that both
// read and write a monitor's JSON columns the same way.

// MonitorJSON is a monitor's JSON columns.
type MonitorJSON struct {
	Task, Notify, State string
	// Webhook is the webhook, never with credentials in clear (sealed,
	// they are in its SealedCredentials); empty when there is none.
	Webhook string
}

// EncodeMonitorJSON writes a monitor's JSON columns.
func EncodeMonitorJSON(m monitor.Monitor) (MonitorJSON, error) {
	var out MonitorJSON
	for _, f := range []struct {
		v   any
		dst *string
	}{{m.Task, &out.Task}, {m.Notify, &out.Notify}, {m.State, &out.State}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return MonitorJSON{}, err
		}
		*f.dst = string(b)
	}
	if m.Webhook != nil {
		wh := *m.Webhook
		wh.Auth, wh.Secret = "", ""
		b, err := json.Marshal(wh)
		if err != nil {
			return MonitorJSON{}, err
		}
		out.Webhook = string(b)
	}
	return out, nil
}

// DecodeMonitorJSON reads a monitor's JSON columns into m.
func DecodeMonitorJSON(m *monitor.Monitor, j MonitorJSON) error {
	if err := json.Unmarshal([]byte(j.Task), &m.Task); err != nil {
		return fmt.Errorf("monitor %s task: %w", m.ID, err)
	}
	if j.Webhook != "" {
		m.Webhook = &task.Webhook{}
		if err := json.Unmarshal([]byte(j.Webhook), m.Webhook); err != nil {
			return fmt.Errorf("monitor %s webhook: %w", m.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(j.Notify), &m.Notify); err != nil {
		return fmt.Errorf("monitor %s notify: %w", m.ID, err)
	}
	if err := json.Unmarshal([]byte(j.State), &m.State); err != nil {
		return fmt.Errorf("monitor %s state: %w", m.ID, err)
	}
	return nil
}

// ApplyMonitorUpdate applies p's changes to m.
func ApplyMonitorUpdate(m *monitor.Monitor, p UpdateMonitorParams) {
	if p.Paused != nil {
		m.Paused = *p.Paused
	}
	if p.Schedule != nil {
		m.Schedule = *p.Schedule
	}
	if p.Timezone != nil {
		m.Timezone = *p.Timezone
	}
	if !p.NextRunAt.IsZero() {
		m.NextRunAt = p.NextRunAt
	}
	if p.Notify != nil {
		m.Notify = *p.Notify
	}
	switch {
	case p.RemoveWebhook:
		m.Webhook = nil
	case p.Webhook != nil:
		m.Webhook = p.Webhook
	}
	if !p.At.IsZero() {
		m.UpdatedAt = p.At
	}
}

// RunJSON writes a run's JSON columns (changes, fired, events), never null.
func RunJSON(r monitor.Run) (changes, fired, events string, err error) {
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil || string(b) == "null" {
			return "[]", err
		}
		return string(b), nil
	}
	if changes, err = enc(r.Changes); err != nil {
		return
	}
	if fired, err = enc(r.Fired); err != nil {
		return
	}
	events, err = enc(r.Events)
	return
}

// DecodeRunJSON reads a run's JSON columns into r.
func DecodeRunJSON(r *monitor.Run, changes, fired, events string) error {
	if err := json.Unmarshal([]byte(changes), &r.Changes); err != nil {
		return fmt.Errorf("run %s changes: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(fired), &r.Fired); err != nil {
		return fmt.Errorf("run %s fired: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(events), &r.Events); err != nil {
		return fmt.Errorf("run %s events: %w", r.ID, err)
	}
	return nil
}
