// Package engine is errand's application core: it turns API requests into
// sessions and tasks in the store, runs tasks with an Agent when the queue
// hands them over, and writes the webhook deliveries they owe in the same
// transaction as their end. It declares what it needs (Agent,
// SessionEnder, Dispatcher) and depends on no implementation of them: the
// agent (internal/agent) and the webhook dispatcher that sends the owed
// deliveries (internal/webhook) are wired up by cmd/errand, and the HTTP API
// (internal/httpapi) calls the engine's methods.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// Errors the API maps to its codes.
var (
	ErrSessionNotFound = errors.New("session not found")
	ErrTaskNotFound    = errors.New("task not found")
	ErrSessionExpired  = errors.New("session expired")
	// ErrNotWaiting: a guardrail answer for a session with no task waiting
	// for a human.
	ErrNotWaiting = errors.New("no task of this session is waiting for a human")
	// ErrNoFinalEvent: redelivery of a task that owes no webhook.
	ErrNoFinalEvent = errors.New("this task has no webhook delivery to send again")
)

// Prices turn usage into cost, in USD.
type Prices struct {
	InputPerMTok  float64 // default 0.60
	OutputPerMTok float64 // default 2.70
	ComputePerMin float64 // default 0.02
}

// DefaultPrices are docs/API.md's defaults.
var DefaultPrices = Prices{InputPerMTok: 0.60, OutputPerMTok: 2.70, ComputePerMin: 0.02}

// Cost is what u costs at these prices.
func (p Prices) Cost(u task.Usage) float64 {
	return float64(u.InputTokens)/1e6*p.InputPerMTok +
		float64(u.OutputTokens)/1e6*p.OutputPerMTok +
		u.ComputeTime/60*p.ComputePerMin
}

// Config is everything the engine needs.
type Config struct {
	Store store.Store
	// Agent runs the tasks. Required to run tasks, no default.
	Agent Agent
	// Monitors settles the runs of monitors (tasks with Spec.Monitor set).
	// Default: none (a monitor's run then ends like any task, owing
	// nothing, and its monitor is freed for its next run).
	Monitors MonitorHooks
	// Deliveries sends the webhook deliveries the store owes (a
	// *webhook.Dispatcher over the same store). Default: none; deliveries
	// stay owed in the store until a node with a dispatcher sends them.
	Deliveries Dispatcher
	Prices     Prices
	// SessionIdle is how long an idle session lives. Default 5m.
	SessionIdle time.Duration
	// MaxRunAttempts is how many times a task is started before a task whose
	// runs keep being interrupted (its node died) fails with NODE_LOST.
	// Default 3.
	MaxRunAttempts int
	// NodeID names this node in task leases. Default: a random id.
	NodeID string
	// HeartbeatEvery is how often this node tells the store its running
	// tasks are alive. Default 5s.
	HeartbeatEvery time.Duration
	// RescueAfter is how long a running task may go without a heartbeat
	// before any node queues it again (its node died). Default 30s: with
	// the reaper's period a dead node's task runs again within about 35s.
	RescueAfter time.Duration
	// CancelPoll is how often a running task checks the store for a stop
	// request made on another node. Default 1s.
	CancelPoll time.Duration
	Queue      store.QueueConfig
	// Secrets seals task secrets while they wait in the store. Every node
	// that runs tasks needs the same key. Default: a random key, so that
	// only this process can open the secrets of the tasks it accepted.
	Secrets *seal.Box
	// Credentials seals webhook credentials (auth, signing secrets, the
	// URL's userinfo) while they wait in the store, for the task they
	// belong to; the deliveries carry them sealed and the dispatcher opens
	// them to send, with the same key. Default nil: they are stored in clear
	// (for a node whose key would not outlive it: see cmd/errand).
	Credentials *seal.Box
	// Metrics, if set, counts tasks, steps and tokens.
	Metrics *metrics.Metrics
	Now     func() time.Time
	Logger  *slog.Logger
}

