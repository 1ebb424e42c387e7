package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// Task leases: the node running a task heartbeats it, and any node's reaper
// queues again the running tasks whose heartbeat went stale (their node
// died), so that no task stays running forever.

// testStartTaskRace: nodes that start one queued task at the same moment
// (two run jobs of it, say) never both get it.
func testStartTaskRace(t *testing.T, h *harness) {
	ctx := ctxT(t)
	const (
		rounds  = 10
		racers  = 4
		details = "raced"
	)
	for i := range rounds {
		_, tasks := mustSession(t, h.s, "ten_a", details)
		id := tasks[0].ID
		var (
			wins  atomic.Int32
			wg    sync.WaitGroup
			ready = make(chan struct{})
		)
		for r := range racers {
			wg.Go(func() {
				<-ready
				_, err := h.s.StartTask(ctx, id, fmt.Sprint("node-", r), time.Now())
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("StartTask: %v", err)
				}
			})
		}
		close(ready)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d of %d racing starts won, want exactly 1", i, n, racers)
		}
		if got := mustTask(t, h.s, id); got.Status != task.StatusRunning || got.Attempts != 1 {
			t.Fatalf("round %d: task = %q attempts %d, want running after 1 start", i, got.Status, got.Attempts)
		}
	}
}

// startLeavingFirstRun starts the queue with handlers that start the first
// run they get on runnerA (heartbeat at base) and leave it at that, its
// job done, as a node that dies or stops mid-run does; later runs start on
// runnerB and complete. It returns the record of runs.
func (h *harness) startLeavingFirstRun() *recorder {
	runs := &recorder{}
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		runs.add(id)
		if len(runs.list()) == 1 {
			_, err := h.s.StartTask(ctx, id, runnerA, base)
			return err
		}
		if _, err := h.s.StartTask(ctx, id, runnerB, time.Now()); err != nil {
			return err
		}
		return completeWith(ctx, h.s, id, "done")
	}})
	return runs
}

// rescue calls RescueTasks and fails the test on error.
func rescue(t *testing.T, s store.Store, staleBefore time.Time) []string {
	t.Helper()
	ids, err := s.RescueTasks(ctxT(t), staleBefore, time.Now())
	noErr(t, "RescueTasks", err)
	return ids
}

// heartbeat calls HeartbeatTasks, fails the test on error and returns the
// lost tasks.
func heartbeat(t *testing.T, s store.Store, runner string, ids []string, at time.Time) []string {
	t.Helper()
	lost, err := s.HeartbeatTasks(ctxT(t), runner, ids, at)
	noErr(t, "HeartbeatTasks", err)
	return lost
}

// testRelease: a node that stops in the middle of a task hands it back:
// queued again at once with a new run job, which another node runs; only
// the runner can hand it back, and only while it runs.
func testReleaseTask(t *testing.T, h *harness) {
	ctx := ctxT(t)
	// The first run's node is stopping: its run is interrupted and its job
	// ends without running the task again.
	runs := h.startLeavingFirstRun()
	_, tasks := mustSession(t, h.s, "ten_a", "first", "second")
	first, second := tasks[0].ID, tasks[1].ID
	eventually(t, "the first task to start", func() bool {
		return mustTask(t, h.s, first).Status == task.StatusRunning
	})
	if err := h.s.ReleaseTask(ctx, first, runnerB); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ReleaseTask by a node that does not run the task: %v, want ErrConflict", err)
	}
	if err := h.s.ReleaseTask(ctx, "task_missing", runnerA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReleaseTask of no task: %v, want ErrNotFound", err)
	}
	noErr(t, "ReleaseTask", h.s.ReleaseTask(ctx, first, runnerA))
	eventually(t, "both tasks to complete", func() bool {
		return mustTask(t, h.s, second).Status == task.StatusCompleted
	})
	if want := []string{first, first, second}; !reflect.DeepEqual(runs.list(), want) {
		t.Fatalf("runs = %v, want %v", runs.list(), want)
	}
	if got := mustTask(t, h.s, first); got.Status != task.StatusCompleted || got.Attempts != 2 {
		t.Fatalf("released task = %q attempts %d, want completed after 2 starts", got.Status, got.Attempts)
	}
	if err := h.s.ReleaseTask(ctx, first, runnerB); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ReleaseTask of a completed task: %v, want ErrConflict", err)
	}
	// Nothing was left running for a rescue to find.
	if got := rescue(t, h.s, base.Add(24*time.Hour*365*100)); len(got) != 0 {
		t.Fatalf("rescued %v after the release", got)
	}
}

