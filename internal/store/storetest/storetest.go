// Package storetest is the one test suite every store implementation must
// pass, so that SQLite and PostgreSQL behave the same to the engine and the
// API. It tests behaviour through store.Store only, with the real queue
// running real jobs.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// OpenFunc opens a new, empty store for one test, with zero Options. It
// also returns reopen, which opens the same data again with o; the suite
// calls it only after it has stopped and closed the store it had. The suite
// stops and closes every store it gets; OpenFunc's own resources (files,
// databases) are for it to clean up, with t.Cleanup.
type OpenFunc func(t *testing.T) (s store.Store, reopen func(t *testing.T, o Options) store.Store)

// Options are the store settings a test may ask for when it reopens.
type Options struct {
	// Credentials is the key the store seals webhook credentials still in
	// clear with when it opens (sqlite.Config.Credentials,
	// postgres.Config.Credentials).
	Credentials *seal.Box
}

// Run runs the suite against the stores open gives.
func Run(t *testing.T, open OpenFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Keys", testKeys},
		{"TenantIsolation", testTenantIsolation},
		{"CreateSession", testCreateSession},
		{"SessionState", testSessionState},
		{"TasksRunOneAtATimeInOrder", testOrdering},
		{"SessionsRunInParallel", testParallelSessions},
		{"FinishTaskOwesDeliveries", testFinishTask},
		{"FinishFinalTaskConflicts", testFinishFinal},
		{"StartTask", testStartTask},
		{"StartTaskRace", testStartTaskRace},
		{"HeartbeatKeepsTask", testHeartbeat},
		{"RescueRunsTaskAgain", testRescue},
		{"ReleaseTaskRunsItAgain", testReleaseTask},
		{"SealedSecretsKeptUntilTheEnd", testSealedSecrets},
		{"RescueConcurrent", testRescueConcurrent},
		{"StartTaskReportsPreviousRunner", testPreviousRunner},
		{"NextRunPrefersLastRunner", testAffinity},
		{"RequestCancel", testRequestCancel},
		{"GuardrailWaitAndAnswer", testGuardrail},
		{"TerminateSession", testTerminate},
		{"TerminateOnCompletion", testTerminateOnCompletion},
		{"Steps", testSteps},
		{"AttemptsAndDeliveryState", testAttempts},
		{"Redeliver", testRedeliver},
		{"RetryErrorReschedules", testRetryError},
		{"ClaimLeasesOnce", testClaimConcurrent},
		{"ReleaseDeliveries", testRelease},
		{"ReleaseKeepsRedeliveryDue", testReleaseRedo},
		{"HandlerErrorRetried", testHandlerError},
		{"StopHandsRunningJobsBack", testStopHandsBack},
		{"PersistsAcrossReopen", testPersistence},
		{"QueuedJobSurvivesReopen", testQueuedJobSurvivesReopen},
		{"FinishOnlyByRunner", testFinishOnlyByRunner},
		{"Health", testHealth},
		{"CredentialsSealedOnOpen", testCredentialsSealedOnOpen},
		{"RedeliverCarriesCredentials", testRedeliverCredentials},
		{"Recipes", testRecipes},
		{"RecipesPerTenant", testRecipeTenants},
		{"RecipeVersionsConcurrent", testRecipeVersionsConcurrent},
	}
	tests = append(tests, traceTests...)
	tests = append(tests, monitorTests...)
	tests = append(tests, fileTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t, open))
		})
	}
}

// harness owns the store under test: it stops and closes it at the end, and
// can swap it for a reopened one.
type harness struct {
	t       *testing.T
	s       store.Store
	reopenF func(t *testing.T, o Options) store.Store
	started bool
}

func newHarness(t *testing.T, open OpenFunc) *harness {
	t.Helper()
	s, reopen := open(t)
	h := &harness{t: t, s: s, reopenF: reopen}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.t.Helper()
	if h.s == nil {
		return
	}
	if h.started {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.s.StopQueue(ctx); err != nil {
			h.t.Errorf("StopQueue: %v", err)
		}
		h.started = false
	}
	if err := h.s.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	h.s = nil
}

// reopen closes the store and opens the same data again.
func (h *harness) reopen() store.Store {
	h.t.Helper()
	return h.reopenWith(Options{})
}

// reopenWith closes the store and opens the same data again with o.
func (h *harness) reopenWith(o Options) store.Store {
	h.t.Helper()
	h.close()
	h.s = h.reopenF(h.t, o)
	return h.s
}

