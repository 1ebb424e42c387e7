package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

// errCancelled is the cause given to a running task's context by stop and
// terminate, to tell it from a shutdown of this node.
var errCancelled = errors.New("the task was cancelled")

// errLost is the cause given to a run whose task this node no longer holds
// (see stopLost); the run ends without finishing the task.
var errLost = errors.New("this node lost the task's lease")

// releaseTimeout bounds handing a task back when this node stops.
const releaseTimeout = 5 * time.Second

// pausedRecheck is how soon a paused session's head task looks again.
const pausedRecheck = 500 * time.Millisecond

// jobs is the engine as the queue sees it (store.Handlers).
type jobs struct{ e *Engine }

func (j jobs) RunTask(ctx context.Context, taskID string) error { return j.e.runJob(ctx, taskID) }

// runJob is the queue's handler for a task's run job.
func (e *Engine) runJob(ctx context.Context, taskID string) error {
	t, err := e.st.TaskByID(ctx, taskID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.Status.Final() || t.Status == task.StatusGuardrail {
		return nil // stale job
	}
	info, err := e.st.Session(ctx, t.TenantID, t.SessionID)
	if err != nil {
		return err
	}
	switch {
	case info.State == task.SessionTerminated || t.CancelRequested:
		return e.finishIgnoringRace(ctx, t, task.Outcome{Code: task.CodeCancelled, Error: "the task was cancelled before it finished"})
	case info.State == task.SessionPaused && t.Status == task.StatusQueued && t.Spec.Monitor == nil:
		// (A monitor's run is paused by pausing the monitor, not its
		// session: a run held here would hold the monitor.)
		return &store.RetryError{Delay: pausedRecheck}
	}

	t, err = e.st.StartTask(ctx, t.ID, e.cfg.NodeID, e.now())
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	log := e.log.With("sessionId", t.SessionID, "taskId", t.ID)
	if t.Attempts > e.cfg.MaxRunAttempts {
		log.WarnContext(ctx, "task interrupted too often", "attempts", t.Attempts)
		return e.finishIgnoringRace(ctx, t, task.Outcome{
			Code:  task.CodeNodeLost,
			Error: fmt.Sprintf("the task was interrupted %d times (its node stopped or died) and was not started again", t.Attempts-1),
		})
	}
	if t.Attempts > 1 {
		e.step(ctx, t.ID, task.Step{Action: "restart", Error: "the previous run was interrupted (its node stopped or died); starting again"})
	}
	if t.PreviousRunner != "" && t.PreviousRunner != e.cfg.NodeID {
		// The session's browser context (cookies, storage) lives on the
		// node that ran it before; this node starts from a fresh one.
		e.step(ctx, t.ID, task.Step{Action: "moved", Error: fmt.Sprintf(
			"the session's previous run was on node %s; this run is on node %s in a fresh browser context", t.PreviousRunner, e.cfg.NodeID)})
	}
	log.InfoContext(ctx, "task started", "attempt", t.Attempts)
	e.cfg.Metrics.TaskStarted()
	began := e.now()

	out, err := e.runAgent(ctx, t)
	// The downloads are stored with the outcome (finish) or not at all.
	defer removeDownloads(out)
	if errors.Is(err, errLost) {
		log.WarnContext(ctx, "task lost: this node missed its heartbeats and the task was queued again; this run stops")
		return nil
	}
	if err != nil {
		return e.release(ctx, t.ID, err)
	}
	if err := e.finish(ctx, t, out); errors.Is(err, store.ErrConflict) {
		// Stopped, terminated, or rescued and run elsewhere meanwhile: this
		// run's outcome is not the task's.
		e.wake(t.ID)
		log.InfoContext(ctx, "task run discarded: the task ended or moved to another node meanwhile", "status", out.Status())
		return nil
	} else if err != nil {
		return err
	}
	e.cfg.Metrics.TaskEnded(string(out.Status()), out.Code, e.now().Sub(began), out.Usage.InputTokens, out.Usage.OutputTokens)
	if out.Replay != nil {
		e.cfg.Metrics.RecipeRun(out.Replay.Mode)
	}
	log.InfoContext(ctx, "task ended", "status", out.Status(), "code", out.Code)
	return nil
}

// release hands back a task this node is stopping in the middle of, so that
// another node (or this one, started again) runs it at once rather than
// after the rescue delay. If that fails the job fails with cause, and the
// queue's retry or the rescue runs the task again later.
func (e *Engine) release(ctx context.Context, taskID string, cause error) error {
	log := e.log.With("taskId", taskID)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	err := e.st.ReleaseTask(rctx, taskID, e.cfg.NodeID)
	switch {
	case err == nil:
		log.InfoContext(ctx, "task interrupted by shutdown; queued again to run from the start")
		return nil // the release queued a new run job
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return nil // rescued or ended meanwhile: not this node's any more
	default:
		log.WarnContext(ctx, "task interrupted by shutdown; handing it back failed, it runs again after the rescue delay", "err", err)
		return cause
	}
}

// runAgent runs the agent under the task's limits. It returns an error only
// when the task must not be finished here: ctx (this node's work) was
// cancelled, or errLost.
func (e *Engine) runAgent(ctx context.Context, t task.Task) (task.Outcome, error) {
	started := e.now()
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	maxDur := t.Spec.MaxDuration
	if maxDur <= 0 {
		maxDur = task.DefaultMaxDuration
	}
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, maxDur, context.DeadlineExceeded)
	defer cancelTimeout()

	e.mu.Lock()
	if old, ok := e.running[t.ID]; ok {
		// This node was too slow to heartbeat, its task was rescued and
		// it started it again: the new run supersedes the old one.
		old.stop(errLost)
	}
	e.runs++
	n := e.runs
	e.running[t.ID] = run{stop: stop, n: n}
	e.mu.Unlock()
	t.Spec.Secrets = e.openSecrets(ctx, t)
	defer func() {
		e.mu.Lock()
		if e.running[t.ID].n == n {
			delete(e.running, t.ID)
		}
		e.mu.Unlock()
	}()
	go e.watchCancel(runCtx, t.ID, stop)

	memo := e.monitorMemo(runCtx, t)
	out := e.cfg.Agent.Run(runCtx, task.RunRequest{
		Task: t,
		Step: func(s task.Step) { e.step(ctx, t.ID, s) },
		Memo: memo,
	})
	e.monitorRunEnded(ctx, t, memo, &out)

	switch {
	case ctx.Err() != nil:
		return task.Outcome{Files: out.Files}, ctx.Err()
	case errors.Is(context.Cause(runCtx), errLost):
		return task.Outcome{Files: out.Files}, errLost
	case errors.Is(context.Cause(runCtx), errCancelled):
		out = task.Outcome{Code: task.CodeCancelled, Error: "the task was stopped", Network: out.Network, Usage: out.Usage, Files: out.Files}
	case errors.Is(runCtx.Err(), context.DeadlineExceeded) && out.Status() != task.StatusCompleted:
		out = task.Outcome{
			Code:    task.CodeTaskTimeout,
			Error:   fmt.Sprintf("the task ran past its maxDuration of %d ms", maxDur.Milliseconds()),
			Network: out.Network, Usage: out.Usage, Files: out.Files,
		}
	}
	out.Usage.ComputeTime = e.now().Sub(started).Seconds()
	// A task resumed after a human's answer adds to what it used before.
	out.Usage.InputTokens += t.Usage.InputTokens
	out.Usage.OutputTokens += t.Usage.OutputTokens
	out.Usage.ComputeTime += t.Usage.ComputeTime
	out.Usage.Cost = e.cfg.Prices.Cost(out.Usage)
	if r := out.Replay; r != nil && r.Version > 0 {
		// What a run that replayed saved: the recipe's baseline (the run
		// that did it all with the model) against this run, at our prices.
		r.SavedCost = max(0, e.cfg.Prices.Cost(r.Baseline)-out.Usage.Cost)
	}
	return out, nil
}

