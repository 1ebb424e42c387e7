// Package queue is the River glue every store implementation shares: the
// job errand queues (run a task), the worker that hands it to a
// store.Handlers, and insert helpers a store calls inside its
// own transactions so that a job exists if and only if the state change that
// owes it committed.
//
// It is generic over the driver's transaction type so that the SQLite store
// (database/sql) and the PostgreSQL store (pgx) use the same code.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// Queue and job kind names. They are stored in the database: renaming one
// strands the jobs already queued under the old name.
const (
	QueueTasks  = "tasks"
	KindRunTask = "run_task"
)

// MaxAttempts is how many times River may start a job before discarding it.
// It is high because the engine counts webhook attempts itself and a task's
// runs are bounded by the engine too: River's count only grows through
// crashes, rescues and internal handler errors, and none of those should ever
// make River drop a job that a committed transaction owed.
const MaxAttempts = 25

// Queue defaults (see store.QueueConfig for their meaning).
const (
	DefaultTaskWorkers  = 8
	DefaultPollInterval = 20 * time.Millisecond
	DefaultRescueAfter  = 60 * time.Second
)

// RunTaskArgs is the job that runs (or resumes) one task.
type RunTaskArgs struct {
	TaskID string `json:"taskId"`
	// MaxDuration is the task's own limit. The engine enforces it; River
	// only uses it to know how long a run may legitimately take before the
	// job counts as stuck (see taskWorker.Timeout). Zero means
	// task.DefaultMaxDuration.
	MaxDuration time.Duration `json:"maxDuration,omitempty"`
}

// Kind is the job kind stored in the database.
func (RunTaskArgs) Kind() string { return KindRunTask }

// InsertOpts routes the job to the tasks queue.
func (RunTaskArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTasks, MaxAttempts: MaxAttempts}
}

// Config is what a store knows about its database when it builds its queue.
type Config struct {
	// Logger receives River's logs. Default: warnings and errors to stderr,
	// because River logs every retried job at info level.
	Logger *slog.Logger
	// PollOnly makes River look for new jobs every PollInterval instead of
	// waiting for notifications. Set it for SQLite, which has no
	// LISTEN/NOTIFY (River's SQLite listener itself polls, more slowly).
	// Default false.
	PollOnly bool
}

// Queue inserts and works errand's jobs.
//
// Inserting and working use two River clients on the same driver. Workers and
// their limits come from store.QueueConfig, which a store only receives in
// StartQueue, while a store must be able to enqueue from the moment it is
// opened (an API node may never work jobs at all). River fixes a client's
// queues at construction, so an insert-only client is built by New and the
// working client by StartQueue.
type Queue[TTx any] struct {
	driver   riverdriver.Driver[TTx]
	cfg      Config
	inserter *river.Client[TTx]

	mu     sync.Mutex
	worker *river.Client[TTx]
}

// New builds a queue on driver. The database must already hold River's
// schema (rivermigrate).
func New[TTx any](driver riverdriver.Driver[TTx], cfg Config) (*Queue[TTx], error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	q := &Queue[TTx]{driver: driver, cfg: cfg}
	// The workers are registered on the inserter only so that River checks
	// at insert time that a kind is known; they never run there.
	workers := river.NewWorkers()
	river.AddWorker(workers, &taskWorker{})
	inserter, err := river.NewClient(driver, &river.Config{
		Logger:      cfg.Logger,
		MaxAttempts: MaxAttempts,
		Workers:     workers,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: inserter: %w", err)
	}
	q.inserter = inserter
	return q, nil
}

// InsertRunTask enqueues a run of a task inside tx.
func (q *Queue[TTx]) InsertRunTask(ctx context.Context, tx TTx, args RunTaskArgs) error {
	if _, err := q.inserter.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("queue: insert run_task %s: %w", args.TaskID, err)
	}
	return nil
}

// withDefaults fills the zero fields of cfg.
func withDefaults(cfg store.QueueConfig) store.QueueConfig {
	if cfg.TaskWorkers <= 0 {
		cfg.TaskWorkers = DefaultTaskWorkers
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = DefaultRescueAfter
	}
	return cfg
}