// Engine runs errand's sessions, tasks and deliveries.
type Engine struct {
	cfg Config
	st  store.Store
	now func() time.Time
	log *slog.Logger
	out Dispatcher

	leases     sync.WaitGroup
	stopLeases chan struct{}

	mu      sync.Mutex
	running map[string]run             // task id -> its run on this node
	runs    uint64                     // runs started, numbering them
	waiters map[string][]chan struct{} // task id -> woken on change
}

// run is a task's run on this node.
type run struct {
	stop context.CancelCauseFunc
	// n numbers the run, so that news about an earlier run of the same
	// task (a lost lease) does not stop a later one.
	n uint64
}

// New makes an engine; Start starts its queue workers.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 5 * time.Minute
	}
	if cfg.MaxRunAttempts == 0 {
		cfg.MaxRunAttempts = 3
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 5 * time.Second
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 30 * time.Second
	}
	if cfg.NodeID == "" {
		cfg.NodeID = task.NewID("node")
	}
	if cfg.CancelPoll == 0 {
		cfg.CancelPoll = time.Second
	}
	if cfg.Secrets == nil {
		cfg.Secrets = seal.NewRandom()
	}
	e := &Engine{
		cfg:        cfg,
		st:         cfg.Store,
		now:        func() time.Time { return cfg.Now().UTC() },
		log:        cfg.Logger,
		running:    map[string]run{},
		waiters:    map[string][]chan struct{}{},
		stopLeases: make(chan struct{}),
		out:        cfg.Deliveries,
	}
	if e.out == nil {
		e.out = noDispatcher{}
	}
	return e
}

// Start starts working queued tasks and sending owed deliveries. An engine
// starts once.
func (e *Engine) Start(ctx context.Context) error {
	qc := e.cfg.Queue
	qc.NodeID = e.cfg.NodeID
	if err := e.st.StartQueue(ctx, jobs{e}, qc); err != nil {
		return err
	}
	e.out.Start()
	e.leases.Add(1)
	go e.keepLeases()
	return nil
}

// keepLeases heartbeats this node's running tasks and re-queues the tasks
// of nodes that stopped heartbeating (they died).
func (e *Engine) keepLeases() {
	defer e.leases.Done()
	tick := time.NewTicker(e.cfg.HeartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case <-e.stopLeases:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.HeartbeatEvery)
		e.mu.Lock()
		ids := make([]string, 0, len(e.running))
		runs := make(map[string]uint64, len(e.running))
		for id, r := range e.running {
			ids = append(ids, id)
			runs[id] = r.n
		}
		e.mu.Unlock()
		now := e.now()
		if len(ids) > 0 {
			lost, err := e.st.HeartbeatTasks(ctx, e.cfg.NodeID, ids, now)
			if err != nil {
				e.log.Warn("heartbeat failed", "err", err)
			}
			e.stopLost(lost, runs)
		}
		rescued, err := e.st.RescueTasks(ctx, now.Add(-e.cfg.RescueAfter), now)
		if err != nil {
			e.log.Warn("rescuing tasks failed", "err", err)
		}
		for _, id := range rescued {
			e.log.Warn("task rescued: its node stopped heartbeating; it is queued again", "taskId", id)
		}
		cancel()
	}
}

// stopLost stops the runs, numbered in runs, of the tasks this node's
// heartbeat found it no longer holds: rescued while this node was too slow
// to heartbeat, they are queued again or running elsewhere, and this run
// could not finish them anyway.
func (e *Engine) stopLost(lost []string, runs map[string]uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range lost {
		if r, ok := e.running[id]; ok && r.n == runs[id] {
			r.stop(errLost)
		}
	}
}

// Stop stops taking work and waits for running tasks and deliveries until
// ctx ends; tasks still running then are handed back (see release) and
// deliveries still in flight stay owed.
func (e *Engine) Stop(ctx context.Context) error {
	// Tasks first: a task that ends during the grace period still gets its
	// webhook sent before the dispatcher stops.
	qerr := e.st.StopQueue(ctx)
	oerr := e.out.Stop(ctx)
	close(e.stopLeases)
	e.leases.Wait()
	return errors.Join(qerr, oerr)
}