// testHeartbeat: a task's runner keeps it by heartbeating; nobody else's
// heartbeat does, not even its former runner's once it was rescued.
func testHeartbeat(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	id := tasks[0].ID
	_, err := h.s.StartTask(ctx, id, runnerA, base)
	noErr(t, "StartTask", err)

	if got := rescue(t, h.s, base); len(got) != 0 {
		t.Fatalf("a task whose heartbeat is not before the limit was rescued: %v", got)
	}
	heartbeat(t, h.s, runnerA, nil, base)
	// Unknown ids are only reported: the runner's list may hold a task
	// finished a moment ago.
	if lost := heartbeat(t, h.s, runnerA, []string{id, "task_missing"}, base.Add(time.Minute)); !slices.Equal(lost, []string{"task_missing"}) {
		t.Fatalf("heartbeat reported %v lost, want [task_missing]", lost)
	}
	if got := rescue(t, h.s, base.Add(30*time.Second)); len(got) != 0 {
		t.Fatalf("a task heartbeaten since the limit was rescued: %v", got)
	}

	// Another node's word does not count for the task.
	if lost := heartbeat(t, h.s, runnerB, []string{id}, base.Add(time.Hour)); !slices.Equal(lost, []string{id}) {
		t.Fatalf("another node's heartbeat reported %v lost, want [%s]", lost, id)
	}
	if got := rescue(t, h.s, base.Add(2*time.Minute)); !slices.Equal(got, []string{id}) {
		t.Fatalf("rescued %v, want [%s]: another node's heartbeat kept the task", got, id)
	}
	if got := mustTask(t, h.s, id); got.Status != task.StatusQueued || got.Attempts != 1 {
		t.Fatalf("rescued task = %q attempts %d, want queued after 1 start", got.Status, got.Attempts)
	}

	// The former runner, not dead after all, still heartbeats: it learns
	// it lost the task, the queued task stays queued, and the next
	// runner's run is not kept by it.
	if lost := heartbeat(t, h.s, runnerA, []string{id}, base.Add(time.Hour)); !slices.Equal(lost, []string{id}) {
		t.Fatalf("the former runner's heartbeat reported %v lost, want [%s]", lost, id)
	}
	if got := mustTask(t, h.s, id); got.Status != task.StatusQueued {
		t.Fatalf("a heartbeat after the rescue changed the task: %q", got.Status)
	}
	got, err := h.s.StartTask(ctx, id, runnerB, base.Add(3*time.Minute))
	noErr(t, "StartTask after the rescue", err)
	if got.Status != task.StatusRunning || got.Attempts != 2 || !got.StartedAt.Equal(base) {
		t.Fatalf("restarted = %q attempts %d started %v, want running, 2, %v", got.Status, got.Attempts, got.StartedAt, base)
	}
	heartbeat(t, h.s, runnerA, []string{id}, base.Add(time.Hour))
	if lost := heartbeat(t, h.s, runnerB, []string{id}, base.Add(3*time.Minute)); len(lost) != 0 {
		t.Fatalf("the new runner's heartbeat reported %v lost", lost)
	}
	if got := rescue(t, h.s, base.Add(4*time.Minute)); !slices.Equal(got, []string{id}) {
		t.Fatalf("rescued %v, want [%s]: the former runner's heartbeat kept the new run", got, id)
	}

	// Only running tasks are rescued: queued, waiting for a human, final.
	_, asks := mustSession(t, h.s, "ten_a", "asks")
	_, err = h.s.StartTask(ctx, asks[0].ID, runnerA, base)
	noErr(t, "StartTask", err)
	noErr(t, "guardrail", h.s.FinishTask(ctx, store.FinishParams{TaskID: asks[0].ID, Outcome: task.Outcome{Question: "which one?"}, At: base}))
	_, done := mustSession(t, h.s, "ten_a", "done")
	_, err = h.s.StartTask(ctx, done[0].ID, runnerA, base)
	noErr(t, "StartTask", err)
	noErr(t, "FinishTask", completeWith(ctx, h.s, done[0].ID, "ok"))
	if got := rescue(t, h.s, base.Add(24*time.Hour)); len(got) != 0 {
		t.Fatalf("tasks that were not running were rescued: %v", got)
	}
}