// openSecrets unseals a task's secrets for its run. Secrets that do not
// open (sealed by a node with another key) are left out with a warning:
// the agent then tells the model they are unknown, and the task goes on or
// fails on its own terms.
func (e *Engine) openSecrets(ctx context.Context, t task.Task) []task.Secret {
	if len(t.SealedSecrets) == 0 {
		return nil
	}
	var secrets []task.Secret
	plain, err := e.cfg.Secrets.Open(t.SealedSecrets, t.ID)
	if err == nil {
		err = json.Unmarshal(plain, &secrets)
	}
	if err != nil {
		e.log.WarnContext(ctx, "the task's secrets cannot be used on this node", "taskId", t.ID, "err", err)
		return nil
	}
	return secrets
}

// watchCancel stops a running task when a stop was requested through the
// store (from another node).
func (e *Engine) watchCancel(ctx context.Context, taskID string, stop context.CancelCauseFunc) {
	tick := time.NewTicker(e.cfg.CancelPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t, err := e.st.TaskByID(ctx, taskID)
			if err == nil && t.CancelRequested {
				stop(errCancelled)
				return
			}
		}
	}
}

func (e *Engine) step(ctx context.Context, taskID string, s task.Step) {
	if s.At.IsZero() {
		s.At = e.now()
	}
	if err := e.st.AppendStep(context.WithoutCancel(ctx), taskID, s); err != nil {
		e.log.WarnContext(ctx, "step not recorded", "taskId", taskID, "err", err)
		return
	}
	e.cfg.Metrics.Step()
	e.wake(taskID) // progress streams show it at once
}

