package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// FollowParams says which task Follow reads and what it tells the caller.
type FollowParams struct {
	TenantID, SessionID, TaskID string
	// Each is called after every read with the task as it is then and the
	// steps recorded since the previous call, in order (possibly none). An
	// error ends Follow with that error. Default: nothing is called.
	Each func(t task.Task, steps []task.Step) error
	// Poll is how often the store is read for changes made on other nodes
	// (this node's changes wake Follow at once). Default 500ms.
	Poll time.Duration
}

// Follow reads a task of the tenant as it runs, telling p.Each of every
// step, and returns it once it has ended or waits for a human. When ctx
// ends first it returns the task as last read and ctx's error. The event
// stream, errand run and the MCP tools show progress through it.
func (e *Engine) Follow(ctx context.Context, p FollowParams) (task.Task, error) {
	if p.Poll <= 0 {
		p.Poll = 500 * time.Millisecond
	}
	poll := time.NewTicker(p.Poll)
	defer poll.Stop()
	seen := 0
	var cur task.Task
	for {
		changed, stop := e.Changes(p.TaskID)
		t, err := e.Task(ctx, p.TenantID, p.SessionID, p.TaskID)
		var steps []task.Step
		if err == nil {
			steps, err = e.Steps(ctx, t.ID)
		}
		if err != nil {
			stop()
			if ctx.Err() != nil {
				return cur, ctx.Err()
			}
			return cur, err
		}
		cur = t
		var fresh []task.Step
		if seen < len(steps) {
			fresh = steps[seen:]
			seen = len(steps)
		}
		if p.Each != nil {
			if err := p.Each(t, fresh); err != nil {
				stop()
				return t, err
			}
		}
		if t.Status.Final() || t.Status == task.StatusGuardrail {
			stop()
			return t, nil
		}
		select {
		case <-ctx.Done():
			stop()
			return t, ctx.Err()
		case <-changed:
		case <-poll.C:
		}
		stop()
	}
}

// CancelTask stops one task of the tenant, whatever its place in its
// session: a running one through its run (on whichever node runs it), a
// queued one or one waiting for a human at once. A task that has ended is
// left as it is. It returns the task as it was when the cancellation was
// made; a running task ends cancelled shortly after.
func (e *Engine) CancelTask(ctx context.Context, tenantID, sessionID, taskID string) (task.Task, error) {
	// A queued task may start (or end) between the read and the
	// cancellation: then it is read again and cancelled as it is now.
	var t task.Task
	for range 5 {
		var err error
		t, err = e.Task(ctx, tenantID, sessionID, taskID)
		if err != nil || t.Status.Final() {
			return t, err
		}
		if t.Status == task.StatusRunning {
			return t, e.cancel(ctx, t)
		}
		err = e.finish(ctx, t, task.Outcome{Code: task.CodeCancelled, Error: "the task was cancelled before it finished"})
		if !errors.Is(err, store.ErrConflict) {
			return t, err
		}
		if err := ctx.Err(); err != nil {
			return t, err
		}
	}
	return t, fmt.Errorf("task %s kept changing while it was being cancelled", taskID)
}