// testRescue: a task whose node died mid-run is queued again with a new run
// job, as its session's head, so it runs again before the session's next
// task. The next task is offered to runnerB, which ran the rescued one and
// whose queue nobody works here: it runs through the fallback job, after
// the queue's AffinityWait, as when a session's node is gone.
func testRescue(t *testing.T, h *harness) {
	// The first run's node dies: the task stays running under it, its
	// last heartbeat long ago, and its job is gone.
	runs := h.startLeavingFirstRun()
	_, tasks := mustSession(t, h.s, "ten_a", "first", "second")
	first, second := tasks[0].ID, tasks[1].ID
	eventually(t, "the first task to start", func() bool {
		return mustTask(t, h.s, first).Status == task.StatusRunning
	})

	staleBefore := base.Add(time.Second)
	if got := rescue(t, h.s, staleBefore); !slices.Equal(got, []string{first}) {
		t.Fatalf("rescued %v, want [%s]", got, first)
	}
	if got := rescue(t, h.s, staleBefore); len(got) != 0 {
		t.Fatalf("a second rescue right after rescued %v again", got)
	}
	eventually(t, "both tasks to complete", func() bool {
		return mustTask(t, h.s, second).Status == task.StatusCompleted
	})
	if want := []string{first, first, second}; !reflect.DeepEqual(runs.list(), want) {
		t.Fatalf("runs = %v, want %v", runs.list(), want)
	}
	if got := mustTask(t, h.s, first); got.Status != task.StatusCompleted || got.Attempts != 2 {
		t.Fatalf("rescued task = %q attempts %d, want completed after 2 starts", got.Status, got.Attempts)
	}
}

// testRescueConcurrent: the reapers of several nodes rescuing at the same
// moment rescue each task once.
func testRescueConcurrent(t *testing.T, h *harness) {
	ctx := ctxT(t)
	const (
		n       = 12
		reapers = 4
	)
	want := make([]string, 0, n)
	for i := range n {
		_, tasks := mustSession(t, h.s, "ten_a", fmt.Sprint("t", i))
		_, err := h.s.StartTask(ctx, tasks[0].ID, runnerA, base)
		noErr(t, "StartTask", err)
		want = append(want, tasks[0].ID)
	}
	var (
		mu    sync.Mutex
		got   []string
		wg    sync.WaitGroup
		ready = make(chan struct{})
	)
	for range reapers {
		wg.Go(func() {
			<-ready
			ids, err := h.s.RescueTasks(ctx, base.Add(time.Minute), time.Now())
			if err != nil {
				t.Errorf("RescueTasks: %v", err)
				return
			}
			mu.Lock()
			got = append(got, ids...)
			mu.Unlock()
		})
	}
	close(ready)
	wg.Wait()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("rescued %v, want each of %v once", got, want)
	}
}

// testReleaseRedo: a redelivery asked while a sender held the delivery,
// which it then gave back unsent, is due at once and settled by the next
// attempt.
func testReleaseRedo(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	d := delivery(tasks[0], task.EventCompleted, "https://a.example/hook", 1)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tasks[0].ID, Outcome: task.Outcome{Message: "ok"}, At: base, Deliveries: []task.Delivery{d}}))
	// Real time: Redeliver dates the redelivery with the store's clock.
	claim := func(owner string) []task.Delivery {
		t.Helper()
		now := time.Now()
		ds, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: owner, Now: now, Until: now.Add(time.Hour), Limit: 5})
		noErr(t, "ClaimDeliveries", err)
		return ds
	}
	if got := claim("a"); len(got) != 1 {
		t.Fatalf("claimed %+v", got)
	}
	noErr(t, "Redeliver during the lease", h.s.Redeliver(ctx, store.RedeliverParams{ID: d.ID, MaxAttempts: 1}))
	// The sender shuts down before sending and asks for it much later.
	noErr(t, "ReleaseDeliveries", h.s.ReleaseDeliveries(ctx, "a", []string{d.ID}, time.Now().Add(time.Hour)))
	got := claim("b")
	if len(got) != 1 {
		t.Fatal("the redelivery asked during the lease was not due at once after the release")
	}
	now := time.Now()
	noErr(t, "RecordAttempts", h.s.RecordAttempts(ctx, []task.AttemptRecord{{
		Attempt: task.Attempt{DeliveryID: d.ID, Attempt: got[0].Attempts + 1, URL: d.URL, StatusCode: 200, At: now},
		State:   task.DeliveryDelivered,
	}}))
	after, err := h.s.Delivery(ctx, d.ID)
	noErr(t, "Delivery", err)
	if after.State != task.DeliveryDelivered || after.Attempts != 1 {
		t.Fatalf("after the one attempt: %q attempts %d, want delivered after 1", after.State, after.Attempts)
	}
	if again := claim("c"); len(again) != 0 {
		t.Fatalf("a delivered delivery was due again (the redelivery request outlived the release): %+v", again)
	}
}

