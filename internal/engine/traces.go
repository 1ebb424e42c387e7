package engine

import (
	"context"
	"errors"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

// ErrScreenshotNotFound: the step has no screenshot (it took none, the
// retention removed it, or there is no such step).
var ErrScreenshotNotFound = errors.New("screenshot not found")

// Trace is a task of the tenant as its trace shows it (package trace):
// its steps with their cost, screenshots and answers. shotURL gives step
// index's screenshot its URL, as the caller serves it.
func (e *Engine) Trace(ctx context.Context, tenantID, sessionID, taskID string, shotURL func(index int) string) (trace.View, error) {
	t, err := e.Task(ctx, tenantID, sessionID, taskID)
	if err != nil {
		return trace.View{}, err
	}
	steps, err := e.st.Steps(ctx, t.ID)
	if err != nil {
		return trace.View{}, err
	}
	return trace.Build(t, steps, trace.BuildParams{Cost: e.cfg.Prices.Cost, ShotURL: shotURL}), nil
}

// Screenshot is the JPEG of step index (from 1) of a task of the tenant.
func (e *Engine) Screenshot(ctx context.Context, tenantID, sessionID, taskID string, index int) ([]byte, error) {
	if _, err := e.Task(ctx, tenantID, sessionID, taskID); err != nil {
		return nil, err
	}
	img, err := e.st.Screenshot(ctx, taskID, index)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrScreenshotNotFound
	}
	return img, err
}

// Tasks lists a tenant's tasks newest first (f.TenantID is required).
func (e *Engine) Tasks(ctx context.Context, f store.TaskFilter) ([]task.Task, error) {
	if f.TenantID == "" {
		return nil, errors.New("engine: Tasks needs a tenant")
	}
	return e.st.ListTasks(ctx, f)
}

// SessionSummary is a session as listings show it.
type SessionSummary struct {
	store.SessionSummary
	// Expired: the session was terminated, or idle past the session idle
	// time; no task can be added to it.
	Expired bool
}

// Sessions lists a tenant's sessions newest first (f.TenantID is
// required).
func (e *Engine) Sessions(ctx context.Context, f store.SessionFilter) ([]SessionSummary, error) {
	if f.TenantID == "" {
		return nil, errors.New("engine: Sessions needs a tenant")
	}
	list, err := e.st.ListSessions(ctx, f)
	if err != nil {
		return nil, err
	}
	now := e.now()
	out := make([]SessionSummary, len(list))
	for i, s := range list {
		out[i] = SessionSummary{SessionSummary: s, Expired: s.Expired(now, e.cfg.SessionIdle, s.Busy)}
	}
	return out, nil
}

// DeliveryLog is one webhook delivery owed for a task, with its attempts.
type DeliveryLog struct {
	Delivery task.Delivery
	Attempts []task.Attempt
}

// Deliveries lists a task's webhook deliveries, oldest first, each with its
// attempts in order. Auth and Secret are cleared: they are never shown.
func (e *Engine) Deliveries(ctx context.Context, tenantID, sessionID, taskID string) ([]DeliveryLog, error) {
	if _, err := e.Task(ctx, tenantID, sessionID, taskID); err != nil {
		return nil, err
	}
	ds, err := e.st.TaskDeliveries(ctx, taskID)
	if err != nil {
		return nil, err
	}
	atts, err := e.st.Attempts(ctx, taskID)
	if err != nil {
		return nil, err
	}
	out := make([]DeliveryLog, len(ds))
	for i, d := range ds {
		d.Auth, d.Secret = "", ""
		out[i].Delivery = d
		for _, a := range atts {
			if a.DeliveryID == d.ID {
				out[i].Attempts = append(out[i].Attempts, a)
			}
		}
	}
	return out, nil
}
