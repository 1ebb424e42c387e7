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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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
	// QueueTasks is the shared queue every working node takes tasks from.
	QueueTasks  = "tasks"
	KindRunTask = "run_task"
	// nodeQueuePrefix starts every node's own queue name (see NodeQueue).
	nodeQueuePrefix = "tasks-"
)

// maxQueueName is River's limit on a queue name (validateQueueName in
// river's client.go): at most 64 characters of lower-case letters and
// digits, separated by single '_', '-' or '|'.
const maxQueueName = 64

// NodeQueue names the River queue of one node: the queue that node works on
// top of QueueTasks, where a session's next task is offered to the node
// that holds the session's browser context. Node ids ("node_abc123...")
// are kept as they are, behind a prefix that keeps them apart from
// QueueTasks; anything River would refuse in a queue name is replaced, and
// a short hash of the original id is then appended so that two ids that
// only differ in such characters still get queues of their own (sharing
// one would only cost affinity, never correctness: StartTask lets one run
// win).
func NodeQueue(nodeID string) string {
	var b strings.Builder
	changed := false
	lastSep := true // no separator first
	for _, r := range nodeID {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			lastSep = false
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
			lastSep = false
			changed = true
		case (r == '_' || r == '-') && !lastSep:
			b.WriteRune(r)
			lastSep = true
		default:
			// '|' is valid too but reads badly; runs of separators and
			// anything else become one '_'.
			if !lastSep {
				b.WriteByte('_')
				lastSep = true
			}
			changed = true
		}
	}
	name := strings.TrimRight(b.String(), "_-")
	if len(name) != b.Len() {
		changed = true
	}
	const hashLen = 8
	room := maxQueueName - len(nodeQueuePrefix)
	if changed || name == "" || len(name) > room {
		sum := sha256.Sum256([]byte(nodeID))
		h := hex.EncodeToString(sum[:])[:hashLen]
		name = strings.TrimRight(name[:min(len(name), room-hashLen-1)], "_-")
		if name == "" {
			name = h
		} else {
			name += "_" + h
		}
	}
	return nodeQueuePrefix + name
}

// MaxAttempts is how many times River may start a job before discarding it.
// It is high because the engine counts webhook attempts itself and a task's
// runs are bounded by the engine too: River's count only grows through
// crashes, rescues and internal handler errors, and none of those should ever
// make River drop a job that a committed transaction owed.
const MaxAttempts = 25

// Queue defaults (see store.QueueConfig for their meaning).
const (
	DefaultTaskWorkers  = 8
	DefaultAffinityWait = 2 * time.Second
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
	// Prefer names the node that should run the task, the one holding its
	// session's browser context (see InsertRunTask). It only steers the
	// insert: the job's queue records it, so it is not stored in the args.
	Prefer string `json:"-"`
}

// ScanRunTaskArgs reads a row of a task's id and its maxDuration (in
// nanoseconds, as the spec stores it) as the arguments of its run job: what
// both stores' rescues answer.
func ScanRunTaskArgs(row interface{ Scan(dest ...any) error }) (RunTaskArgs, error) {
	var (
		args        RunTaskArgs
		maxDuration int64
	)
	err := row.Scan(&args.TaskID, &maxDuration)
	args.MaxDuration = time.Duration(maxDuration)
	return args, err
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
	// AffinityWait is how long a run with a preferred node waits for that
	// node before any node may take it, until StartQueue is given a
	// store.QueueConfig.AffinityWait of its own. Default
	// DefaultAffinityWait.
	AffinityWait time.Duration
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
	// affinityWait (a time.Duration) is read by every insert and set by
	// StartQueue, which may come after the first inserts and races them.
	affinityWait atomic.Int64

	mu     sync.Mutex
	worker *river.Client[TTx]
}

