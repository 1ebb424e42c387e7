package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// storageTimeout bounds saving or restoring a monitor's browser storage.
const storageTimeout = 10 * time.Second

// monitorMemo is what a monitor's run starts from (nil for other tasks):
// the previous answer and page fingerprint for the agent, and the browser
// storage restored into the session's context before the agent opens it.
func (e *Engine) monitorMemo(ctx context.Context, t task.Task) *task.RunMemo {
	if t.Spec.Monitor == nil || e.cfg.Monitors == nil {
		return nil
	}
	memo, err := e.cfg.Monitors.Memo(ctx, t)
	if err != nil {
		e.log.WarnContext(ctx, "monitor memo unavailable; the run starts afresh", "taskId", t.ID, "err", err)
		return nil
	}
	if len(memo.Storage) > 0 {
		if ss, ok := e.cfg.Agent.(SessionStorage); ok {
			sctx, cancel := context.WithTimeout(ctx, storageTimeout)
			err := ss.ImportStorage(sctx, t.SessionID, memo.Storage)
			cancel()
			if err != nil {
				e.log.WarnContext(ctx, "monitor browser storage not restored; the run starts logged out", "taskId", t.ID, "err", err)
			}
		}
	}
	return &memo
}

// monitorRunEnded completes a monitor run's outcome: the browser storage
// the run left, and no waiting for a human (a check that would wait could
// never run again: its session's next run queues behind it).
func (e *Engine) monitorRunEnded(ctx context.Context, t task.Task, memo *task.RunMemo, out *task.Outcome) {
	if t.Spec.Monitor == nil {
		return
	}
	if out.Status() == task.StatusGuardrail {
		*out = task.Outcome{
			Code:    task.CodeOutputInvalid,
			Error:   "the agent asked for a human's answer (" + out.Question + "); a monitor's run cannot wait for one",
			Network: out.Network, Usage: out.Usage,
		}
	}
	ss, ok := e.cfg.Agent.(SessionStorage)
	if !ok || out.Status() != task.StatusCompleted {
		return
	}
	var previous []byte
	if memo != nil {
		previous = memo.Storage
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storageTimeout)
	defer cancel()
	state, err := ss.ExportStorage(sctx, t.SessionID, previous)
	if err != nil {
		e.log.WarnContext(ctx, "monitor browser storage not saved; the next run starts from the last saved one", "taskId", t.ID, "err", err)
		return
	}
	out.Storage = state
}

// settleMonitor asks the monitor hooks what a monitor run's end owes.
func (e *Engine) settleMonitor(ctx context.Context, ended task.Task, out task.Outcome) (*store.MonitorSettlement, error) {
	if e.cfg.Monitors == nil {
		return nil, nil
	}
	st, err := e.cfg.Monitors.Settle(context.WithoutCancel(ctx), ended, out)
	if err != nil {
		return nil, fmt.Errorf("monitor settlement: %w", err)
	}
	return st, nil
}
