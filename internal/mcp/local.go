package mcp

import (
	"context"
	"net/url"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
)

// Local is an errand in this process: requests are read by the API's
// decoder and carried out by the engine's methods, as the API's handlers
// do.
type Local struct {
	// Engine runs and reads the tasks. Required.
	Engine *engine.Engine
	// Policy judges page and webhook URLs at submission. Default nil:
	// URLs are only checked to be absolute http(s) URLs.
	Policy *netguard.Policy
	// Monitors keeps the monitors. Default nil: the monitor tools answer
	// that monitors are not enabled.
	Monitors *runner.Runner
}

var _ Errand = Local{}

// needTenant refuses a call that says not whose it is: over HTTP the
// tenant is the API key's, over stdio the command's.
func needTenant(tenant string) error {
	if tenant == "" {
		return &httpapi.Error{Status: 401, Code: "INVALID_API_KEY", Message: "missing API key: send Authorization: Bearer <key>"}
	}
	return nil
}

func (l Local) decoder() httpapi.Decoder {
	return httpapi.Decoder{Engine: l.Engine, Policy: l.Policy}
}

// RunTask implements Errand.
func (l Local) RunTask(ctx context.Context, tenant string, body Body) (Ref, error) {
	if err := needTenant(tenant); err != nil {
		return Ref{}, err
	}
	spec, err := l.decoder().RunTask(body)
	if err != nil {
		return Ref{}, err
	}
	t, err := l.Engine.RunTask(ctx, tenant, spec)
	if err != nil {
		return Ref{}, err
	}
	return Ref{SessionID: t.SessionID, TaskID: t.ID}, nil
}

// StartSession implements Errand.
func (l Local) StartSession(ctx context.Context, tenant string, body Body) (Answer, *Ref, error) {
	if err := needTenant(tenant); err != nil {
		return nil, nil, err
	}
	spec, err := l.decoder().StartSession(body)
	if err != nil {
		return nil, nil, err
	}
	s, t, err := l.Engine.StartSession(ctx, tenant, spec)
	if err != nil {
		return nil, nil, err
	}
	var ref *Ref
	if t != nil {
		ref = &Ref{SessionID: s.ID, TaskID: t.ID}
	}
	return httpapi.StartedAnswer(s, t, l.Engine.SessionIdle()), ref, nil
}

// SendMessage implements Errand.
func (l Local) SendMessage(ctx context.Context, tenant string, body Body) (Answer, *Ref, error) {
	if err := needTenant(tenant); err != nil {
		return nil, nil, err
	}
	m, err := l.decoder().Message(body)
	if err != nil {
		return nil, nil, err
	}
	t, err := m.Send(ctx, l.Engine, tenant)
	if err != nil {
		return nil, nil, err
	}
	if t != nil {
		return nil, &Ref{SessionID: t.SessionID, TaskID: t.ID}, nil
	}
	return httpapi.StateAnswer(m), nil, nil
}

// Task implements Errand.
func (l Local) Task(ctx context.Context, tenant string, ref Ref) (Answer, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	t, err := l.Engine.Task(ctx, tenant, ref.SessionID, ref.TaskID)
	if err != nil {
		return nil, err
	}
	steps, err := l.Engine.Steps(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	a := httpapi.TaskAnswer(t)
	a["steps"] = httpapi.StepsAnswer(steps)
	return a, nil
}

// Follow implements Errand.
func (l Local) Follow(ctx context.Context, tenant string, ref Ref, w Watch) (Answer, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	// As the event stream tells it: a status when it changes, before
	// the steps seen with it.
	var status task.Status
	t, err := l.Engine.Follow(ctx, engine.FollowParams{
		TenantID: tenant, SessionID: ref.SessionID, TaskID: ref.TaskID,
		Each: func(t task.Task, steps []task.Step) error {
			if t.Status != status && !t.Status.Final() && t.Status != task.StatusGuardrail {
				status = t.Status
				w.status(string(status))
			}
			for _, s := range steps {
				w.step(Step{N: s.N, Action: s.Action, URL: s.URL, Error: s.Error, DurationMs: s.DurationMs})
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return httpapi.TaskAnswer(t), nil
}

// Cancel implements Errand.
func (l Local) Cancel(ctx context.Context, tenant string, ref Ref) error {
	if err := needTenant(tenant); err != nil {
		return err
	}
	_, err := l.Engine.CancelTask(ctx, tenant, ref.SessionID, ref.TaskID)
	return err
}

// Tasks implements Errand.
func (l Local) Tasks(ctx context.Context, tenant string, q url.Values) (Answer, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	return httpapi.ListTasks(ctx, l.Engine, tenant, q)
}

func (l Local) monitors() httpapi.Monitors {
	return httpapi.Monitors{Decoder: l.decoder(), Runner: l.Monitors}
}

// CreateMonitor implements Errand.
func (l Local) CreateMonitor(ctx context.Context, tenant string, body Body) (Answer, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	return l.monitors().Create(ctx, tenant, body)
}

// ListMonitors implements Errand.
func (l Local) ListMonitors(ctx context.Context, tenant string, q url.Values) (Answer, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	return l.monitors().List(ctx, tenant, q)
}

// MonitorRuns implements Errand.
func (l Local) MonitorRuns(ctx context.Context, tenant, id string, q url.Values) (Answer, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	return l.monitors().Runs(ctx, tenant, id, q)
}

// DeleteMonitor implements Errand.
func (l Local) DeleteMonitor(ctx context.Context, tenant, id string) (Answer, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	return l.monitors().Delete(ctx, tenant, id)
}