// start works the queue with hs, as node runnerA: the runs of sessions
// whose last task started on runnerA are offered to this queue first.
func (h *harness) start(hs store.Handlers) {
	h.t.Helper()
	h.startWith(hs, store.QueueConfig{NodeID: runnerA})
}

// startWith works the queue with hs and cfg, with the suite's worker count
// and polling unless cfg sets them.
func (h *harness) startWith(hs store.Handlers, cfg store.QueueConfig) {
	h.t.Helper()
	if cfg.TaskWorkers == 0 {
		cfg.TaskWorkers = 4
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if err := h.s.StartQueue(context.Background(), hs, cfg); err != nil {
		h.t.Fatalf("StartQueue: %v", err)
	}
	h.started = true
}

// handlers is a store.Handlers made of functions; a nil one succeeds.
type handlers struct {
	runTask func(ctx context.Context, taskID string) error
}

func (h handlers) RunTask(ctx context.Context, taskID string) error {
	if h.runTask == nil {
		return nil
	}
	return h.runTask(ctx, taskID)
}

// nothingToDo is what the engine makes of ErrConflict from StartTask or
// FinishTask: the run job came for a task already started or ended by
// another job (the fallback of a run offered to a node, see
// store.QueueConfig.NodeID, or a rescued task's old job), so it ends
// quietly instead of being retried.
func nothingToDo(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// recorder remembers calls in order, safely across workers.
type recorder struct {
	mu    sync.Mutex
	calls []string
	at    []time.Time
}

func (r *recorder) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, id)
	r.at = append(r.at, time.Now())
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) count(id string) int {
	n := 0
	for _, c := range r.list() {
		if c == id {
			n++
		}
	}
	return n
}

// waitLimit bounds every wait for the queue: generous, since the machine
// may be slow, and never a measure of speed.
const waitLimit = 20 * time.Second

// eventually fails the test unless cond becomes true within waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Node names for StartTask and HeartbeatTasks.
const (
	runnerA = "node-a"
	runnerB = "node-b"
)

// base is a fixed time with milliseconds, the precision stores keep.
var base = time.Date(2025, 1, 15, 10, 30, 0, 123_000_000, time.UTC)

func ctxT(t *testing.T) context.Context { return t.Context() }

func newSession(tenant string) task.Session {
	return task.Session{ID: task.NewID("sess"), TenantID: tenant, State: task.SessionActive, CreatedAt: base, LastActive: base}
}

func newTask(details string) *task.Task {
	return &task.Task{
		ID: task.NewID("task"), Status: task.StatusQueued, CreatedAt: base,
		Spec: task.Spec{TaskDetails: details, MaxDuration: time.Minute, OutputType: task.OutputText},
	}
}

// mustSession creates a session with tasks (the first one as the session's
// initial task) and returns the tasks with their store-assigned fields.
func mustSession(t *testing.T, s store.Store, tenant string, details ...string) (task.Session, []*task.Task) {
	t.Helper()
	sess := newSession(tenant)
	var tasks []*task.Task
	var first *task.Task
	if len(details) > 0 {
		first = newTask(details[0])
		tasks = append(tasks, first)
	}
	if err := s.CreateSession(ctxT(t), sess, first); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	for _, d := range details[min(1, len(details)):] {
		tk := newTask(d)
		tk.SessionID, tk.TenantID = sess.ID, tenant
		if err := s.AddTask(ctxT(t), tk); err != nil {
			t.Fatalf("AddTask: %v", err)
		}
		tasks = append(tasks, tk)
	}
	return sess, tasks
}

func mustTask(t *testing.T, s store.Store, id string) task.Task {
	t.Helper()
	tk, err := s.TaskByID(ctxT(t), id)
	if err != nil {
		t.Fatalf("TaskByID(%s): %v", id, err)
	}
	return tk
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// completeWith finishes a task as completed with message msg.
func completeWith(ctx context.Context, s store.Store, taskID, msg string) error {
	return s.FinishTask(ctx, store.FinishParams{TaskID: taskID, Outcome: task.Outcome{Message: msg}, At: time.Now()})
}

// delivery builds a delivery for a task's outcome.
func delivery(tk *task.Task, ev task.Event, url string, maxAttempts int) task.Delivery {
	return task.Delivery{
		ID: task.NewID("msg"), TaskID: tk.ID, SessionID: tk.SessionID, TenantID: tk.TenantID,
		Event: ev, URL: url, Auth: "Bearer s3cret", Secret: "whsec_abc",
		Body: []byte(`{"type":"` + string(ev) + `"}`), MaxAttempts: maxAttempts,
		State: task.DeliveryPending, CreatedAt: base,
	}
}
