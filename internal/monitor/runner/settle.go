package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

// Memo is what run t of a monitor starts from (the engine calls it before
// the agent runs): the previous answer and the fingerprint of the page it
// came from, and the browser storage the previous run left. A monitor
// that is gone gives an empty memo.
func (r *Runner) Memo(ctx context.Context, t task.Task) (task.RunMemo, error) {
	ref := t.Spec.Monitor
	if ref == nil {
		return task.RunMemo{}, nil
	}
	m, err := r.st.MonitorByID(ctx, ref.MonitorID)
	if errors.Is(err, store.ErrNotFound) {
		return task.RunMemo{}, nil
	}
	if err != nil {
		return task.RunMemo{}, err
	}
	var memo task.RunMemo
	if m.State.Baseline && m.State.PageHash != "" {
		memo.PageHash, memo.Answer = m.State.PageHash, m.State.Answer
	}
	if len(m.SealedStorage) > 0 {
		plain, err := r.box.Open(m.SealedStorage, storageContext(m.ID))
		if err != nil {
			// Another key: the run starts without the stored login.
			r.log.WarnContext(ctx, "the monitor's browser storage cannot be opened on this node", "monitorId", m.ID, "err", err)
		} else {
			memo.Storage = plain
		}
	}
	return memo, nil
}

// Settle decides what the end of a monitor's run means (package monitor's
// Decide) and returns it for the engine to commit with the task's end: the
// monitor's new state, the run as its history keeps it, the browser
// storage the run left (storage, sealed; completed runs only) and the
// notifications owed to the monitor's webhook. nil when the task is not a
// monitor's run, or its monitor is gone (deleted: the run sends nothing)
// or runs another task.
//
// ended is the task as it ends (status, answer, usage, EndedAt); out is
// the agent's outcome (its PageHash and Storage).
func (r *Runner) Settle(ctx context.Context, ended task.Task, out task.Outcome) (*store.MonitorSettlement, error) {
	ref := ended.Spec.Monitor
	if ref == nil {
		return nil, nil
	}
	m, err := r.st.MonitorByID(ctx, ref.MonitorID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.Running != ended.ID {
		return nil, nil
	}
	c, err := monitor.NewComparer(m.Task.OutputType, m.Notify)
	if err != nil {
		// Never for settings the API accepted; compare everything rather
		// than lose the run.
		r.log.ErrorContext(ctx, "monitor notify settings unusable; comparing whole answers", "monitorId", m.ID, "err", err)
		c, _ = monitor.NewComparer(m.Task.OutputType, monitor.Notify{})
	}
	d := monitor.Decide(c, m.Notify, m.State, monitor.Ending{Status: ended.Status, Answer: ended.Message, PageHash: out.PageHash})
	st := &store.MonitorSettlement{
		MonitorID: m.ID, RunID: ref.RunID, State: d.State, KeepRuns: r.cfg.KeepRuns,
		Run: monitor.Run{
			Status: string(ended.Status), Changed: d.Changed, Changes: d.Changes, Truncated: d.Truncated,
			Fired: d.Fired, Events: d.Events,
		},
	}
	if ended.Status == task.StatusCompleted && len(out.Storage) > 0 {
		st.SealedStorage = r.box.Seal(out.Storage, storageContext(m.ID))
	}
	if len(d.Events) == 0 || m.Webhook == nil {
		return st, nil
	}
	wh, err := r.openWebhook(m)
	if err != nil {
		// The run is still settled (its answer and state kept); only the
		// notification cannot be signed or authorised here.
		r.log.ErrorContext(ctx, "monitor notification not sent", "monitorId", m.ID, "err", err)
		return st, nil
	}
	for _, ev := range d.Events {
		if !subscribes(wh, ev) {
			continue
		}
		body, err := webhook.MonitorBody(webhook.MonitorNotice{
			Event: ev, Task: ended, MonitorID: m.ID, MonitorName: m.Name, RunAt: runAt(m, ended),
			Changes: d.Changes, Truncated: d.Truncated, Fired: d.Fired, Failures: d.State.Failures,
		}, wh.SubmittedData)
		if err != nil {
			return nil, fmt.Errorf("monitor %s: %s body: %w", m.ID, ev, err)
		}
		d := task.Delivery{
			ID: task.NewID("msg"), TaskID: ended.ID, SessionID: ended.SessionID, TenantID: ended.TenantID, MonitorID: m.ID,
			Event: ev, URL: wh.URL, Auth: wh.Auth, Secret: wh.Secret,
			Body: body, MaxAttempts: max(wh.MaxAttempts, 1), State: task.DeliveryPending, CreatedAt: ended.EndedAt,
		}
		// Sealed for the run's task, as a task's own delivery is: the
		// dispatcher opens it to send.
		d.SealCredentials(r.box)
		st.Deliveries = append(st.Deliveries, d)
	}
	return st, nil
}

// runAt is when the run started: its task's start, else its creation.
func runAt(m monitor.Monitor, t task.Task) time.Time {
	switch {
	case !t.StartedAt.IsZero():
		return t.StartedAt
	case !t.CreatedAt.IsZero():
		return t.CreatedAt
	}
	return m.LastRunAt
}

// subscribes reports whether a monitor's webhook wants event e: by
// default monitor.changed only; the failure events are opt-in (events).
func subscribes(wh *task.Webhook, e task.Event) bool {
	if len(wh.Events) == 0 {
		return e == monitor.EventChanged
	}
	return slices.Contains(wh.Events, e)
}