// SessionIdle is the idle time after which sessions expire.
func (e *Engine) SessionIdle() time.Duration { return e.cfg.SessionIdle }

// StartSession opens a session, with its first task queued when spec is not
// nil.
func (e *Engine) StartSession(ctx context.Context, tenantID string, first *task.Spec) (task.Session, *task.Task, error) {
	now := e.now()
	s := task.Session{
		ID: task.NewID("sess"), TenantID: tenantID, State: task.SessionActive,
		CreatedAt: now, LastActive: now,
	}
	var t *task.Task
	if first != nil {
		if err := e.checkSpec(*first); err != nil {
			return task.Session{}, nil, err
		}
		nt := e.newTask(s, *first, now)
		t = &nt
	}
	if err := e.st.CreateSession(ctx, s, t); err != nil {
		return task.Session{}, nil, err
	}
	if t != nil {
		e.log.InfoContext(ctx, "task queued", "sessionId", s.ID, "taskId", t.ID)
	}
	return s, t, nil
}

func (e *Engine) newTask(s task.Session, spec task.Spec, now time.Time) task.Task {
	t := task.Task{
		ID: task.NewID("task"), SessionID: s.ID, TenantID: s.TenantID,
		Spec: spec, Status: task.StatusQueued, CreatedAt: now,
	}
	// Secrets are stored only sealed, for the task's life: any node with
	// the key can run it, and FinishTask wipes them when it ends.
	if len(spec.Secrets) > 0 {
		plain, _ := json.Marshal(spec.Secrets) // strings only: cannot fail
		t.SealedSecrets = e.cfg.Secrets.Seal(plain, t.ID)
	}
	// The webhook's credentials too, for good: its deliveries carry them
	// sealed, and only the dispatcher opens them.
	if spec.Webhook != nil && e.cfg.Credentials != nil {
		wh := *spec.Webhook
		wh.SealCredentials(e.cfg.Credentials, t.ID)
		t.Spec.Webhook = &wh
	}
	return t
}

// session loads a session the tenant may use now.
func (e *Engine) session(ctx context.Context, tenantID, sessionID string) (store.SessionInfo, error) {
	info, err := e.st.Session(ctx, tenantID, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return info, ErrSessionNotFound
	}
	if err != nil {
		return info, err
	}
	if info.Expired(e.now(), e.cfg.SessionIdle, info.Busy) {
		return info, ErrSessionExpired
	}
	return info, nil
}

// NewTask queues a task at the end of a session.
func (e *Engine) NewTask(ctx context.Context, tenantID, sessionID string, spec task.Spec) (task.Task, error) {
	if err := e.checkSpec(spec); err != nil {
		return task.Task{}, err
	}
	info, err := e.session(ctx, tenantID, sessionID)
	if err != nil {
		return task.Task{}, err
	}
	t := e.newTask(info.Session, spec, e.now())
	if err := e.st.AddTask(ctx, &t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return task.Task{}, ErrSessionExpired
		}
		return task.Task{}, err
	}
	e.log.InfoContext(ctx, "task queued", "sessionId", sessionID, "taskId", t.ID)
	return t, nil
}

// RunTask opens a one-task session that ends with the task.
func (e *Engine) RunTask(ctx context.Context, tenantID string, spec task.Spec) (task.Task, error) {
	spec.TerminateOnCompletion = true
	_, t, err := e.StartSession(ctx, tenantID, &spec)
	if err != nil {
		return task.Task{}, err
	}
	return *t, nil
}

// SetState carries out send-message's state action: pause, resume, stop
// (cancel the running task) or terminate (end the session, cancel what is
// queued).
func (e *Engine) SetState(ctx context.Context, tenantID, sessionID, newState string) error {
	info, err := e.session(ctx, tenantID, sessionID)
	if err != nil {
		return err
	}
	now := e.now()
	switch newState {
	case "pause":
		return e.st.SetSessionState(ctx, sessionID, task.SessionPaused, now)
	case "resume":
		return e.st.SetSessionState(ctx, sessionID, task.SessionActive, now)
	case "stop":
		if err := e.st.TouchSession(ctx, sessionID, now); err != nil {
			return err
		}
		return e.stopRunning(ctx, tenantID, sessionID)
	case "terminate":
		return e.terminate(ctx, info.Session)
	}
	return fmt.Errorf("unknown state %q", newState)
}

