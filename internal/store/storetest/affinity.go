package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/queue"
	"github.com/errandhq/errand/internal/task"
)

// Session affinity: a session's browser context lives on the node that ran
// its last task, so its next run is offered to that node first (its own
// queue), and to any node after the queue's AffinityWait (a fallback job),
// in case that node is gone. StartTask lets one of the two jobs start the
// task and tells the runner where the session last ran.

// testPreviousRunner: StartTask reports the node that last started a task
// of the session, whichever task it was, and only starts count.
func testPreviousRunner(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "1", "2", "3")
	_, other := mustSession(t, h.s, "ten_a", "elsewhere")
	start := func(id, runner, wantPrev string) {
		t.Helper()
		tk, err := h.s.StartTask(ctx, id, runner, time.Now())
		noErr(t, "StartTask", err)
		if tk.PreviousRunner != wantPrev {
			t.Fatalf("start of %s on %s: PreviousRunner %q, want %q", id, runner, tk.PreviousRunner, wantPrev)
		}
	}
	start(tasks[0].ID, runnerA, "") // the session's first run
	// A refused start is no run: it does not become the last runner.
	_, err := h.s.StartTask(ctx, tasks[0].ID, runnerB, time.Now())
	wantErr(t, "starting a running task", err, store.ErrConflict)
	noErr(t, "FinishTask", completeWith(ctx, h.s, tasks[0].ID, "ok"))
	start(tasks[1].ID, runnerB, runnerA)
	// A rescued task's next start sees the node that lost it.
	if got := rescue(t, h.s, time.Now().Add(time.Hour)); len(got) != 1 || got[0] != tasks[1].ID {
		t.Fatalf("rescued %v, want [%s]", got, tasks[1].ID)
	}
	start(tasks[1].ID, runnerA, runnerB)
	noErr(t, "FinishTask", completeWith(ctx, h.s, tasks[1].ID, "ok"))
	start(tasks[2].ID, runnerA, runnerA)
	// Another session has a last runner of its own.
	start(other[0].ID, runnerB, "")
}

// affinityCall is one handler call of testAffinity.
type affinityCall struct {
	queue string // the job's queue: the node's or the shared one
	at    time.Time
	err   error // StartTask's
}

// testAffinity: once a session's task has run on a node, each of its next
// tasks gets two run jobs: one in that node's queue, which the node works at
// once and which starts the task, and a fallback in the shared queue, due
// AffinityWait later, which finds the task already started.
func testAffinity(t *testing.T, h *harness) {
	const (
		node = "n1"
		// Long enough that a fallback that ran early could not be mistaken
		// for one on time; the test waits for the fallbacks, so it lasts
		// about this long.
		wait = 5 * time.Second
		// slack allows for stores keeping the schedule to the millisecond.
		slack = 10 * time.Millisecond
	)
	var (
		mu sync.Mutex
		// calls lists each task's handler calls in order; finishing holds,
		// for each task, when its FinishTask began (which enqueues the
		// session's next task); prev is the PreviousRunner of its start.
		calls     = map[string][]affinityCall{}
		finishing = map[string]time.Time{}
		prev      = map[string]string{}
	)
	_, tasks := mustSession(t, h.s, "ten_a", "1", "2", "3")
	h.startWith(handlers{runTask: func(ctx context.Context, id string) error {
		at := time.Now()
		tk, err := h.s.StartTask(ctx, id, node, time.Now())
		mu.Lock()
		calls[id] = append(calls[id], affinityCall{queue: queue.JobQueue(ctx), at: at, err: err})
		if err == nil {
			prev[id] = tk.PreviousRunner
			finishing[id] = time.Now()
		}
		mu.Unlock()
		if err != nil {
			return nothingToDo(err)
		}
		return completeWith(ctx, h.s, id, "done on "+node)
	}}, store.QueueConfig{NodeID: node, AffinityWait: wait})

	eventually(t, "the last task to complete", func() bool {
		return mustTask(t, h.s, tasks[2].ID).Status == task.StatusCompleted
	})
	// The fallbacks of the second and third tasks run once due; waitLimit
	// bounds this wait on top of wait.
	time.Sleep(wait)
	eventually(t, "the fallback jobs to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls[tasks[1].ID]) == 2 && len(calls[tasks[2].ID]) == 2
	})

	mu.Lock()
	defer mu.Unlock()
	// The session's first task has no node yet: one job, shared.
	first := calls[tasks[0].ID]
	if len(first) != 1 || first[0].queue != queue.QueueTasks || first[0].err != nil || prev[tasks[0].ID] != "" {
		t.Fatalf("first task: calls %+v, previous runner %q; want one start from %q after no runner",
			first, prev[tasks[0].ID], queue.QueueTasks)
	}
	for i, tk := range tasks[1:] {
		cs := calls[tk.ID]
		if len(cs) != 2 {
			t.Fatalf("task %d: %d handler calls %+v, want 2 (its node's job and the fallback)", i+2, len(cs), cs)
		}
		// The node's job started the task; the fallback found it started.
		if cs[0].queue != queue.NodeQueue(node) || cs[0].err != nil {
			t.Fatalf("task %d: first call %+v, want the start from %q", i+2, cs[0], queue.NodeQueue(node))
		}
		if cs[1].queue != queue.QueueTasks || !errors.Is(cs[1].err, store.ErrConflict) {
			t.Fatalf("task %d: second call %+v, want ErrConflict from %q", i+2, cs[1], queue.QueueTasks)
		}
		if prev[tk.ID] != node {
			t.Fatalf("task %d: PreviousRunner %q, want %q", i+2, prev[tk.ID], node)
		}
		// The fallback was enqueued during the previous task's FinishTask
		// and is not due before AffinityWait after that.
		if due := finishing[tasks[i].ID].Add(wait); cs[1].at.Before(due.Add(-slack)) {
			t.Fatalf("task %d: the fallback ran %v before it was due", i+2, due.Sub(cs[1].at))
		}
	}
}
