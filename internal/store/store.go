// Package store defines how errand persists sessions, tasks, results, step
// logs, webhook deliveries and API keys, and how it queues work. Each
// technology lives in its own sub-package (sqlite, postgres) and every one of
// them must pass the shared suite in storetest.
//
// Two rules every implementation keeps:
//   - A task's final state and the webhook deliveries it owes are written in
//     one transaction, together with the queue jobs that send them
//     (transactional outbox): a task never ends without its notification
//     being owed.
//   - The tasks of a session run one at a time, in order: a session has run
//     jobs queued or running for one task only, its "head" (one job, or two
//     when the run prefers the session's last node: see QueueConfig.NodeID;
//     StartTask lets one of them start it), and finishing the head enqueues
//     the next queued task in the same transaction.
package store

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/task"
)

// Errors of the store.
var (
	// ErrNotFound: no such row (or it belongs to another tenant).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the row is not in a state that allows the change (a task
	// already final, a task that is not queued, a session terminated...).
	ErrConflict = errors.New("store: conflict")
)

// Key is a stored API key: only the hash of the secret is kept.
type Key struct {
	ID        string
	Name      string
	TenantID  string
	Hash      string // hex SHA-256 of the key
	CreatedAt time.Time
}

// SessionInfo is a session with what the API needs to judge it.
type SessionInfo struct {
	task.Session
	// Busy: the session has a task queued, running or waiting for a human.
	Busy bool
}

// FinishParams ends a run of a task: a final state (completed, failed,
// cancelled) or a wait for a human (guardrail_trigger).
type FinishParams struct {
	TaskID  string
	Outcome task.Outcome
	At      time.Time
	// Deliveries owed for this outcome; written, with their queue jobs, in
	// the same transaction as the task's new state.
	Deliveries []task.Delivery
	// Runner, when set, is the node finishing the run: a running task is
	// then finished only by the node that runs it, so a node whose task was
	// rescued (it stopped heartbeating) and given to another cannot end it
	// too.
	Runner string
	// TerminateSession ends the session too (terminateOnCompletion):
	// the session becomes terminated and no further task of it runs.
	TerminateSession bool
	// Monitor settles the run when the task is a monitor's check (see
	// MonitorSettlement): in the same transaction.
	Monitor *MonitorSettlement
	// Files are stored with the outcome, in the same transaction, after
	// the task's earlier files (a run before a human's answer): IDs set by
	// the caller, bytes read from Path (see Files).
	Files []task.File
}

// RedeliverParams makes a delivery due again (Store.Redeliver).
type RedeliverParams struct {
	ID string
	// URL, when not empty, is where the delivery goes from now on, and
	// SealedCredentials then replaces its sealed credentials (the caller
	// sealed the new URL's userinfo with the Auth and Secret it had; see
	// task.Delivery.SealCredentials). Nil SealedCredentials keeps none
	// sealed and Auth and Secret as they are.
	URL               string
	SealedCredentials []byte
	// MaxAttempts more attempts are allowed (at least 1).
	MaxAttempts int
}

// Depths is what waits in the store.
type Depths struct {
	TasksQueued       int64
	TasksRunning      int64
	DeliveriesPending int64
}

// Handlers is what the queue calls. A returned *RetryError reschedules the
// job after its delay without counting as a failure; any other error is
// retried by the queue after a short back-off.
//
// Webhook deliveries do not go through the job queue: the deliveries table
// is itself the outbox, leased in batches by ClaimDeliveries and settled in
// batches by RecordAttempts. Measured on SQLite, a River job per delivery
// capped deliveries near 850/s; the outbox serves several thousand.
type Handlers interface {
	RunTask(ctx context.Context, taskID string) error
}

// RetryError asks the queue to run the job again after Delay.
type RetryError struct{ Delay time.Duration }

func (e *RetryError) Error() string { return "retry after " + e.Delay.String() }

// Lost lists, in order, the ids of asked that are not among kept: for
// implementations of HeartbeatTasks.
func Lost(asked, kept []string) []string {
	var lost []string
	for _, id := range asked {
		if !slices.Contains(kept, id) {
			lost = append(lost, id)
		}
	}
	return lost
}

// QueueConfig tunes the job queue. Zero values take the defaults shown.
type QueueConfig struct {
	// TaskWorkers is how many tasks run at once on this node. Default 8.
	TaskWorkers int
	// NodeID names this node: a session's next task is offered first to
	// the node that ran its previous one (its browser context lives
	// there), and taken by any node after AffinityWait. Default: none (no
	// preference).
	NodeID string
	// AffinityWait is how long a task waits for its session's node before
	// any node may run it. Default 2s.
	AffinityWait time.Duration
	// PollInterval is how often an idle node looks for new jobs. Default 20ms.
	PollInterval time.Duration
	// RescueAfter is how long a job may stay running on a node before
	// another node takes it over. Default 60s (longer for tasks: their
	// maxDuration is added).
	RescueAfter time.Duration
}