// StartQueue starts working jobs with h until StopQueue. The ctx only
// carries values: the queue runs until StopQueue, not until ctx ends, so a
// caller cannot stop it by accident with a short-lived context.
func (q *Queue[TTx]) StartQueue(ctx context.Context, h store.Handlers, cfg store.QueueConfig) error {
	if h == nil {
		return errors.New("queue: nil handlers")
	}
	cfg = withDefaults(cfg)

	q.mu.Lock()
	defer q.mu.Unlock()
	if q.worker != nil {
		return errors.New("queue: already started")
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &taskWorker{h: h, rescueAfter: cfg.RescueAfter})
	client, err := river.NewClient(q.driver, &river.Config{
		Logger: q.cfg.Logger,
		// Poll as often as asked: on SQLite polling is the only way a node
		// learns of new jobs, and a poll is one cheap indexed read.
		FetchPollInterval: cfg.PollInterval,
		FetchCooldown:     cfg.PollInterval,
		PollOnly:          q.cfg.PollOnly,
		Queues: map[string]river.QueueConfig{
			QueueTasks: {MaxWorkers: cfg.TaskWorkers},
		},
		Workers:     workers,
		MaxAttempts: MaxAttempts,
		RetryPolicy: backoff{},
		// The task worker sets its own timeout (taskWorker.Timeout); the
		// client's only matters to River's check that a job is not rescued
		// while it may still run.
		JobTimeout: cfg.RescueAfter,
		// River's default of an hour would leave the tasks of a dead node
		// hanging that long; tasks get their maxDuration on top of this
		// (taskWorker.Timeout).
		RescueStuckJobsAfter: cfg.RescueAfter,
	})
	if err != nil {
		return fmt.Errorf("queue: worker client: %w", err)
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("queue: start: %w", err)
	}
	q.worker = client
	return nil
}

// hardStopGrace is how long StopQueue waits, once its ctx has ended, for
// cancelled jobs to return so that River records them as retryable instead
// of leaving them "running" until a rescue.
const hardStopGrace = 5 * time.Second

// StopQueue stops fetching jobs and waits for running ones until ctx ends.
// Jobs still running then have their context cancelled; they are retried
// later (here or, after a crash, by a rescue). StopQueue on a queue that was
// never started does nothing.
func (q *Queue[TTx]) StopQueue(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.worker == nil {
		return nil
	}
	client := q.worker
	err := client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		hardCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hardStopGrace)
		defer cancel()
		if herr := client.StopAndCancel(hardCtx); herr != nil {
			return fmt.Errorf("queue: stop: %w (and hard stop: %v)", err, herr)
		}
	}
	q.worker = nil
	if err != nil {
		return fmt.Errorf("queue: stop: %w", err)
	}
	return nil
}

// taskWorker runs tasks.
type taskWorker struct {
	river.WorkerDefaults[RunTaskArgs]
	h           store.Handlers
	rescueAfter time.Duration
}

// Timeout is not a limit on the task (the engine enforces maxDuration and
// fails the task itself) but a backstop past it, and the age at which
// River's rescuer may take the job from a dead node: River never rescues a
// job whose timeout is infinite. The task itself does not wait for that:
// its lease goes stale and RescueTasks queues it with a new job. The old
// job, rescued later, then finds the task done or running (StartTask
// refuses it), or races the new job for it, and StartTask lets one win.
func (w *taskWorker) Timeout(job *river.Job[RunTaskArgs]) time.Duration {
	d := job.Args.MaxDuration
	if d <= 0 {
		d = task.DefaultMaxDuration
	}
	return d + w.rescueAfter
}

// NextRetry backs off quickly: handler errors are internal hiccups (a busy
// database), not webhook failures, which the engine schedules itself.
func (w *taskWorker) NextRetry(job *river.Job[RunTaskArgs]) time.Time {
	return backoff{}.NextRetry(job.JobRow)
}

func (w *taskWorker) Work(ctx context.Context, job *river.Job[RunTaskArgs]) error {
	return snoozeOnRetry(w.h.RunTask(ctx, job.Args.TaskID))
}

func snoozeOnRetry(err error) error {
	var re *store.RetryError
	if errors.As(err, &re) {
		return river.JobSnooze(max(re.Delay, 0))
	}
	return err
}

// backoff retries after 1s, 2s, 4s... capped at 30s. River's default
// policy grows to hours, which suits flaky third parties, not a store that
// was briefly busy.
type backoff struct{}

const (
	backoffBase = time.Second
	backoffMax  = 30 * time.Second
)

func (backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := backoffMax
	if n := job.Attempt - 1; n >= 0 && n < 5 {
		d = min(backoffBase<<n, backoffMax)
	}
	return time.Now().Add(d)
}