// New builds a queue on driver. The database must already hold River's
// schema (rivermigrate).
func New[TTx any](driver riverdriver.Driver[TTx], cfg Config) (*Queue[TTx], error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.AffinityWait <= 0 {
		cfg.AffinityWait = DefaultAffinityWait
	}
	q := &Queue[TTx]{driver: driver, cfg: cfg}
	q.affinityWait.Store(int64(cfg.AffinityWait))
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
//
// Without args.Prefer it is one job in QueueTasks, which any working node
// takes. With it, it is two jobs: one in NodeQueue(args.Prefer), due now,
// which only that node works (it normally starts the task within a poll),
// and a fallback in QueueTasks due AffinityWait later, for when that node
// is gone or too busy to take it. Both run the handler; StartTask lets only
// the first start the task, and the other finds it running or done and
// does nothing. The cost is one extra, cheap job per run with a
// preference, in exchange for not needing to know whether a node is alive.
func (q *Queue[TTx]) InsertRunTask(ctx context.Context, tx TTx, args RunTaskArgs) error {
	if args.Prefer == "" {
		if _, err := q.inserter.InsertTx(ctx, tx, args, nil); err != nil {
			return fmt.Errorf("queue: insert run_task %s: %w", args.TaskID, err)
		}
		return nil
	}
	// A scheduled job waits for River's scheduler (run by the leader every
	// 5s, JobSchedulerIntervalDefault, not configurable) to make it
	// available; the scheduler looks 5s ahead and fetches skip jobs not yet
	// due, so the fallback runs at the later of its due time and the
	// scheduler's next pass: after AffinityWait, and at most about 5s
	// after it is inserted if AffinityWait is shorter.
	fallback := time.Now().Add(q.AffinityWait())
	_, err := q.inserter.InsertManyTx(ctx, tx, []river.InsertManyParams{
		{Args: args, InsertOpts: &river.InsertOpts{Queue: NodeQueue(args.Prefer), MaxAttempts: MaxAttempts}},
		{Args: args, InsertOpts: &river.InsertOpts{Queue: QueueTasks, MaxAttempts: MaxAttempts, ScheduledAt: fallback}},
	})
	if err != nil {
		return fmt.Errorf("queue: insert run_task %s for %s: %w", args.TaskID, args.Prefer, err)
	}
	return nil
}

// AffinityWait is how long a run with a preferred node currently waits for
// it (see InsertRunTask).
func (q *Queue[TTx]) AffinityWait() time.Duration {
	return time.Duration(q.affinityWait.Load())
}

// withDefaults fills the zero fields of cfg.
func withDefaults(cfg store.QueueConfig) store.QueueConfig {
	if cfg.TaskWorkers <= 0 {
		cfg.TaskWorkers = DefaultTaskWorkers
	}
	if cfg.AffinityWait <= 0 {
		cfg.AffinityWait = DefaultAffinityWait
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
	if cfg.AffinityWait <= 0 {
		// Keep what the store was opened with rather than the default.
		cfg.AffinityWait = q.AffinityWait()
	}
	cfg = withDefaults(cfg)

	q.mu.Lock()
	defer q.mu.Unlock()
	if q.worker != nil {
		return errors.New("queue: already started")
	}
	queues := map[string]river.QueueConfig{
		QueueTasks: {MaxWorkers: cfg.TaskWorkers},
	}
	if cfg.NodeID != "" {
		// The runs offered to this node alone, with workers of their own:
		// River limits workers per queue, so a node may run up to twice
		// TaskWorkers tasks when both queues are full. One shared limit
		// would need a semaphore in the worker, where a job waiting for it
		// would hold a task another node could be running.
		queues[NodeQueue(cfg.NodeID)] = river.QueueConfig{MaxWorkers: cfg.TaskWorkers}
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
		Queues:            queues,
		Workers:           workers,
		MaxAttempts:       MaxAttempts,
		RetryPolicy:       backoff{},
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
	q.affinityWait.Store(int64(cfg.AffinityWait))
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
	ctx = context.WithValue(ctx, jobQueueKey{}, job.Queue)
	return snoozeOnRetry(w.h.RunTask(ctx, job.Args.TaskID))
}

type jobQueueKey struct{}

// JobQueue names the queue of the job a handler was called for (QueueTasks
// or a NodeQueue), or "" outside a job: whether a run came through its
// node's queue or the fallback, for logs, metrics and tests.
func JobQueue(ctx context.Context) string {
	s, _ := ctx.Value(jobQueueKey{}).(string)
	return s
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