// finish records a task's outcome together with the webhook deliveries it
// owes (one transaction), then wakes whoever waits for it.
func (e *Engine) finish(ctx context.Context, t task.Task, out task.Outcome) error {
	now := e.now()
	ended := t
	ended.Status = out.Status()
	ended.Message = out.Message
	ended.Network = out.Network
	ended.Usage = out.Usage
	ended.Replay = out.Replay
	ended.ErrorCode = out.Code
	ended.ErrorMessage = out.Error
	ended.Question = out.Question
	ended.EndedAt = now
	files := e.newFiles(out)
	if ended.Status == task.StatusCompleted {
		// The webhook lists the task's files: those of a run before a
		// human's answer, then this run's.
		earlier, err := e.st.Files(context.WithoutCancel(ctx), t.ID)
		if err != nil {
			return fmt.Errorf("files: %w", err)
		}
		ended.Files = append(earlier, files...)
	}

	p := store.FinishParams{
		TaskID: t.ID, Outcome: out, At: now, Runner: e.cfg.NodeID,
		TerminateSession: t.Spec.TerminateOnCompletion && ended.Status.Final(),
		Files:            files,
	}
	if wh := t.Spec.Webhook; wh.Subscribes(out.Event()) {
		body, err := webhook.Body(ended, out.Event(), wh.SubmittedData)
		if err != nil {
			return fmt.Errorf("webhook body: %w", err)
		}
		attempts := wh.MaxAttempts
		if attempts < 1 {
			attempts = 1
		}
		p.Deliveries = append(p.Deliveries, task.Delivery{
			ID: task.NewID("msg"), TaskID: t.ID, SessionID: t.SessionID, TenantID: t.TenantID,
			// The credentials travel as the task holds them: sealed for
			// the task, opened only by the dispatcher to send.
			Event: out.Event(), URL: wh.URL, Auth: wh.Auth, Secret: wh.Secret,
			SealedCredentials: wh.SealedCredentials, Body: body,
			MaxAttempts: attempts, State: task.DeliveryPending, CreatedAt: now,
		})
	}
	if t.Spec.Monitor != nil && ended.Status.Final() {
		st, err := e.settleMonitor(ctx, ended, out)
		if err != nil {
			return err
		}
		p.Monitor = st
	}
	// The outcome must be recorded even if this node is stopping.
	if err := e.st.FinishTask(context.WithoutCancel(ctx), p); err != nil {
		return err
	}
	if len(p.Deliveries) > 0 || (p.Monitor != nil && len(p.Monitor.Deliveries) > 0) {
		e.out.Notify()
	}
	if t.Spec.Monitor != nil && ended.Status.Final() {
		// A monitor keeps its browser storage in the store, not in this
		// node's browser: its context is not held between runs.
		e.endSession(t.SessionID)
	}
	if p.TerminateSession {
		e.endSession(t.SessionID)
	}
	e.wake(t.ID)
	return nil
}

// finishIgnoringRace finishes a task; a task that ended meanwhile (stopped,
// terminated) is not an error for the queue.
func (e *Engine) finishIgnoringRace(ctx context.Context, t task.Task, out task.Outcome) error {
	err := e.finish(ctx, t, out)
	if errors.Is(err, store.ErrConflict) {
		e.wake(t.ID)
		return nil
	}
	return err
}
