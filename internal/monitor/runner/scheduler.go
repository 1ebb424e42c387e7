package runner

import (
	"context"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/store"
)

// Start starts the scheduler: it asks the store for due monitors and
// starts their runs, then sleeps until the next monitor is due (at most
// Poll, at least 20ms). Every node runs one; the store's claim
// gives each due tick to exactly one of them. A Runner starts once.
func (r *Runner) Start() {
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	go r.loop()
}

// Stop stops the scheduler and waits for its claim in progress, if any,
// until ctx ends. Runs already started are the engine's to finish.
func (r *Runner) Stop(ctx context.Context) error {
	if r.stop == nil {
		return nil
	}
	close(r.stop)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// minWait is the least time between two claims: runs coming due within
// it are claimed together, in one transaction.
const minWait = 20 * time.Millisecond

func (r *Runner) loop() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.stop
		cancel()
	}()
	for {
		if _, err := r.ClaimDue(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("claiming due monitors failed", "err", err)
		}
		timer := time.NewTimer(r.wait(ctx))
		select {
		case <-r.stop:
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// wait is how long the scheduler sleeps: until the next monitor is due
// (another node's new monitor is seen within Poll), at least minWait.
func (r *Runner) wait(ctx context.Context) time.Duration {
	next, ok, err := r.st.NextMonitorDue(ctx)
	if err != nil || !ok {
		return r.cfg.Poll
	}
	return min(max(next.Sub(r.now()), minWait), r.cfg.Poll)
}

// Claimed is what one ClaimDue did.
type Claimed struct {
	// Started lists the runs started.
	Started []monitor.Run
	// Skipped counts the ticks skipped because a run was still going.
	Skipped int
}

// ClaimDue starts the runs of the monitors due now, in batches of Batch
// claimed in one transaction each, until none is left.
func (r *Runner) ClaimDue(ctx context.Context) (Claimed, error) {
	var out Claimed
	for {
		now := r.now()
		got, err := r.st.ClaimMonitors(ctx, store.ClaimMonitorsParams{
			Now: now, Limit: r.cfg.Batch,
			Next: func(m monitor.Monitor) time.Time { return r.next(m, now) },
			Task: r.runTask,
		})
		if err != nil {
			return out, err
		}
		for _, c := range got {
			if c.Run == nil {
				out.Skipped++
				r.log.Info("monitor tick skipped: its previous run is still going", "monitorId", c.MonitorID, "dueAt", c.DueAt)
				continue
			}
			out.Started = append(out.Started, *c.Run)
		}
		if len(got) < r.cfg.Batch {
			return out, nil
		}
	}
}
