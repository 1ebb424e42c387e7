// Package agent runs a task: it loads pages, decides what to do and produces
// the answer in the requested shape. Implementations plug in behind Agent:
// the built-in extractor (no language model) and the browser+model loop.
package agent

import (
	"context"

	"github.com/errandhq/errand/internal/task"
)

// Request is one run of a task.
type Request struct {
	Task task.Task
	// Step is called for each step as it happens, so the step log and the
	// progress stream show it while the task runs. Never nil.
	Step func(task.Step)
}

// Agent runs tasks. Run returns the outcome; the caller owns the context's
// deadline (maxDuration) and cancellation, and maps a context error to the
// task's code, so an agent just returns when ctx is done. Usage.ComputeTime
// and Cost are filled in by the caller.
type Agent interface {
	Run(ctx context.Context, req Request) task.Outcome
}

// SessionEnder is an Agent that holds per-session state (a browser
// context): the engine calls EndSession when a session ends.
type SessionEnder interface {
	EndSession(sessionID string)
}
