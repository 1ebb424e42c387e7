package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/queue"
	"github.com/errandhq/errand/internal/task"
)

// liveRunJobs counts the run jobs of a task that River will still work.
func liveRunJobs(t *testing.T, path, taskID string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(*) FROM river_job WHERE kind = ?
		AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
		AND json_extract(args, '$.taskId') = ?`, queue.KindRunTask, taskID).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// execAt runs one statement on the database at path, behind the store's
// back, as a process killed mid-work would have left it.
func execAt(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatal(err)
	}
}

// TestReopenRequeuesRunningTask: the process is the only user of its
// database, so a task it left running when it was killed has no runner any
// more. Open queues it again at once, without waiting for its heartbeat to
// go stale, and it runs, with exactly one run job whether or not its old
// job survived.
func TestReopenRequeuesRunningTask(t *testing.T) {
	tests := []struct {
		name string
		// leave brings the store at path, its task running, to the state
		// the killed process left.
		leave func(t *testing.T, path string)
	}{
		{"JobLeftRunning", func(t *testing.T, path string) {
			execAt(t, path, `UPDATE river_job SET state = 'running' WHERE state = 'available'`)
		}},
		{"JobGone", func(t *testing.T, path string) {
			// The job ended while its task ran (its handler returned
			// early): only the task says the work is owed.
			execAt(t, path, `UPDATE river_job SET state = 'completed', finalized_at = CURRENT_TIMESTAMP
				WHERE state = 'available'`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "errand.db")
			s := openAt(t, path)
			sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
			first := &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "long", MaxDuration: 5 * time.Minute}}
			if err := s.CreateSession(ctx, sess, first); err != nil {
				t.Fatal(err)
			}
			if _, err := s.StartTask(ctx, first.ID, "killed", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tc.leave(t, path)

			s = openAt(t, path)
			defer s.Close()
			tk, err := s.TaskByID(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tk.Status != task.StatusQueued || tk.Attempts != 1 {
				t.Fatalf("after reopen the task is %q after %d starts, want queued after 1", tk.Status, tk.Attempts)
			}
			if n := liveRunJobs(t, path, first.ID); n != 1 {
				t.Fatalf("after reopen the task has %d run jobs, want 1", n)
			}
			// Nothing is left for a reaper: the task is no longer running.
			if ids, err := s.RescueTasks(ctx, time.Now().Add(time.Hour), time.Now()); err != nil || len(ids) != 0 {
				t.Fatalf("RescueTasks after reopen: %v %v", ids, err)
			}

			done := make(chan int, 1)
			err = s.StartQueue(ctx, runFunc(func(ctx context.Context, id string) error {
				tk, err := s.StartTask(ctx, id, "reopened", time.Now())
				if err != nil {
					return err
				}
				if err := s.FinishTask(ctx, store.FinishParams{TaskID: id, Outcome: task.Outcome{Message: "ran again"}, At: time.Now()}); err != nil {
					return err
				}
				done <- tk.Attempts
				return nil
			}), store.QueueConfig{PollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_ = s.StopQueue(stopCtx)
			}()
			select {
			case attempts := <-done:
				if attempts != 2 {
					t.Fatalf("the run after reopen is start %d, want 2", attempts)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the task left running was not run again after reopen")
			}
		})
	}
}

// TestReopenMovesNodeJobs: a run offered to the node of the killed process
// (queue.NodeQueue) is handed to the shared queue at Open. The process that
// opens the store may run under another node id, and would never work the
// old node's queue; and since that job counts as its task's live run job,
// no other would be made: the task would wait forever.
func TestReopenMovesNodeJobs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "errand.db")
	s := openAt(t, path)
	sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
	first := &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "first"}}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatal(err)
	}
	second := &task.Task{ID: task.NewID("task"), SessionID: sess.ID, TenantID: sess.TenantID, Spec: task.Spec{TaskDetails: "second"}}
	if err := s.AddTask(ctx, second); err != nil {
		t.Fatal(err)
	}
	// The first task ran on node "old", so the second is offered to it
	// (plus a fallback), and "old" started it from its own queue.
	if _, err := s.StartTask(ctx, first.ID, "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishTask(ctx, store.FinishParams{TaskID: first.ID, Outcome: task.Outcome{Message: "ok"}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartTask(ctx, second.ID, "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// As the killed process left it: the node's job running the second
	// task, every other job done (the fallback found the task running).
	execAt(t, path, `UPDATE river_job SET state = 'running' WHERE queue = '`+queue.NodeQueue("old")+`'`)
	execAt(t, path, `UPDATE river_job SET state = 'completed', finalized_at = CURRENT_TIMESTAMP
		WHERE queue = '`+queue.QueueTasks+`'`)

	s = openAt(t, path)
	defer s.Close()
	if n := liveRunJobs(t, path, second.ID); n != 1 {
		t.Fatalf("after reopen the task has %d run jobs, want 1", n)
	}
	type start struct {
		attempts int
		prev     string
	}
	done := make(chan start, 1)
	err := s.StartQueue(ctx, runFunc(func(ctx context.Context, id string) error {
		tk, err := s.StartTask(ctx, id, "new", time.Now())
		if err != nil {
			return err
		}
		if err := s.FinishTask(ctx, store.FinishParams{TaskID: id, Outcome: task.Outcome{Message: "ran again"}, At: time.Now()}); err != nil {
			return err
		}
		done <- start{tk.Attempts, tk.PreviousRunner}
		return nil
	}), store.QueueConfig{
		NodeID: "new", PollInterval: 10 * time.Millisecond,
		// Far beyond the wait below: only a job in a queue this node works
		// now can run the task in time, none scheduled by this process.
		AffinityWait: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = s.StopQueue(stopCtx)
	}()
	select {
	case got := <-done:
		if got.attempts != 2 || got.prev != "old" {
			t.Fatalf("the run after reopen is start %d after a run on %q, want start 2 after %q", got.attempts, got.prev, "old")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the task whose job waited for the old node was not run after reopen")
	}
}
