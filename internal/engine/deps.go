package engine

import (
	"context"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// Agent runs tasks (internal/agent's Builtin and LLM). Run returns the
// outcome; the engine owns the context's deadline (maxDuration) and
// cancellation, and maps a context error to the task's code, so an agent
// just returns when ctx is done. Usage.ComputeTime and Cost are filled in
// by the engine.
type Agent interface {
	Run(ctx context.Context, req task.RunRequest) task.Outcome
}

// SessionEnder is an Agent that holds per-session state (a browser
// context): the engine calls EndSession when a session ends.
type SessionEnder interface {
	EndSession(sessionID string)
}

// MonitorHooks is told about the runs of monitors (internal/monitor/runner
// implements it): what a run starts from, and what its end owes, which the
// engine commits in the same transaction as the task's end.
type MonitorHooks interface {
	// Memo is what run t starts from (see task.RunMemo).
	Memo(ctx context.Context, t task.Task) (task.RunMemo, error)
	// Settle decides what the run's end means; ended is the task as it
	// ends, out the agent's outcome. Nil when there is nothing to settle
	// (the monitor is gone).
	Settle(ctx context.Context, ended task.Task, out task.Outcome) (*store.MonitorSettlement, error)
}

// SessionStorage is an Agent whose sessions' browser storage (cookies,
// local storage) can be restored before a run and saved after it: a
// monitor keeps its login between runs, on any node.
type SessionStorage interface {
	// ImportStorage restores state (as ExportStorage gave it) into the
	// session's browser context, creating the context.
	ImportStorage(ctx context.Context, sessionID string, state []byte) error
	// ExportStorage returns the session's browser storage, merged over
	// previous (origins this run did not visit keep their stored values);
	// nil when the session has no browser context.
	ExportStorage(ctx context.Context, sessionID string, previous []byte) ([]byte, error)
}

// Dispatcher sends the webhook deliveries the store owes
// (internal/webhook's Dispatcher). The engine starts it with its queue,
// tells it when a commit owed new deliveries (Notify), and stops it after
// the tasks, so that a task ending during the grace period still gets its
// webhook sent.
type Dispatcher interface {
	Start()
	Notify()
	Stop(ctx context.Context) error
}

// noDispatcher is the Dispatcher of an engine configured without one.
type noDispatcher struct{}

func (noDispatcher) Start()                     {}
func (noDispatcher) Notify()                    {}
func (noDispatcher) Stop(context.Context) error { return nil }
