package engine

import (
	"fmt"
	"strings"

	"github.com/errandhq/errand/internal/task"
)

// CapabilityDeclarer is an agent that says what it cannot run (the
// built-in extractor needs a startingPoint), so that such tasks are refused
// at submission. An agent that does not implement it is taken to run
// anything.
type CapabilityDeclarer interface {
	Capabilities() task.Capabilities
}

// Capabilities is what this engine's agent can run. The API checks a task
// against it while validating the request, to name each field by its
// pointer; the engine checks again when a task is submitted, for callers
// that skip the API.
func (e *Engine) Capabilities() task.Capabilities {
	if d, ok := e.cfg.Agent.(CapabilityDeclarer); ok {
		return d.Capabilities()
	}
	return task.Capabilities{}
}

// SpecError refuses a task the agent cannot run; nothing was queued.
type SpecError struct {
	Problems []task.SpecProblem
}

func (e *SpecError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + " " + p.Reason
	}
	return fmt.Sprintf("the task cannot be run: %s", strings.Join(parts, "; "))
}

// checkSpec is the engine's own submission check.
func (e *Engine) checkSpec(s task.Spec) error {
	if p := e.Capabilities().Refusals(s); len(p) > 0 {
		return &SpecError{Problems: p}
	}
	return nil
}