// Store is errand's persistence and queue.
type Store interface {
	Monitors

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// MigrationsCurrent reports whether every schema migration this build
	// knows, errand's and the queue's, is applied: nil, or an error that
	// names the missing versions and nothing else (readiness shows it).
	MigrationsCurrent(ctx context.Context) error
	// Close releases the store; StopQueue first.
	Close() error

	CreateKey(ctx context.Context, k Key) error
	// TenantByKeyHash answers ErrNotFound for an unknown key.
	TenantByKeyHash(ctx context.Context, hash string) (string, error)

	// CreateSession stores a new session and, if first is not nil, its
	// first task (queued, and enqueued to run).
	CreateSession(ctx context.Context, s task.Session, first *task.Task) error
	// Session answers ErrNotFound when the session does not exist for that
	// tenant.
	Session(ctx context.Context, tenantID, sessionID string) (SessionInfo, error)
	// SetSessionState pauses or resumes a session. ErrConflict if terminated.
	SetSessionState(ctx context.Context, sessionID string, state task.SessionState, at time.Time) error
	// TouchSession records activity (keeps the session from expiring).
	TouchSession(ctx context.Context, sessionID string, at time.Time) error
	// TerminateSession marks the session terminated (no further task of it
	// starts) and returns its tasks that are not final yet, in order; the
	// caller finishes them (cancelled). ErrConflict if already terminated.
	TerminateSession(ctx context.Context, sessionID string, at time.Time) ([]task.Task, error)

	// AddTask queues a task at the end of its session (Seq is assigned) and
	// enqueues it to run if the session has nothing else queued or running.
	// ErrConflict if the session is terminated.
	AddTask(ctx context.Context, t *task.Task) error
	// Task answers ErrNotFound when the task does not exist in that
	// session for that tenant.
	Task(ctx context.Context, tenantID, sessionID, taskID string) (task.Task, error)
	// ActiveTasks lists a session's tasks that are not final yet (queued,
	// running, waiting for a human), in order. (Added by the lead while the
	// engine was written: stop and guardrail answers need the running or
	// waiting task.)
	ActiveTasks(ctx context.Context, sessionID string) ([]task.Task, error)
	// TaskByID loads a task for the runner, whatever its tenant.
	TaskByID(ctx context.Context, taskID string) (task.Task, error)
	// StartTask moves a queued task to running on node runner
	// (Attempts+1, StartedAt set on first start, heartbeat at at), records
	// runner as the session's last runner, and returns the task with
	// PreviousRunner set to the session's last runner before this start. ErrConflict for any other state: a running task belongs to
	// its runner until RescueTasks gives it back.
	StartTask(ctx context.Context, taskID, runner string, at time.Time) (task.Task, error)
	// HeartbeatTasks records that runner is still running these tasks and
	// returns those of them that no longer run on runner: rescued (and
	// perhaps started elsewhere), ended, or unknown. runner must stop
	// running those; it can no longer finish them anyway (FinishParams).
	HeartbeatTasks(ctx context.Context, runner string, taskIDs []string, at time.Time) (lost []string, err error)
	// ReleaseTask gives a task that runner is running back to the queue at
	// once, with a new run job preferring no node, as RescueTasks does for
	// a dead node: runner is stopping and will not finish it. ErrConflict
	// if the task does not run on runner (any more), ErrNotFound if there
	// is no such task.
	ReleaseTask(ctx context.Context, taskID, runner string) error
	// RescueTasks queues again, each with a new run job, the running tasks
	// whose last heartbeat is before staleBefore (their node died), and
	// returns their ids. Safe to call from every node at once.
	RescueTasks(ctx context.Context, staleBefore, at time.Time) ([]string, error)
	// RequestCancel flags a task so its runner stops it.
	RequestCancel(ctx context.Context, taskID string) error
	// FinishTask ends a run of a task, see FinishParams. ErrConflict if the
	// task is already final.
	FinishTask(ctx context.Context, p FinishParams) error
	// AnswerGuardrail gives a task waiting for a human its answer and
	// queues it to run again. ErrConflict if it is not waiting.
	AnswerGuardrail(ctx context.Context, taskID, answer string, at time.Time) error

	// AppendStep records one agent step of a task, with its screenshot
	// (s.Screenshot, the task's trace) in the same transaction.
	AppendStep(ctx context.Context, taskID string, s task.Step) error
	// Steps lists a task's steps in order; a step with a screenshot has
	// its Screenshot set without the image (Bytes, size, Omitted).
	Steps(ctx context.Context, taskID string) ([]task.Step, error)
	// Screenshot returns the JPEG of a task's step number index (1-based,
	// in the order of Steps). ErrNotFound when there is no such step or it
	// has no image (none taken, or removed by PruneScreenshots).
	Screenshot(ctx context.Context, taskID string, index int) ([]byte, error)
	// PruneScreenshots enforces the trace retention: see PruneParams.
	PruneScreenshots(ctx context.Context, p PruneParams) (Pruned, error)

	// ListTasks lists a tenant's tasks newest first: see TaskFilter.
	ListTasks(ctx context.Context, f TaskFilter) ([]task.Task, error)
	// ListSessions lists a tenant's sessions newest first: see
	// SessionFilter.
	ListSessions(ctx context.Context, f SessionFilter) ([]SessionSummary, error)

	// Files lists a task's stored files without their bytes (Path empty),
	// in the order they were downloaded.
	Files(ctx context.Context, taskID string) ([]task.File, error)
	// OpenFile opens a stored file of a task to read its bytes, a chunk
	// at a time; the caller closes it. ErrNotFound when the task has no
	// such file.
	OpenFile(ctx context.Context, taskID, fileID string) (task.File, io.ReadCloser, error)
	// DeleteTask deletes a tenant's task and everything of it: its result,
	// step log (and trace), deliveries and their attempts, and files.
	// ErrNotFound when the tenant has no such task in that session;
	// ErrConflict while the task is not final or a delivery of it is
	// still pending (a webhook it owes would be lost).
	DeleteTask(ctx context.Context, tenantID, sessionID, taskID string) error

	// Delivery loads a delivery, its credentials as they are stored
	// (sealed: see task.Delivery.SealedCredentials).
	Delivery(ctx context.Context, id string) (task.Delivery, error)
	// ClaimDeliveries leases up to p.Limit pending deliveries that are due
	// and not leased (or whose lease ran out), oldest due first, with their
	// credentials for the sender (sealed, as stored). Two claims never get the same
	// delivery while its lease runs.
	ClaimDeliveries(ctx context.Context, p task.DeliveryClaim) ([]task.Delivery, error)
	// ReleaseDeliveries gives leased deliveries back unsent, due at next.
	ReleaseDeliveries(ctx context.Context, owner string, ids []string, next time.Time) error
	// RecordAttempts stores attempts and their deliveries' new states in
	// one transaction.
	RecordAttempts(ctx context.Context, ps []task.AttemptRecord) error
	// Attempts lists a task's delivery attempts in the order they happened.
	Attempts(ctx context.Context, taskID string) ([]task.Attempt, error)
	// TaskDeliveries lists the deliveries owed for a task, oldest first.
	TaskDeliveries(ctx context.Context, taskID string) ([]task.Delivery, error)
	// Redeliver makes a delivery due again now, see RedeliverParams.
	Redeliver(ctx context.Context, p RedeliverParams) error

	// SaveRecipe stores a new version of a tenant's recipe: Version is the
	// tenant's latest of that name plus one (1 for a new name), and
	// versions older than the newest recipe.KeepVersions are deleted. It
	// returns the version.
	SaveRecipe(ctx context.Context, r recipe.Recipe) (int, error)
	// LatestRecipe loads the newest version of a tenant's recipe;
	// ErrRecipeNotFound when the tenant has none of that name.
	LatestRecipe(ctx context.Context, tenantID, name string) (recipe.Recipe, error)
	// RecordRecipeUse records one task's use of a recipe.
	RecordRecipeUse(ctx context.Context, u recipe.Use) error
	// Recipes lists a tenant's recipes by name, each with its stored
	// versions (newest first) and its uses.
	Recipes(ctx context.Context, tenantID string) ([]recipe.Summary, error)
	// DeleteRecipe deletes every version of a tenant's recipe and its
	// uses; ErrRecipeNotFound when the tenant has none of that name.
	DeleteRecipe(ctx context.Context, tenantID, name string) error

	// Depths counts what waits, across all nodes: for metrics.
	Depths(ctx context.Context) (Depths, error)

	// StartQueue starts working jobs with h until StopQueue.
	StartQueue(ctx context.Context, h Handlers, cfg QueueConfig) error
	// StopQueue stops fetching new jobs and waits for running ones up to
	// ctx's deadline; jobs still running then are left to be retried.
	StopQueue(ctx context.Context) error
}
