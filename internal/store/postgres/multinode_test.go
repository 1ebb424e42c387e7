package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/postgres"
	"github.com/errandhq/errand/internal/task"
)

// cluster is what several in-process nodes saw, shared by their handlers
// so that the test can check the guarantees that span nodes.
type cluster struct {
	t  *testing.T
	mu sync.Mutex
	// runs lists each session's task runs in the order they started.
	runs map[string][]string
	// running marks a session with a task between StartTask and FinishTask
	// on some node; overlap records a second one starting meanwhile.
	running  map[string]string
	overlaps []string
	runCount map[string]int
	byNode   map[string]int
	// rescued names, for each task a reaper queued again, that reaper's node.
	rescued map[string]string
	// delivered counts the sends of each delivery (webhook-id).
	delivered map[string]int
	// ranOn names the node that started each task (its last start);
	// previous is the PreviousRunner that start reported, and startCalled
	// when its handler call began.
	ranOn       map[string]string
	previous    map[string]string
	startCalled map[string]time.Time
}

func newCluster(t *testing.T) *cluster {
	return &cluster{
		t: t, runs: map[string][]string{}, running: map[string]string{},
		runCount: map[string]int{}, byNode: map[string]int{}, delivered: map[string]int{},
		rescued: map[string]string{}, ranOn: map[string]string{}, previous: map[string]string{},
		startCalled: map[string]time.Time{},
	}
}

// node is one errand node: its own Store on the shared database, with
// handlers that do what the engine does to a store, minus the browser.
type node struct {
	name string
	s    *postgres.Store
	c    *cluster
	// stop ends the node's loops and queue and closes its store, once.
	stop func()

	mu sync.Mutex
	// running holds the tasks this node is running, for its heartbeats.
	running map[string]bool
	// work is how long each run takes (nodeConfig.Work).
	work time.Duration
}

func (n *node) RunTask(ctx context.Context, taskID string) error {
	called := time.Now()
	tk, err := n.s.StartTask(ctx, taskID, n.name, time.Now())
	if errors.Is(err, store.ErrConflict) {
		// As the engine does: the task is done, or running elsewhere (a
		// rescued task's old job, retried by River): nothing to run here.
		return nil
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.running[taskID] = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.running, taskID)
		n.mu.Unlock()
	}()
	c := n.c
	c.mu.Lock()
	if other, busy := c.running[tk.SessionID]; busy {
		c.overlaps = append(c.overlaps, fmt.Sprintf("%s started while %s ran", taskID, other))
	}
	c.running[tk.SessionID] = taskID
	c.runs[tk.SessionID] = append(c.runs[tk.SessionID], taskID)
	c.runCount[taskID]++
	c.byNode[n.name]++
	c.ranOn[taskID] = n.name
	c.previous[taskID] = tk.PreviousRunner
	c.startCalled[taskID] = called
	c.mu.Unlock()
	if n.work > 0 {
		select {
		case <-time.After(n.work):
		case <-ctx.Done():
		}
	}

	// Cleared before FinishTask commits: the next task of the session can
	// only be enqueued by that commit, so a task seen running here
	// afterwards is a real overlap.
	c.mu.Lock()
	delete(c.running, tk.SessionID)
	c.mu.Unlock()
	return n.s.FinishTask(ctx, store.FinishParams{
		TaskID: taskID, Outcome: task.Outcome{Message: "done on " + n.name}, At: time.Now(),
		Deliveries: []task.Delivery{{
			ID: task.NewID("msg"), Event: task.EventCompleted, URL: "http://receiver.invalid/hook",
			Body: []byte(`{"type":"task.completed"}`), MaxAttempts: 3,
		}},
	})
}

// send is the node's webhook sender: it claims due deliveries from the
// outbox, "sends" each (counts it) and records a 2xx for the batch, until
// ctx ends. lease is how long a claim holds a delivery.
func (n *node) send(ctx context.Context, lease time.Duration) {
	for ctx.Err() == nil {
		now := time.Now()
		ds, err := n.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: n.name, Now: now, Until: now.Add(lease), Limit: 32})
		if err != nil {
			if ctx.Err() == nil {
				n.c.t.Errorf("%s: ClaimDeliveries: %v", n.name, err)
			}
			return
		}
		if len(ds) == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ps := make([]task.AttemptRecord, 0, len(ds))
		n.c.mu.Lock()
		for _, d := range ds {
			n.c.delivered[d.ID]++
			ps = append(ps, task.AttemptRecord{
				Attempt: task.Attempt{DeliveryID: d.ID, Attempt: d.Attempts + 1, URL: d.URL, StatusCode: 200, At: now},
				State:   task.DeliveryDelivered,
			})
		}
		n.c.mu.Unlock()
		if err := n.s.RecordAttempts(ctx, ps); err != nil && ctx.Err() == nil {
			n.c.t.Errorf("%s: RecordAttempts: %v", n.name, err)
			return
		}
	}
}