// stopRunning cancels the session's running task, if any.
func (e *Engine) stopRunning(ctx context.Context, tenantID, sessionID string) error {
	tasks, err := e.activeTasks(ctx, tenantID, sessionID)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if t.Status == task.StatusRunning || t.Status == task.StatusGuardrail {
			if err := e.cancel(ctx, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// activeTasks lists the session's tasks that are not final. The store gives
// them by terminating; for stop we only need the running one, found through
// the same store call on a copy of state — see TerminateSession's contract.
func (e *Engine) activeTasks(ctx context.Context, tenantID, sessionID string) ([]task.Task, error) {
	return e.st.ActiveTasks(ctx, sessionID)
}

// cancel stops one task: a running one through its runner, a queued or
// waiting one at once.
func (e *Engine) cancel(ctx context.Context, t task.Task) error {
	if t.Status == task.StatusRunning {
		if err := e.st.RequestCancel(ctx, t.ID); err != nil {
			return err
		}
		e.mu.Lock()
		r, ok := e.running[t.ID]
		e.mu.Unlock()
		if ok {
			r.stop(errCancelled)
		}
		return nil
	}
	err := e.finish(ctx, t, task.Outcome{Code: task.CodeCancelled, Error: "the task was cancelled before it finished"})
	if errors.Is(err, store.ErrConflict) {
		return nil // it ended meanwhile
	}
	return err
}

func (e *Engine) terminate(ctx context.Context, s task.Session) error {
	tasks, err := e.st.TerminateSession(ctx, s.ID, e.now())
	if errors.Is(err, store.ErrConflict) {
		return nil // already terminated: terminate is idempotent
	}
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if err := e.cancel(ctx, t); err != nil {
			return err
		}
	}
	e.endSession(s.ID)
	e.log.InfoContext(ctx, "session terminated", "sessionId", s.ID, "cancelled", len(tasks))
	return nil
}

// endSession releases what the agent holds for a session (its browser
// context).
func (e *Engine) endSession(sessionID string) {
	if se, ok := e.cfg.Agent.(SessionEnder); ok {
		se.EndSession(sessionID)
	}
}

// AnswerGuardrail gives the session's waiting task the human's answer.
func (e *Engine) AnswerGuardrail(ctx context.Context, tenantID, sessionID, answer string) (task.Task, error) {
	if _, err := e.session(ctx, tenantID, sessionID); err != nil {
		return task.Task{}, err
	}
	tasks, err := e.st.ActiveTasks(ctx, sessionID)
	if err != nil {
		return task.Task{}, err
	}
	for _, t := range tasks {
		if t.Status != task.StatusGuardrail {
			continue
		}
		err := e.st.AnswerGuardrail(ctx, t.ID, answer, e.now())
		if errors.Is(err, store.ErrConflict) {
			return task.Task{}, ErrNotWaiting
		}
		return t, err
	}
	return task.Task{}, ErrNotWaiting
}

// Task loads a task of the tenant.
func (e *Engine) Task(ctx context.Context, tenantID, sessionID, taskID string) (task.Task, error) {
	t, err := e.st.Task(ctx, tenantID, sessionID, taskID)
	if errors.Is(err, store.ErrNotFound) {
		return t, ErrTaskNotFound
	}
	if err != nil {
		return t, err
	}
	return e.withFiles(ctx, t)
}

// Steps lists a task's steps.
func (e *Engine) Steps(ctx context.Context, taskID string) ([]task.Step, error) {
	return e.st.Steps(ctx, taskID)
}

// Wait returns the task once it has ended or waits for a human, or as it
// is when d has passed (then settled is false).
func (e *Engine) Wait(ctx context.Context, t task.Task, d time.Duration) (task.Task, bool, error) {
	if d <= 0 {
		return t, false, nil
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	// Other nodes finish tasks too: the local wake-up is the fast path,
	// polling the store the fallback.
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		wake := e.watch(t.ID)
		cur, err := e.st.Task(ctx, t.TenantID, t.SessionID, t.ID)
		if err != nil {
			e.unwatch(t.ID, wake)
			return t, false, err
		}
		if cur.Status.Final() || cur.Status == task.StatusGuardrail {
			e.unwatch(t.ID, wake)
			cur, err = e.withFiles(ctx, cur)
			return cur, err == nil, err
		}
		select {
		case <-wake:
		case <-poll.C:
			e.unwatch(t.ID, wake)
		case <-deadline.C:
			e.unwatch(t.ID, wake)
			return cur, false, nil
		case <-ctx.Done():
			e.unwatch(t.ID, wake)
			return cur, false, ctx.Err()
		}
	}
}

func (e *Engine) watch(id string) chan struct{} {
	ch := make(chan struct{})
	e.mu.Lock()
	e.waiters[id] = append(e.waiters[id], ch)
	e.mu.Unlock()
	return ch
}

func (e *Engine) unwatch(id string, ch chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ws := e.waiters[id]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(e.waiters, id)
	} else {
		e.waiters[id] = ws
	}
}

func (e *Engine) wake(id string) {
	e.mu.Lock()
	ws := e.waiters[id]
	delete(e.waiters, id)
	e.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// Attempts lists every delivery attempt of a task of the tenant.
func (e *Engine) Attempts(ctx context.Context, tenantID, sessionID, taskID string) ([]task.Attempt, error) {
	if _, err := e.Task(ctx, tenantID, sessionID, taskID); err != nil {
		return nil, err
	}
	return e.st.Attempts(ctx, taskID)
}

// Redeliver sends a task's final event again, with the same webhook-id, to
// its URL or to newURL (already checked by the caller).
func (e *Engine) Redeliver(ctx context.Context, tenantID, sessionID, taskID, newURL string) (task.Delivery, error) {
	t, err := e.Task(ctx, tenantID, sessionID, taskID)
	if err != nil {
		return task.Delivery{}, err
	}
	ds, err := e.st.TaskDeliveries(ctx, t.ID)
	if err != nil {
		return task.Delivery{}, err
	}
	if len(ds) == 0 {
		return task.Delivery{}, ErrNoFinalEvent
	}
	// The final event is the newest delivery (a guardrail event may precede
	// it).
	d := ds[len(ds)-1]
	p := store.RedeliverParams{ID: d.ID, MaxAttempts: 1}
	if newURL != "" {
		to, err := e.retarget(d, newURL)
		if err != nil {
			return task.Delivery{}, err
		}
		p.URL, p.SealedCredentials = to.URL, to.SealedCredentials
	}
	if err := e.st.Redeliver(ctx, p); err != nil {
		return task.Delivery{}, err
	}
	e.out.Notify()
	if newURL != "" {
		d.URL = newURL
	}
	return d, nil
}

// retarget is d sent to newURL from now on: its Auth and Secret stay, and
// newURL's userinfo replaces the old URL's. Sealed credentials are opened
// and sealed again with the new userinfo.
func (e *Engine) retarget(d task.Delivery, newURL string) (task.Delivery, error) {
	box := e.cfg.Credentials
	if len(d.SealedCredentials) > 0 {
		if box == nil {
			return d, task.ErrCredentials
		}
		open, err := d.OpenCredentials(box)
		if err != nil {
			return d, err
		}
		d = open
	}
	d.URL = newURL
	if box != nil {
		d.SealCredentials(box)
	}
	return d, nil
}

// Changes returns a channel closed at the task's next change on this node
// (a step recorded, an end); stop releases it. Changes made on other
// nodes are not signalled: callers poll too.
func (e *Engine) Changes(taskID string) (<-chan struct{}, func()) {
	ch := e.watch(taskID)
	return ch, func() { e.unwatch(taskID, ch) }
}
