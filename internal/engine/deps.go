package engine

import (
	"context"

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