// heartbeat renews this node's lease on the tasks it runs every interval
// until ctx ends, as the engine does.
func (n *node) heartbeat(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n.mu.Lock()
		ids := slices.Collect(maps.Keys(n.running))
		n.mu.Unlock()
		if _, err := n.s.HeartbeatTasks(ctx, n.name, ids, time.Now()); err != nil && ctx.Err() == nil {
			n.c.t.Errorf("%s: HeartbeatTasks: %v", n.name, err)
			return
		}
	}
}

// reap is the node's reaper: every interval it queues again the tasks
// whose heartbeat is older than staleAfter, until ctx ends. Every node runs
// one, as every engine does.
func (n *node) reap(ctx context.Context, interval, staleAfter time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		ids, err := n.s.RescueTasks(ctx, now.Add(-staleAfter), now)
		if err != nil {
			if ctx.Err() == nil {
				n.c.t.Errorf("%s: RescueTasks: %v", n.name, err)
			}
			return
		}
		n.c.mu.Lock()
		for _, id := range ids {
			n.c.rescued[id] = n.name
		}
		n.c.mu.Unlock()
	}
}

// nodeConfig is how startNodes runs its nodes.
type nodeConfig struct {
	Queue store.QueueConfig
	// Lease is how long a sender's claim holds a delivery. Default 1m.
	Lease time.Duration
	// StaleAfter is how old a task's last heartbeat may get before the
	// reapers queue it again; heartbeats come four times as often and
	// reapers look as often as that too. Default 5s.
	StaleAfter time.Duration
	// Work is how long each task runs, as a browser would take: with
	// instant tasks one node can keep up with every insert alone.
	Work time.Duration
}