// testFinishOnlyByRunner: once a task was rescued and started by another
// node, its old runner can no longer end it; its new runner can.
func testFinishOnlyByRunner(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	id := tasks[0].ID
	_, err := h.s.StartTask(ctx, id, "node-old", base)
	noErr(t, "StartTask", err)
	rescued, err := h.s.RescueTasks(ctx, base.Add(time.Minute), base.Add(time.Minute))
	noErr(t, "RescueTasks", err)
	if !slices.Contains(rescued, id) {
		t.Fatalf("not rescued: %v", rescued)
	}
	_, err = h.s.StartTask(ctx, id, "node-new", base.Add(time.Minute))
	noErr(t, "StartTask on the new node", err)
	err = h.s.FinishTask(ctx, store.FinishParams{TaskID: id, Runner: "node-old", Outcome: task.Outcome{Message: "stale"}, At: base.Add(2 * time.Minute)})
	wantErr(t, "the old runner finishing", err, store.ErrConflict)
	noErr(t, "the new runner finishing", h.s.FinishTask(ctx, store.FinishParams{TaskID: id, Runner: "node-new", Outcome: task.Outcome{Message: "fresh"}, At: base.Add(2 * time.Minute)}))
	if got := mustTask(t, h.s, id); got.Message != "fresh" || got.Status != task.StatusCompleted {
		t.Fatalf("task = %q %q", got.Status, got.Message)
	}
}

// testSealedSecrets: a task's sealed secrets are stored with it, whether it
// comes with its session or after, read back by any node's TaskByID and
// StartTask, kept while it waits for a human, and wiped when it ends.
func testSealedSecrets(t *testing.T, h *harness) {
	ctx := ctxT(t)
	sealed := []byte("\x00sealed\xffsecrets")
	sess := newSession("ten_a")
	first := newTask("first")
	first.SealedSecrets = sealed
	noErr(t, "CreateSession", h.s.CreateSession(ctx, sess, first))
	second := newTask("second")
	second.SessionID, second.TenantID, second.SealedSecrets = sess.ID, "ten_a", sealed
	noErr(t, "AddTask", h.s.AddTask(ctx, second))
	plain := newTask("no secrets")
	plain.SessionID, plain.TenantID = sess.ID, "ten_a"
	noErr(t, "AddTask", h.s.AddTask(ctx, plain))
	for _, id := range []string{first.ID, second.ID} {
		if got := mustTask(t, h.s, id).SealedSecrets; !bytes.Equal(got, sealed) {
			t.Fatalf("task %s: sealed secrets %q, want %q", id, got, sealed)
		}
	}
	if got := mustTask(t, h.s, plain.ID).SealedSecrets; len(got) != 0 {
		t.Fatalf("a task without secrets has sealed secrets %q", got)
	}
	started, err := h.s.StartTask(ctx, first.ID, runnerA, base)
	noErr(t, "StartTask", err)
	if !bytes.Equal(started.SealedSecrets, sealed) {
		t.Fatalf("StartTask returned sealed secrets %q, want %q", started.SealedSecrets, sealed)
	}
	noErr(t, "guardrail", h.s.FinishTask(ctx, store.FinishParams{TaskID: first.ID, Outcome: task.Outcome{Question: "which?"}, At: base, Runner: runnerA}))
	if got := mustTask(t, h.s, first.ID).SealedSecrets; !bytes.Equal(got, sealed) {
		t.Fatalf("waiting for a human, the sealed secrets are %q, want them kept", got)
	}
	noErr(t, "AnswerGuardrail", h.s.AnswerGuardrail(ctx, first.ID, "that one", base))
	_, err = h.s.StartTask(ctx, first.ID, runnerA, base)
	noErr(t, "StartTask", err)
	noErr(t, "FinishTask", completeWith(ctx, h.s, first.ID, "done"))
	if got := mustTask(t, h.s, first.ID).SealedSecrets; len(got) != 0 {
		t.Fatalf("a completed task still has sealed secrets %q", got)
	}
	// A task cancelled before it ran loses them too.
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: second.ID, Outcome: task.Outcome{Code: task.CodeCancelled, Error: "stopped"}, At: base}))
	if got := mustTask(t, h.s, second.ID).SealedSecrets; len(got) != 0 {
		t.Fatalf("a cancelled task still has sealed secrets %q", got)
	}
}