// startNodes opens n stores on url, each working the queue with its own
// handlers, as its own node (cfg.Queue.NodeID is the node's name), and
// running its own sender, heartbeat and reaper, and stops them when the
// test ends if the test has not (node.stop).
func startNodes(t *testing.T, url string, c *cluster, n int, cfg nodeConfig) []*node {
	t.Helper()
	if cfg.Lease == 0 {
		cfg.Lease = time.Minute
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = 5 * time.Second
	}
	var nodes []*node
	for i := range n {
		nd := &node{name: fmt.Sprintf("node%d", i+1), s: openURL(t, url), c: c, running: map[string]bool{}, work: cfg.Work}
		qcfg := cfg.Queue
		qcfg.NodeID = nd.name
		if err := nd.s.StartQueue(context.Background(), nd, qcfg); err != nil {
			t.Fatalf("StartQueue %s: %v", nd.name, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var loops sync.WaitGroup
		loops.Go(func() { nd.send(ctx, cfg.Lease) })
		loops.Go(func() { nd.heartbeat(ctx, cfg.StaleAfter/4) })
		loops.Go(func() { nd.reap(ctx, cfg.StaleAfter/4, cfg.StaleAfter) })
		nodes = append(nodes, nd)
		nd.stop = sync.OnceFunc(func() {
			cancel()
			loops.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := nd.s.StopQueue(ctx); err != nil {
				t.Errorf("StopQueue %s: %v", nd.name, err)
			}
			if err := nd.s.Close(); err != nil {
				t.Errorf("Close %s: %v", nd.name, err)
			}
		})
		t.Cleanup(nd.stop)
	}
	return nodes
}

// waitFor polls cond until it holds or limit passes; it never measures
// speed, limit only bounds a hang.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countDone counts the tasks in ids that have completed, and the deliveries
// of theirs that are delivered.
func countDone(t *testing.T, s store.Store, ids []string) (completed, delivered int) {
	t.Helper()
	ctx := t.Context()
	for _, id := range ids {
		tk, err := s.TaskByID(ctx, id)
		if err != nil {
			t.Fatalf("TaskByID: %v", err)
		}
		if tk.Status == task.StatusCompleted {
			completed++
		}
		ds, err := s.TaskDeliveries(ctx, id)
		if err != nil {
			t.Fatalf("TaskDeliveries: %v", err)
		}
		for _, d := range ds {
			if d.State == task.DeliveryDelivered {
				delivered++
			}
		}
	}
	return completed, delivered
}

// addLoad creates sessions of perSession tasks each, spread over the given
// stores: a session is created on one node and its later tasks are added
// through the others in turn, concurrently with the queue finishing them,
// so AddTask and FinishTask of one session race across nodes. It answers
// each session's task ids in seq order.
func addLoad(t *testing.T, stores []store.Store, sessions, perSession int, maxDuration time.Duration) map[string][]string {
	t.Helper()
	var (
		mu   sync.Mutex
		want = map[string][]string{}
		wg   sync.WaitGroup
		errs = make(chan error, sessions)
	)
	for i := range sessions {
		wg.Go(func() {
			ctx := context.Background()
			sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
			var ids []string
			for k := range perSession {
				tk := &task.Task{ID: task.NewID("task"), Spec: task.Spec{
					TaskDetails: fmt.Sprintf("session %d task %d", i, k+1), MaxDuration: maxDuration, OutputType: task.OutputText,
				}}
				s := stores[(i+k)%len(stores)]
				var err error
				if k == 0 {
					err = s.CreateSession(ctx, sess, tk)
				} else {
					tk.SessionID, tk.TenantID = sess.ID, sess.TenantID
					err = s.AddTask(ctx, tk)
				}
				if err != nil {
					errs <- err
					return
				}
				if tk.Seq != int64(k+1) {
					errs <- fmt.Errorf("task %d of session %d got seq %d", k+1, i, tk.Seq)
					return
				}
				ids = append(ids, tk.ID)
			}
			mu.Lock()
			want[sess.ID] = ids
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("adding load: %v", err)
	}
	return want
}

func allIDs(want map[string][]string) []string {
	var ids []string
	for _, s := range want {
		ids = append(ids, s...)
	}
	return ids
}

// TestNodesShareTheWork: three nodes on one database work 300 tasks of 50
// sessions. Every session's tasks run in order and one at a time, each task
// exactly once, each owed delivery exactly once, and the work is shared.
func TestNodesShareTheWork(t *testing.T) {
	const (
		nodeCount  = 3
		sessions   = 50
		perSession = 6
	)
	url := pg.NewDatabase(t)
	c := newCluster(t)
	nodes := startNodes(t, url, c, nodeCount, nodeConfig{Queue: store.QueueConfig{TaskWorkers: 4}, Work: 20 * time.Millisecond})
	stores := make([]store.Store, len(nodes))
	for i, n := range nodes {
		stores[i] = n.s
	}

	began := time.Now()
	want := addLoad(t, stores, sessions, perSession, time.Minute)
	ids := allIDs(want)
	total := len(ids)
	waitFor(t, 3*time.Minute, "every task completed and delivered", func() bool {
		completed, delivered := countDone(t, nodes[0].s, ids)
		return completed == total && delivered == total
	})
	elapsed := time.Since(began)

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.overlaps) > 0 {
		t.Fatalf("tasks of one session ran at once: %v", c.overlaps)
	}
	for sess, ids := range want {
		if got := c.runs[sess]; !slices.Equal(got, ids) {
			t.Fatalf("session %s ran %v, want %v (seq order, each once)", sess, got, ids)
		}
	}
	for _, id := range ids {
		if n := c.runCount[id]; n != 1 {
			t.Fatalf("task %s ran %d times", id, n)
		}
		if tk := mustTaskByID(t, nodes[0].s, id); tk.Attempts != 1 {
			t.Fatalf("task %s was started %d times", id, tk.Attempts)
		}
	}
	if len(c.rescued) > 0 {
		t.Fatalf("tasks of live nodes were rescued: %v", c.rescued)
	}
	if len(c.delivered) != total {
		t.Fatalf("%d deliveries were sent, want %d", len(c.delivered), total)
	}
	for id, n := range c.delivered {
		if n != 1 {
			t.Fatalf("delivery %s was sent %d times", id, n)
		}
	}
	busy := 0
	for _, n := range c.byNode {
		if n > 0 {
			busy++
		}
	}
	// Not a speed claim: with every node woken by each insert and each run
	// taking a moment, a single node taking all 300 tasks would mean the
	// others never fetch. (With instant runs one node can keep up alone,
	// and session affinity then keeps every session there: seen once.)
	if busy < 2 {
		t.Fatalf("only %d of %d nodes ran tasks: %v", busy, nodeCount, c.byNode)
	}
	t.Logf("%d tasks in %d sessions on %d nodes in %v; tasks per node %v", total, sessions, nodeCount, elapsed.Round(time.Millisecond), c.byNode)
}

// TestSessionStaysOnItsNode: a session's tasks, added one after another
// through either node, all run on the node that ran its first (its browser
// context lives there). Once that node stops, the session's next task runs
// on the other node, after the affinity wait, and its start says where the
// session ran before so that the runner can tell it moved; the session
// then stays on its new node.
func TestSessionStaysOnItsNode(t *testing.T) {
	const (
		perSession = 5
		wait       = time.Second
		// slack allows for timestamps kept to the microsecond.
		slack = time.Millisecond
	)
	url := pg.NewDatabase(t)
	c := newCluster(t)
	nodes := startNodes(t, url, c, 2, nodeConfig{Queue: store.QueueConfig{TaskWorkers: 2, AffinityWait: wait}})
	// The test reads through a store of its own: either node may stop.
	observer := openURL(t, url)
	t.Cleanup(func() { _ = observer.Close() })
	ctx := t.Context()
	sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
	var ids []string
	// add queues the session's next task through nodes[via] and answers
	// when the call began.
	add := func(via int) time.Time {
		t.Helper()
		tk := &task.Task{ID: task.NewID("task"), Spec: task.Spec{
			TaskDetails: fmt.Sprint("task ", len(ids)+1), MaxDuration: time.Minute, OutputType: task.OutputText,
		}}
		began := time.Now()
		var err error
		if len(ids) == 0 {
			err = nodes[via].s.CreateSession(ctx, sess, tk)
		} else {
			tk.SessionID, tk.TenantID = sess.ID, sess.TenantID
			err = nodes[via].s.AddTask(ctx, tk)
		}
		if err != nil {
			t.Fatalf("adding task %d: %v", len(ids)+1, err)
		}
		ids = append(ids, tk.ID)
		return began
	}
	completed := func(id string) func() bool {
		return func() bool { return mustTaskByID(t, observer, id).Status == task.StatusCompleted }
	}
	// The first three wait for the previous one to complete, so the
	// session is idle when each is added (AddTask enqueues the run); the
	// last two are added at once, so the finish of the one before enqueues
	// each.
	for k := range perSession {
		add(k % 2)
		if k < 3 {
			waitFor(t, time.Minute, fmt.Sprint("task ", k+1, " to complete"), completed(ids[k]))
		}
	}
	waitFor(t, time.Minute, "the session's tasks to complete", completed(ids[perSession-1]))

	c.mu.Lock()
	home := c.ranOn[ids[0]]
	for k, id := range ids {
		want := home
		if k == 0 {
			want = ""
		}
		if c.ranOn[id] != home || c.previous[id] != want {
			c.mu.Unlock()
			t.Fatalf("task %d ran on %q after %q; want every task on %q, the first one's node, after %q",
				k+1, c.ranOn[id], c.previous[id], home, want)
		}
	}
	c.mu.Unlock()

	// The home node goes away; the session's next run, still offered to
	// it first, is taken by the other node once the fallback is due.
	homeIdx := slices.IndexFunc(nodes, func(n *node) bool { return n.name == home })
	away := nodes[1-homeIdx]
	nodes[homeIdx].stop()
	added := add(1 - homeIdx)
	moved := ids[len(ids)-1]
	waitFor(t, time.Minute, "the moved task to complete", completed(moved))
	add(1 - homeIdx)
	stayed := ids[len(ids)-1]
	waitFor(t, time.Minute, "the task after it to complete", completed(stayed))

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ranOn[moved] != away.name || c.previous[moved] != home {
		t.Fatalf("after %s stopped, the next task ran on %q after %q; want %q after %q",
			home, c.ranOn[moved], c.previous[moved], away.name, home)
	}
	if due := added.Add(wait); c.startCalled[moved].Before(due.Add(-slack)) {
		t.Fatalf("the moved task started %v before the affinity wait ended", due.Sub(c.startCalled[moved]))
	}
	if c.ranOn[stayed] != away.name || c.previous[stayed] != away.name {
		t.Fatalf("the task after the move ran on %q after %q; want %q after %q",
			c.ranOn[stayed], c.previous[stayed], away.name, away.name)
	}
	if len(c.overlaps) > 0 {
		t.Fatalf("tasks of one session ran at once: %v", c.overlaps)
	}
	for _, id := range ids {
		if n := c.runCount[id]; n != 1 {
			t.Fatalf("task %s ran %d times", id, n)
		}
	}
}

func mustTaskByID(t *testing.T, s store.Store, id string) task.Task {
	t.Helper()
	tk, err := s.TaskByID(t.Context(), id)
	if err != nil {
		t.Fatalf("TaskByID(%s): %v", id, err)
	}
	return tk
}

// nodeEnv carries the database URL to the node process of TestNodeDies.
const nodeEnv = "ERRAND_PG_TEST_NODE_URL"

// The lease settings of TestNodeDies, shared by the dying node and the
// survivors. River plays no part in the rescue: its own rescuer, which runs
// every 30s and waits for a job's timeout (the task's maxDuration plus
// RescueAfter, 60s by default), would take minutes; the task leases take
// dyingStaleAfter plus a reaper's pass.
const (
	// dyingStaleAfter is how old a task's last heartbeat may get before
	// the survivors' reapers queue it again.
	dyingStaleAfter = 2 * time.Second
	// dyingLease is how long a sender's claim holds a delivery.
	dyingLease = 2 * time.Second
	// dyingTaskMax is the tasks' maxDuration.
	dyingTaskMax = time.Second
)

// TestNodeDiesChild is the node that gets SIGKILLed: it starts tasks and
// leases deliveries, says so on stdout, and hangs in both as a node stuck
// in a browser or on a slow receiver would. It does nothing when run as part of
// the ordinary test suite.
func TestNodeDiesChild(t *testing.T) {
	url := os.Getenv(nodeEnv)
	if url == "" {
		return
	}
	// The parent holds our stdin open; its end means the parent is gone
	// (killed before it could kill us) and this node must not linger.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	// Until it is killed the node is alive and says so: it heartbeats the
	// tasks it started, so the survivors' reapers leave them alone.
	var (
		mu      sync.Mutex
		running []string
	)
	go func() {
		for range time.Tick(dyingStaleAfter / 4) {
			mu.Lock()
			ids := slices.Clone(running)
			mu.Unlock()
			if _, err := s.HeartbeatTasks(context.Background(), "dying", ids, time.Now()); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
	}()
	err = s.StartQueue(context.Background(), runFunc(func(ctx context.Context, id string) error {
		tk, err := s.StartTask(ctx, id, "dying", time.Now())
		if errors.Is(err, store.ErrConflict) {
			return nil // a survivor has it
		}
		if err != nil {
			return err
		}
		mu.Lock()
		running = append(running, id)
		mu.Unlock()
		say("started %s %d", id, tk.Attempts)
		select {} // hang until killed
	}), store.QueueConfig{TaskWorkers: 4})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	say("ready")
	// The sender leases one batch of deliveries and never settles it, like
	// a sender stuck on a receiver that does not answer.
	for {
		now := time.Now()
		ds, err := s.ClaimDeliveries(context.Background(), task.DeliveryClaim{
			Owner: "dying", Now: now, Until: now.Add(dyingLease), Limit: 4})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for _, d := range ds {
			say("delivering %s", d.ID)
		}
		if len(ds) > 0 {
			select {}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type runFunc func(ctx context.Context, taskID string) error

func (f runFunc) RunTask(ctx context.Context, taskID string) error { return f(ctx, taskID) }

// rescueWait bounds the wait for the rescue so that a broken rescue fails
// rather than hangs; it is not the rescue time, which the test logs.
const rescueWait = 2 * time.Minute

// TestNodeDies: one of three nodes is SIGKILLed while it holds tasks (and
// possibly deliveries). The two others rescue its work: their reapers queue
// its tasks again once its heartbeats stop (RescueTasks), no others; every
// task still completes, in order within its session, and every owed
// delivery is sent (at least once, always under its one webhook-id).
func TestNodeDies(t *testing.T) {
	const (
		sessions   = 20
		perSession = 3
	)
	url := pg.NewDatabase(t)
	seed := openURL(t, url) // migrates before the child opens the database
	t.Cleanup(func() { _ = seed.Close() })
	want := addLoad(t, []store.Store{seed}, sessions, perSession, dyingTaskMax)
	ids := allIDs(want)
	total := len(ids)

	child := exec.Command(os.Args[0], "-test.run=^TestNodeDiesChild$")
	child.Env = append(os.Environ(), nodeEnv+"="+url)
	var childErr bytes.Buffer
	child.Stderr = &childErr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Never written: it stays open as long as this process lives (see
	// TestNodeDiesChild).
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	var (
		mu        sync.Mutex
		started   = map[string]bool{} // tasks the child started
		grabbed   = map[string]bool{} // deliveries the child took
		childLine = make(chan string, 1)
	)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fields := strings.Fields(line)
			mu.Lock()
			switch {
			case len(fields) == 3 && fields[0] == "started":
				started[fields[1]] = true
			case len(fields) == 2 && fields[0] == "delivering":
				grabbed[fields[1]] = true
			}
			mu.Unlock()
			if strings.HasPrefix(line, "error") {
				select {
				case childLine <- line:
				default:
				}
			}
		}
	}()
	nStarted := func() int { mu.Lock(); defer mu.Unlock(); return len(started) }
	deadline := time.Now().Add(time.Minute)
	for nStarted() == 0 {
		select {
		case line := <-childLine:
			t.Fatalf("node process: %s\n%s", line, childErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node process never started a task\n%s", childErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The surviving nodes join while the doomed one still holds its tasks.
	c := newCluster(t)
	nodes := startNodes(t, url, c, 2, nodeConfig{
		Queue: store.QueueConfig{TaskWorkers: 4}, Lease: dyingLease, StaleAfter: dyingStaleAfter,
	})
	waitFor(t, time.Minute, "the other nodes to complete some tasks", func() bool {
		completed, _ := countDone(t, seed, ids)
		return completed >= 5
	})
	if err := child.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	_ = child.Wait()
	killed := time.Now()
	mu.Lock()
	held := maps.Clone(started)
	heldDeliveries := maps.Clone(grabbed)
	mu.Unlock()

	rescued := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := 0
		for id := range held {
			if c.rescued[id] != "" {
				n++
			}
		}
		return n
	}
	waitFor(t, rescueWait, "the dead node's tasks to be rescued", func() bool { return rescued() == len(held) })
	rescuedAfter := time.Since(killed)
	waitFor(t, rescueWait, "every task completed and every delivery sent after the kill", func() bool {
		completed, delivered := countDone(t, seed, ids)
		return completed == total && delivered == total
	})
	t.Logf("node killed holding %d tasks and %d deliveries; its tasks rescued %v later (heartbeats stale after %v), all %d tasks done and delivered %v later",
		len(held), len(heldDeliveries), rescuedAfter.Round(100*time.Millisecond), dyingStaleAfter,
		total, time.Since(killed).Round(100*time.Millisecond))

	c.mu.Lock()
	defer c.mu.Unlock()
	for id, by := range c.rescued {
		if !held[id] {
			t.Fatalf("task %s, not held by the dead node, was rescued by %s", id, by)
		}
	}
	if len(c.overlaps) > 0 {
		t.Fatalf("tasks of one session ran at once: %v", c.overlaps)
	}
	for sess, ids := range want {
		if got := c.runs[sess]; !slices.Equal(got, ids) {
			t.Fatalf("session %s ran on the survivors %v, want %v (seq order, each once)", sess, got, ids)
		}
	}
	for _, id := range ids {
		tk := mustTaskByID(t, seed, id)
		wantAttempts := 1
		if held[id] {
			wantAttempts = 2 // the dead node's start, then the rescue
		}
		if tk.Attempts != wantAttempts {
			t.Fatalf("task %s started %d times, want %d", id, tk.Attempts, wantAttempts)
		}
	}
	for _, id := range ids {
		ds, err := seed.TaskDeliveries(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 {
			t.Fatalf("task %s owes %d deliveries, want 1", id, len(ds))
		}
		d := ds[0]
		n := c.delivered[d.ID]
		switch {
		case n == 0:
			t.Fatalf("delivery %s was never sent", d.ID)
		case n > 1 && !heldDeliveries[d.ID]:
			t.Fatalf("delivery %s, not held by the dead node, was sent %d times", d.ID, n)
		}
	}
	for _, n := range nodes {
		if c.byNode[n.name] == 0 {
			t.Logf("%s ran no task", n.name)
		}
	}
}
