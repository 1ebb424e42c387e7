package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

func testKeys(t *testing.T, h *harness) {
	ctx := ctxT(t)
	k := store.Key{ID: "key_1", Name: "ci", TenantID: "ten_a", Hash: "ab12", CreatedAt: base}
	noErr(t, "CreateKey", h.s.CreateKey(ctx, k))
	tenant, err := h.s.TenantByKeyHash(ctx, "ab12")
	noErr(t, "TenantByKeyHash", err)
	if tenant != "ten_a" {
		t.Fatalf("tenant = %q, want ten_a", tenant)
	}
	_, err = h.s.TenantByKeyHash(ctx, "ffff")
	wantErr(t, "unknown key", err, store.ErrNotFound)
	if err := h.s.CreateKey(ctx, store.Key{ID: "key_2", Name: "dup", TenantID: "ten_b", Hash: "ab12", CreatedAt: base}); err == nil {
		t.Fatal("a second key with the same hash was accepted")
	}
	tenant, _ = h.s.TenantByKeyHash(ctx, "ab12")
	if tenant != "ten_a" {
		t.Fatalf("after a duplicate, the key answers tenant %q", tenant)
	}
}

func testTenantIsolation(t *testing.T, h *harness) {
	ctx := ctxT(t)
	sessA, tasksA := mustSession(t, h.s, "ten_a", "a")
	sessB, _ := mustSession(t, h.s, "ten_b", "b")

	_, err := h.s.Session(ctx, "ten_b", sessA.ID)
	wantErr(t, "other tenant's session", err, store.ErrNotFound)
	_, err = h.s.Task(ctx, "ten_b", sessA.ID, tasksA[0].ID)
	wantErr(t, "other tenant's task", err, store.ErrNotFound)
	_, err = h.s.Task(ctx, "ten_a", sessB.ID, tasksA[0].ID)
	wantErr(t, "task under another session", err, store.ErrNotFound)
	_, err = h.s.Session(ctx, "ten_a", "sess_missing")
	wantErr(t, "unknown session", err, store.ErrNotFound)
	_, err = h.s.TaskByID(ctx, "task_missing")
	wantErr(t, "unknown task", err, store.ErrNotFound)

	if _, err := h.s.Session(ctx, "ten_a", sessA.ID); err != nil {
		t.Fatalf("own session: %v", err)
	}
	if _, err := h.s.Task(ctx, "ten_a", sessA.ID, tasksA[0].ID); err != nil {
		t.Fatalf("own task: %v", err)
	}
}

func testCreateSession(t *testing.T, h *harness) {
	ctx := ctxT(t)
	t.Run("Empty", func(t *testing.T) {
		sess := newSession("ten_a")
		noErr(t, "CreateSession", h.s.CreateSession(ctx, sess, nil))
		got, err := h.s.Session(ctx, "ten_a", sess.ID)
		noErr(t, "Session", err)
		want := store.SessionInfo{Session: sess, Busy: false}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Session = %+v, want %+v", got, want)
		}
		tasks, err := h.s.ActiveTasks(ctx, sess.ID)
		noErr(t, "ActiveTasks", err)
		if len(tasks) != 0 {
			t.Fatalf("an empty session has %d active tasks", len(tasks))
		}
		if err := h.s.CreateSession(ctx, sess, nil); err == nil {
			t.Fatal("a second session with the same id was accepted")
		}
	})
	t.Run("WithFirstTask", func(t *testing.T) {
		sess := newSession("ten_a")
		first := newTask("find the price")
		first.Spec.Webhook = &task.Webhook{Name: "w", URL: "https://example.com/hook", SubmittedData: task.SubmitFullResponse, MaxAttempts: 3}
		first.Spec.OutputSchema = json.RawMessage(`{"type":"object"}`)
		first.Spec.AvoidDomains = []string{"bad.example"}
		noErr(t, "CreateSession", h.s.CreateSession(ctx, sess, first))
		if first.Seq != 1 || first.SessionID != sess.ID || first.TenantID != "ten_a" {
			t.Fatalf("first task = seq %d session %q tenant %q", first.Seq, first.SessionID, first.TenantID)
		}
		info, err := h.s.Session(ctx, "ten_a", sess.ID)
		noErr(t, "Session", err)
		if !info.Busy || info.State != task.SessionActive {
			t.Fatalf("session with a queued task: busy %v state %q", info.Busy, info.State)
		}
		got, err := h.s.Task(ctx, "ten_a", sess.ID, first.ID)
		noErr(t, "Task", err)
		if got.Status != task.StatusQueued || got.Seq != 1 || !got.CreatedAt.Equal(base) {
			t.Fatalf("task = status %q seq %d created %v", got.Status, got.Seq, got.CreatedAt)
		}
		if !reflect.DeepEqual(got.Spec, first.Spec) {
			t.Fatalf("spec round trip:\n got %+v\nwant %+v", got.Spec, first.Spec)
		}
	})
	t.Run("FirstTaskRuns", func(t *testing.T) {
		var runs recorder
		h.start(handlers{runTask: func(ctx context.Context, id string) error { runs.add(id); return nil }})
		_, tasks := mustSession(t, h.s, "ten_a", "go")
		eventually(t, "the first task's run job", func() bool { return runs.count(tasks[0].ID) == 1 })
	})
}

func testSessionState(t *testing.T, h *harness) {
	ctx := ctxT(t)
	sess, _ := mustSession(t, h.s, "ten_a")
	later := base.Add(time.Minute)
	noErr(t, "pause", h.s.SetSessionState(ctx, sess.ID, task.SessionPaused, later))
	info, _ := h.s.Session(ctx, "ten_a", sess.ID)
	if info.State != task.SessionPaused {
		t.Fatalf("state after pause = %q", info.State)
	}
	noErr(t, "resume", h.s.SetSessionState(ctx, sess.ID, task.SessionActive, later))
	info, _ = h.s.Session(ctx, "ten_a", sess.ID)
	if info.State != task.SessionActive {
		t.Fatalf("state after resume = %q", info.State)
	}
	touched := base.Add(2 * time.Minute)
	noErr(t, "TouchSession", h.s.TouchSession(ctx, sess.ID, touched))
	info, _ = h.s.Session(ctx, "ten_a", sess.ID)
	if !info.LastActive.Equal(touched) {
		t.Fatalf("LastActive = %v, want %v", info.LastActive, touched)
	}
	wantErr(t, "touch unknown", h.s.TouchSession(ctx, "sess_missing", touched), store.ErrNotFound)
	wantErr(t, "pause unknown", h.s.SetSessionState(ctx, "sess_missing", task.SessionPaused, touched), store.ErrNotFound)
}

// testOrdering: the tasks of a session run one at a time, in seq order.
func testOrdering(t *testing.T, h *harness) {
	var (
		runs    recorder
		running atomic.Int32
		overlap atomic.Bool
	)
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		if _, err := h.s.StartTask(ctx, id, runnerA, time.Now()); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil // see nothingToDo
			}
			t.Logf("StartTask(%s): %v", id, err)
			return err
		}
		// Counted once started: StartTask is what a second run job of a
		// task would get past, and a task of the session started out of
		// turn would overlap here.
		if running.Add(1) > 1 {
			overlap.Store(true)
		}
		runs.add(id)
		// Give a second run job, if one existed, the time to start.
		time.Sleep(30 * time.Millisecond)
		// The run ends before the finish, not when the handler returns:
		// the finish's commit hands the session to its next task, which a
		// store that wakes workers at once (PostgreSQL's LISTEN/NOTIFY)
		// may start before this handler has returned.
		running.Add(-1)
		err := completeWith(ctx, h.s, id, "done")
		if err != nil {
			t.Logf("FinishTask(%s): %v", id, err)
		}
		return err
	}})
	_, tasks := mustSession(t, h.s, "ten_a", "1", "2", "3", "4", "5")
	var want []string
	for i, tk := range tasks {
		if tk.Seq != int64(i+1) {
			t.Fatalf("task %d has seq %d", i, tk.Seq)
		}
		want = append(want, tk.ID)
	}
	eventually(t, "all five tasks to run", func() bool { return len(runs.list()) >= 5 })
	eventually(t, "the last task to complete", func() bool {
		return mustTask(t, h.s, tasks[4].ID).Status == task.StatusCompleted
	})
	if got := runs.list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("run order = %v, want %v", got, want)
	}
	if overlap.Load() {
		t.Fatal("two tasks of one session ran at the same time")
	}
	info, _ := h.s.Session(ctxT(t), "ten_a", tasks[0].SessionID)
	if info.Busy {
		t.Fatal("session still busy after all its tasks completed")
	}
}

// testParallelSessions: different sessions do not wait for each other.
func testParallelSessions(t *testing.T, h *harness) {
	var started atomic.Int32
	release := make(chan struct{})
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		started.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}})
	mustSession(t, h.s, "ten_a", "one")
	mustSession(t, h.s, "ten_a", "two")
	eventually(t, "both sessions' tasks running at once", func() bool { return started.Load() == 2 })
	close(release)
}

func testFinishTask(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	tk := tasks[0]
	_, err := h.s.StartTask(ctx, tk.ID, runnerA, base)
	noErr(t, "StartTask", err)

	ended := base.Add(5 * time.Second)
	out := task.Outcome{
		Message: "# result",
		Network: []task.NetworkURL{{URL: "https://example.com/", Timestamp: base.Add(time.Second)}},
		Usage:   task.Usage{InputTokens: 1200, OutputTokens: 80, ComputeTime: 4.5, Cost: 0.0125},
	}
	d1 := delivery(tk, task.EventCompleted, "https://a.example/hook", 3)
	d2 := delivery(tk, task.EventCompleted, "https://b.example/hook", 1)
	d2.CreatedAt = base.Add(time.Millisecond)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: out, At: ended, Deliveries: []task.Delivery{d1, d2}}))

	got := mustTask(t, h.s, tk.ID)
	if got.Status != task.StatusCompleted || got.Message != out.Message || !got.EndedAt.Equal(ended) {
		t.Fatalf("task = status %q message %q ended %v", got.Status, got.Message, got.EndedAt)
	}
	if !reflect.DeepEqual(got.Network, out.Network) || got.Usage != out.Usage {
		t.Fatalf("task network %+v usage %+v, want %+v %+v", got.Network, got.Usage, out.Network, out.Usage)
	}
	ds, err := h.s.TaskDeliveries(ctx, tk.ID)
	noErr(t, "TaskDeliveries", err)
	if len(ds) != 2 || ds[0].ID != d1.ID || ds[1].ID != d2.ID {
		t.Fatalf("deliveries = %+v", ds)
	}
	full, err := h.s.Delivery(ctx, d1.ID)
	noErr(t, "Delivery", err)
	want := d1
	want.Attempts = 0
	want.NextAt = d1.CreatedAt // due at once
	if !reflect.DeepEqual(full, want) {
		t.Fatalf("delivery:\n got %+v\nwant %+v", full, want)
	}
	// Owed deliveries are due: a sender claims both, secrets included, and
	// nobody else gets them while the lease runs.
	now := ended.Add(time.Millisecond)
	claimed, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "node-a", Now: now, Until: now.Add(time.Minute), Limit: 10})
	noErr(t, "ClaimDeliveries", err)
	if len(claimed) != 2 || claimed[0].ID != d1.ID || claimed[1].ID != d2.ID || claimed[0].Auth != d1.Auth || claimed[0].Secret != d1.Secret {
		t.Fatalf("claimed = %+v", claimed)
	}
	again, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "node-b", Now: now, Until: now.Add(time.Minute), Limit: 10})
	noErr(t, "ClaimDeliveries again", err)
	if len(again) != 0 {
		t.Fatalf("leased deliveries claimed twice: %+v", again)
	}
	// A lease that runs out (its node died) frees the delivery.
	late := now.Add(2 * time.Minute)
	again, err = h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "node-b", Now: late, Until: late.Add(time.Minute), Limit: 1})
	noErr(t, "ClaimDeliveries after the lease", err)
	if len(again) != 1 || again[0].ID != d1.ID {
		t.Fatalf("after the lease ran out, claimed %+v", again)
	}
}

func testFinishFinal(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	tk := tasks[0]
	noErr(t, "first finish", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Code: task.CodeModelError, Error: "boom"}, At: base}))
	got := mustTask(t, h.s, tk.ID)
	if got.Status != task.StatusFailed || got.ErrorCode != task.CodeModelError || got.ErrorMessage != "boom" {
		t.Fatalf("failed task = %q %q %q", got.Status, got.ErrorCode, got.ErrorMessage)
	}
	late := delivery(tk, task.EventCompleted, "https://a.example/hook", 1)
	err := h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "late"}, At: base, Deliveries: []task.Delivery{late}})
	wantErr(t, "finishing a final task", err, store.ErrConflict)
	_, err = h.s.Delivery(ctx, late.ID)
	wantErr(t, "the refused finish's delivery", err, store.ErrNotFound)
	if got := mustTask(t, h.s, tk.ID); got.Status != task.StatusFailed || got.Message != "" {
		t.Fatalf("a refused finish changed the task: %q %q", got.Status, got.Message)
	}
	wantErr(t, "finish unknown", h.s.FinishTask(ctx, store.FinishParams{TaskID: "task_missing", At: base}), store.ErrNotFound)
}

func testStartTask(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	tk := tasks[0]
	got, err := h.s.StartTask(ctx, tk.ID, runnerA, base)
	noErr(t, "StartTask", err)
	if got.Status != task.StatusRunning || got.Attempts != 1 || !got.StartedAt.Equal(base) {
		t.Fatalf("started = %q attempts %d started %v", got.Status, got.Attempts, got.StartedAt)
	}
	// A running task belongs to its runner until RescueTasks gives it back:
	// neither another node nor the same one starts it again.
	for _, runner := range []string{runnerB, runnerA} {
		_, err = h.s.StartTask(ctx, tk.ID, runner, base.Add(time.Minute))
		wantErr(t, "starting a running task on "+runner, err, store.ErrConflict)
	}
	if got := mustTask(t, h.s, tk.ID); got.Status != task.StatusRunning || got.Attempts != 1 {
		t.Fatalf("a refused start changed the task: %q attempts %d", got.Status, got.Attempts)
	}
	noErr(t, "FinishTask", completeWith(ctx, h.s, tk.ID, "ok"))
	_, err = h.s.StartTask(ctx, tk.ID, runnerA, base)
	wantErr(t, "starting a completed task", err, store.ErrConflict)
	_, err = h.s.StartTask(ctx, "task_missing", runnerA, base)
	wantErr(t, "starting an unknown task", err, store.ErrNotFound)

	_, tasks = mustSession(t, h.s, "ten_a", "asks")
	noErr(t, "guardrail", h.s.FinishTask(ctx, store.FinishParams{TaskID: tasks[0].ID, Outcome: task.Outcome{Question: "which one?"}, At: base}))
	_, err = h.s.StartTask(ctx, tasks[0].ID, runnerA, base)
	wantErr(t, "starting a task waiting for a human", err, store.ErrConflict)
}

func testRequestCancel(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	noErr(t, "RequestCancel", h.s.RequestCancel(ctx, tasks[0].ID))
	if !mustTask(t, h.s, tasks[0].ID).CancelRequested {
		t.Fatal("CancelRequested not set")
	}
	wantErr(t, "cancel unknown", h.s.RequestCancel(ctx, "task_missing"), store.ErrNotFound)
}

// testGuardrail: a task that asks a human waits (and holds its session)
// until answered, then runs again with the answer.
func testGuardrail(t *testing.T, h *harness) {
	ctx := ctxT(t)
	var runs recorder
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		tk, err := h.s.StartTask(ctx, id, runnerA, time.Now())
		if err != nil {
			return nothingToDo(err)
		}
		runs.add(id)
		if tk.Spec.TaskDetails == "ask" && tk.Answer == "" {
			return h.s.FinishTask(ctx, store.FinishParams{TaskID: id, Outcome: task.Outcome{Question: "which colour?"}, At: time.Now()})
		}
		return completeWith(ctx, h.s, id, "answer was "+tk.Answer)
	}})
	sess, tasks := mustSession(t, h.s, "ten_a", "ask", "after")
	asker, after := tasks[0], tasks[1]
	eventually(t, "the task to wait for a human", func() bool {
		return mustTask(t, h.s, asker.ID).Status == task.StatusGuardrail
	})
	if q := mustTask(t, h.s, asker.ID).Question; q != "which colour?" {
		t.Fatalf("question = %q", q)
	}
	info, _ := h.s.Session(ctx, "ten_a", sess.ID)
	if !info.Busy {
		t.Fatal("a session waiting for a human is not busy")
	}
	wantErr(t, "answering a queued task", h.s.AnswerGuardrail(ctx, after.ID, "no", base), store.ErrConflict)
	if n := runs.count(after.ID); n != 0 {
		t.Fatal("the next task ran while the session waited for a human")
	}
	noErr(t, "AnswerGuardrail", h.s.AnswerGuardrail(ctx, asker.ID, "blue", base))
	eventually(t, "both tasks to complete", func() bool {
		return mustTask(t, h.s, after.ID).Status == task.StatusCompleted
	})
	got := mustTask(t, h.s, asker.ID)
	if got.Status != task.StatusCompleted || got.Message != "answer was blue" || got.Attempts != 2 {
		t.Fatalf("answered task = %q %q attempts %d", got.Status, got.Message, got.Attempts)
	}
	if want := []string{asker.ID, asker.ID, after.ID}; !reflect.DeepEqual(runs.list(), want) {
		t.Fatalf("runs = %v, want %v", runs.list(), want)
	}
	wantErr(t, "answering again", h.s.AnswerGuardrail(ctx, asker.ID, "red", base), store.ErrConflict)
}

func testTerminate(t *testing.T, h *harness) {
	ctx := ctxT(t)
	sess, tasks := mustSession(t, h.s, "ten_a", "1", "2", "3")
	_, err := h.s.StartTask(ctx, tasks[0].ID, runnerA, base)
	noErr(t, "StartTask", err)

	open, err := h.s.TerminateSession(ctx, sess.ID, base.Add(time.Minute))
	noErr(t, "TerminateSession", err)
	var ids []string
	for _, tk := range open {
		ids = append(ids, tk.ID)
	}
	if want := []string{tasks[0].ID, tasks[1].ID, tasks[2].ID}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("non-final tasks = %v, want %v", ids, want)
	}
	if open[0].Status != task.StatusRunning || open[1].Status != task.StatusQueued {
		t.Fatalf("statuses = %q %q", open[0].Status, open[1].Status)
	}
	info, _ := h.s.Session(ctx, "ten_a", sess.ID)
	if info.State != task.SessionTerminated {
		t.Fatalf("state = %q", info.State)
	}
	_, err = h.s.StartTask(ctx, tasks[1].ID, runnerA, base)
	wantErr(t, "starting a queued task of a terminated session", err, store.ErrConflict)
	late := newTask("late")
	late.SessionID, late.TenantID = sess.ID, "ten_a"
	wantErr(t, "AddTask after terminate", h.s.AddTask(ctx, late), store.ErrConflict)
	_, err = h.s.TerminateSession(ctx, sess.ID, base)
	wantErr(t, "terminating twice", err, store.ErrConflict)
	wantErr(t, "resuming a terminated session", h.s.SetSessionState(ctx, sess.ID, task.SessionActive, base), store.ErrConflict)
	_, err = h.s.TerminateSession(ctx, "sess_missing", base)
	wantErr(t, "terminating an unknown session", err, store.ErrNotFound)

	for _, tk := range open {
		noErr(t, "cancel", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Code: task.CodeCancelled, Error: "terminated"}, At: base}))
	}
	for _, tk := range tasks {
		if got := mustTask(t, h.s, tk.ID); got.Status != task.StatusCancelled || got.ErrorCode != task.CodeCancelled {
			t.Fatalf("task %s = %q %q", tk.ID, got.Status, got.ErrorCode)
		}
	}
	active, err := h.s.ActiveTasks(ctx, sess.ID)
	noErr(t, "ActiveTasks", err)
	if len(active) != 0 {
		t.Fatalf("%d tasks still active", len(active))
	}
}

// testTerminateOnCompletion: a task that ends its session; the tasks queued
// behind it still reach the runner, which cancels them (so each ends with
// the notification it owes), and nothing new can be added.
func testTerminateOnCompletion(t *testing.T, h *harness) {
	ctx := ctxT(t)
	sess := newSession("ten_a")
	first := newTask("last one")
	first.Spec.TerminateOnCompletion = true
	noErr(t, "CreateSession", h.s.CreateSession(ctx, sess, first))
	behind := newTask("behind")
	behind.SessionID, behind.TenantID = sess.ID, "ten_a"
	noErr(t, "AddTask", h.s.AddTask(ctx, behind))

	// The queue starts only once both tasks are queued: started earlier, a
	// store that wakes its workers at once (PostgreSQL's LISTEN/NOTIFY)
	// could end the session before the second task is added.
	var runs recorder
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		runs.add(id)
		tk, err := h.s.TaskByID(ctx, id)
		if err != nil {
			return err
		}
		info, err := h.s.Session(ctx, tk.TenantID, tk.SessionID)
		if err != nil {
			return err
		}
		if info.State == task.SessionTerminated {
			return nothingToDo(h.s.FinishTask(ctx, store.FinishParams{TaskID: id, Outcome: task.Outcome{Code: task.CodeCancelled, Error: "session ended"}, At: time.Now()}))
		}
		if _, err := h.s.StartTask(ctx, id, runnerA, time.Now()); err != nil {
			return nothingToDo(err)
		}
		return h.s.FinishTask(ctx, store.FinishParams{TaskID: id, Outcome: task.Outcome{Message: "ok"}, At: time.Now(),
			TerminateSession: tk.Spec.TerminateOnCompletion})
	}})

	eventually(t, "the task behind to be cancelled", func() bool {
		return mustTask(t, h.s, behind.ID).Status == task.StatusCancelled
	})
	if got := mustTask(t, h.s, first.ID); got.Status != task.StatusCompleted {
		t.Fatalf("terminating task = %q", got.Status)
	}
	info, _ := h.s.Session(ctx, "ten_a", sess.ID)
	if info.State != task.SessionTerminated || info.Busy {
		t.Fatalf("session = %q busy %v", info.State, info.Busy)
	}
	late := newTask("late")
	late.SessionID, late.TenantID = sess.ID, "ten_a"
	wantErr(t, "AddTask after terminateOnCompletion", h.s.AddTask(ctx, late), store.ErrConflict)
}

func testSteps(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	want := []task.Step{
		{N: 1, Action: "navigate", Args: json.RawMessage(`{"url":"https://example.com"}`), URL: "https://example.com", InputTokens: 100, OutputTokens: 10, DurationMs: 250, At: base},
		{N: 2, Action: "click", Args: json.RawMessage(`{"ref":7}`), URL: "https://example.com/a", Error: "not clickable", At: base.Add(time.Second)},
		{N: 3, Action: "done", At: base.Add(2 * time.Second)},
	}
	for _, st := range want {
		noErr(t, "AppendStep", h.s.AppendStep(ctx, tasks[0].ID, st))
	}
	got, err := h.s.Steps(ctx, tasks[0].ID)
	noErr(t, "Steps", err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("steps:\n got %+v\nwant %+v", got, want)
	}
	wantErr(t, "step of an unknown task", h.s.AppendStep(ctx, "task_missing", want[0]), store.ErrNotFound)
}

func testAttempts(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	tk := tasks[0]
	d := delivery(tk, task.EventFailed, "https://a.example/hook", 3)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Code: task.CodeTaskTimeout}, At: base, Deliveries: []task.Delivery{d}}))
	a1 := task.Attempt{DeliveryID: d.ID, TaskID: tk.ID, Event: d.Event, Attempt: 1, URL: d.URL, StatusCode: 503, DurationMs: 40, Error: "503 Service Unavailable", ResponseSnippet: "busy", At: base.Add(time.Second)}
	retryAt := base.Add(10 * time.Second)
	claim := func(now time.Time) []task.Delivery {
		t.Helper()
		ds, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "n", Now: now, Until: now.Add(time.Minute), Limit: 5})
		noErr(t, "ClaimDeliveries", err)
		return ds
	}
	if got := claim(base); len(got) != 1 {
		t.Fatalf("claim the new delivery: %+v", got)
	}
	noErr(t, "RecordAttempts 1", h.s.RecordAttempts(ctx, []task.AttemptRecord{{Attempt: a1, State: task.DeliveryPending, NextAt: retryAt}}))
	got, _ := h.s.Delivery(ctx, d.ID)
	if got.State != task.DeliveryPending || got.Attempts != 1 || !got.NextAt.Equal(retryAt) {
		t.Fatalf("after a failed attempt: %q attempts %d next %v", got.State, got.Attempts, got.NextAt)
	}
	// The retry is not due before its time, and due after (the record
	// released the lease).
	if got := claim(retryAt.Add(-time.Millisecond)); len(got) != 0 {
		t.Fatalf("a retry claimed before it was due: %+v", got)
	}
	if got := claim(retryAt); len(got) != 1 {
		t.Fatalf("a due retry not claimed: %+v", got)
	}
	a2 := task.Attempt{DeliveryID: d.ID, TaskID: tk.ID, Event: d.Event, Attempt: 2, URL: d.URL, StatusCode: 200, DurationMs: 12, At: base.Add(3 * time.Second)}
	noErr(t, "RecordAttempts 2", h.s.RecordAttempts(ctx, []task.AttemptRecord{{Attempt: a2, State: task.DeliveryDelivered}}))
	got, _ = h.s.Delivery(ctx, d.ID)
	if got.State != task.DeliveryDelivered || got.Attempts != 2 {
		t.Fatalf("after a 2xx: %q attempts %d", got.State, got.Attempts)
	}
	as, err := h.s.Attempts(ctx, tk.ID)
	noErr(t, "Attempts", err)
	if !reflect.DeepEqual(as, []task.Attempt{a1, a2}) {
		t.Fatalf("attempts:\n got %+v\nwant %+v", as, []task.Attempt{a1, a2})
	}
	if got := claim(retryAt.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("a delivered delivery claimed: %+v", got)
	}
	err = h.s.RecordAttempts(ctx, []task.AttemptRecord{{Attempt: task.Attempt{DeliveryID: "msg_missing", Attempt: 1, At: base}, State: task.DeliveryFailed}})
	wantErr(t, "attempt of an unknown delivery", err, store.ErrNotFound)
	if as, _ := h.s.Attempts(ctx, tk.ID); len(as) != 2 {
		t.Fatalf("a failed batch left attempts behind: %+v", as)
	}
}

func testRedeliver(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	d := delivery(tasks[0], task.EventCompleted, "https://old.example/hook", 1)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tasks[0].ID, Outcome: task.Outcome{Message: "ok"}, At: base, Deliveries: []task.Delivery{d}}))
	// send claims everything due (the store's clock is real time for
	// redeliveries) and records a 2xx for each.
	send := func() []string {
		t.Helper()
		now := time.Now()
		ds, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "n", Now: now, Until: now.Add(time.Minute), Limit: 10})
		noErr(t, "ClaimDeliveries", err)
		var urls []string
		var ps []task.AttemptRecord
		for _, x := range ds {
			urls = append(urls, x.URL)
			ps = append(ps, task.AttemptRecord{Attempt: task.Attempt{DeliveryID: x.ID, Attempt: x.Attempts + 1, URL: x.URL, StatusCode: 200, At: now}, State: task.DeliveryDelivered})
		}
		noErr(t, "RecordAttempts", h.s.RecordAttempts(ctx, ps))
		return urls
	}
	if got := send(); !reflect.DeepEqual(got, []string{"https://old.example/hook"}) {
		t.Fatalf("first send: %v", got)
	}
	if got := send(); len(got) != 0 {
		t.Fatalf("a delivered delivery was due again: %v", got)
	}
	noErr(t, "Redeliver", h.s.Redeliver(ctx, store.RedeliverParams{ID: d.ID, URL: "https://new.example/hook", MaxAttempts: 1}))
	if got := send(); !reflect.DeepEqual(got, []string{"https://new.example/hook"}) {
		t.Fatalf("redelivery: %v", got)
	}
	got, _ := h.s.Delivery(ctx, d.ID)
	if got.State != task.DeliveryDelivered || got.Attempts != 2 || got.MaxAttempts != 2 || got.URL != "https://new.example/hook" {
		t.Fatalf("after redelivery: %+v", got)
	}
	as, _ := h.s.Attempts(ctx, tasks[0].ID)
	if len(as) != 2 || as[0].URL != "https://old.example/hook" || as[1].URL != "https://new.example/hook" {
		t.Fatalf("attempts = %+v", as)
	}
	// Without a URL, the delivery keeps its own.
	noErr(t, "Redeliver again", h.s.Redeliver(ctx, store.RedeliverParams{ID: d.ID, MaxAttempts: 1}))
	if got := send(); !reflect.DeepEqual(got, []string{"https://new.example/hook"}) {
		t.Fatalf("second redelivery: %v", got)
	}
	// A redelivery asked while an attempt is in flight is not settled by
	// that attempt's outcome.
	noErr(t, "Redeliver", h.s.Redeliver(ctx, store.RedeliverParams{ID: d.ID, MaxAttempts: 1}))
	now := time.Now()
	ds, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "n", Now: now, Until: now.Add(time.Minute), Limit: 10})
	noErr(t, "ClaimDeliveries", err)
	if len(ds) != 1 {
		t.Fatalf("claimed %+v", ds)
	}
	noErr(t, "Redeliver in flight", h.s.Redeliver(ctx, store.RedeliverParams{ID: d.ID, MaxAttempts: 1}))
	noErr(t, "RecordAttempts", h.s.RecordAttempts(ctx, []task.AttemptRecord{{Attempt: task.Attempt{DeliveryID: d.ID, Attempt: ds[0].Attempts + 1, URL: d.URL, StatusCode: 200, At: now}, State: task.DeliveryDelivered}}))
	if got := send(); len(got) != 1 {
		t.Fatalf("the redelivery asked during an attempt was lost: %v", got)
	}
	wantErr(t, "redeliver unknown", h.s.Redeliver(ctx, store.RedeliverParams{ID: "msg_missing", MaxAttempts: 1}), store.ErrNotFound)
}

// testClaimConcurrent: senders claiming at once (several nodes) never get
// the same delivery.
func testClaimConcurrent(t *testing.T, h *harness) {
	ctx := ctxT(t)
	const n = 60
	want := map[string]bool{}
	for i := range n {
		_, tasks := mustSession(t, h.s, "ten_a", fmt.Sprint("t", i))
		d := delivery(tasks[0], task.EventCompleted, "https://a.example/hook", 1)
		noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tasks[0].ID, Outcome: task.Outcome{Message: "ok"}, At: base, Deliveries: []task.Delivery{d}}))
		want[d.ID] = true
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: fmt.Sprint("node-", w), Now: base.Add(time.Second), Until: base.Add(time.Hour), Limit: 7})
				if err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					got[d.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("claimed %d distinct deliveries, want %d", len(got), n)
	}
	for id, c := range got {
		if c != 1 || !want[id] {
			t.Fatalf("delivery %s claimed %d times", id, c)
		}
	}
}

// testRelease: deliveries handed back unsent are due again at the given
// time, and only the lease holder can hand them back.
func testRelease(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	d := delivery(tasks[0], task.EventCompleted, "https://a.example/hook", 1)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tasks[0].ID, Outcome: task.Outcome{Message: "ok"}, At: base, Deliveries: []task.Delivery{d}}))
	claim := func(owner string, now time.Time) int {
		ds, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: owner, Now: now, Until: now.Add(time.Hour), Limit: 5})
		noErr(t, "ClaimDeliveries", err)
		return len(ds)
	}
	if claim("a", base) != 1 {
		t.Fatal("not claimed")
	}
	noErr(t, "Release by another owner", h.s.ReleaseDeliveries(ctx, "b", []string{d.ID}, base))
	if claim("b", base.Add(time.Second)) != 0 {
		t.Fatal("a non-owner released a lease")
	}
	next := base.Add(5 * time.Second)
	noErr(t, "Release", h.s.ReleaseDeliveries(ctx, "a", []string{d.ID}, next))
	if claim("b", next.Add(-time.Millisecond)) != 0 {
		t.Fatal("released delivery due before its time")
	}
	if claim("b", next) != 1 {
		t.Fatal("released delivery not due at its time")
	}
}

func testRetryError(t *testing.T, h *harness) {
	const delay = 300 * time.Millisecond
	var calls recorder
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		calls.add(id)
		if calls.count(id) == 1 {
			return &store.RetryError{Delay: delay}
		}
		return nil
	}})
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	id := tasks[0].ID
	eventually(t, "the job to run again after its delay", func() bool { return calls.count(id) == 2 })
	calls.mu.Lock()
	gap := calls.at[1].Sub(calls.at[0])
	calls.mu.Unlock()
	// A lower bound only: the queue may be late, never early (allowing for
	// millisecond storage of the schedule).
	if gap < delay-10*time.Millisecond {
		t.Fatalf("the retry came %v after the first call, before its %v delay", gap, delay)
	}
}

func testHandlerError(t *testing.T, h *harness) {
	var calls atomic.Int32
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		if calls.Add(1) == 1 {
			return errors.New("database hiccup")
		}
		return nil
	}})
	mustSession(t, h.s, "ten_a", "x")
	eventually(t, "a failed run job to be retried", func() bool { return calls.Load() >= 2 })
}

// testStopHandsBack: a job still running when StopQueue's context ends is
// handed back to the queue and runs again once the queue restarts.
func testStopHandsBack(t *testing.T, h *harness) {
	var calls atomic.Int32
	started := make(chan struct{}, 1)
	hs := handlers{runTask: func(ctx context.Context, id string) error {
		if calls.Add(1) > 1 {
			return nil
		}
		started <- struct{}{}
		<-ctx.Done() // a long task, interrupted by the shutdown
		return ctx.Err()
	}}
	h.start(hs)
	mustSession(t, h.s, "ten_a", "long")
	select {
	case <-started:
	case <-time.After(waitLimit):
		t.Fatal("the task never started")
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = h.s.StopQueue(stopCtx) // ends early: the job is still running
	h.started = false
	h.start(hs)
	eventually(t, "the interrupted job to run again", func() bool { return calls.Load() >= 2 })
}

func testPersistence(t *testing.T, h *harness) {
	ctx := ctxT(t)
	noErr(t, "CreateKey", h.s.CreateKey(ctx, store.Key{ID: "key_1", Name: "n", TenantID: "ten_a", Hash: "h1", CreatedAt: base}))
	sess, tasks := mustSession(t, h.s, "ten_a", "x", "y")
	tk := tasks[0]
	_, err := h.s.StartTask(ctx, tk.ID, runnerA, base)
	noErr(t, "StartTask", err)
	noErr(t, "AppendStep", h.s.AppendStep(ctx, tk.ID, task.Step{N: 1, Action: "navigate", At: base}))
	d := delivery(tk, task.EventCompleted, "https://a.example/hook", 2)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "kept", Usage: task.Usage{InputTokens: 5}}, At: base.Add(time.Second), Deliveries: []task.Delivery{d}}))
	a := task.Attempt{DeliveryID: d.ID, TaskID: tk.ID, Event: d.Event, Attempt: 1, URL: d.URL, StatusCode: 500, At: base.Add(2 * time.Second)}
	noErr(t, "RecordAttempts", h.s.RecordAttempts(ctx, []task.AttemptRecord{{Attempt: a, State: task.DeliveryPending, NextAt: base.Add(time.Minute)}}))

	beforeSess, _ := h.s.Session(ctx, "ten_a", sess.ID)
	beforeTask := mustTask(t, h.s, tk.ID)
	beforeNext := mustTask(t, h.s, tasks[1].ID)
	beforeDelivery, _ := h.s.Delivery(ctx, d.ID)

	s := h.reopen()
	if tenant, err := s.TenantByKeyHash(ctx, "h1"); err != nil || tenant != "ten_a" {
		t.Fatalf("key after reopen: %q %v", tenant, err)
	}
	if got, err := s.Session(ctx, "ten_a", sess.ID); err != nil || !reflect.DeepEqual(got, beforeSess) {
		t.Fatalf("session after reopen: %+v %v, want %+v", got, err, beforeSess)
	}
	if got := mustTask(t, s, tk.ID); !reflect.DeepEqual(got, beforeTask) {
		t.Fatalf("task after reopen:\n got %+v\nwant %+v", got, beforeTask)
	}
	if got := mustTask(t, s, tasks[1].ID); !reflect.DeepEqual(got, beforeNext) {
		t.Fatalf("next task after reopen:\n got %+v\nwant %+v", got, beforeNext)
	}
	if got, err := s.Delivery(ctx, d.ID); err != nil || !reflect.DeepEqual(got, beforeDelivery) {
		t.Fatalf("delivery after reopen: %+v %v, want %+v", got, err, beforeDelivery)
	}
	if steps, _ := s.Steps(ctx, tk.ID); len(steps) != 1 {
		t.Fatalf("steps after reopen: %+v", steps)
	}
	if as, _ := s.Attempts(ctx, tk.ID); !reflect.DeepEqual(as, []task.Attempt{a}) {
		t.Fatalf("attempts after reopen: %+v", as)
	}
}

// testQueuedJobSurvivesReopen: jobs owed by committed transactions are
// still owed after the store is closed and opened again.
func testQueuedJobSurvivesReopen(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	done := newTask("done")
	_, dtasks := mustSession(t, h.s, "ten_a", done.Spec.TaskDetails)
	d := delivery(dtasks[0], task.EventCompleted, "https://a.example/hook", 1)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: dtasks[0].ID, Outcome: task.Outcome{Message: "ok"}, At: base, Deliveries: []task.Delivery{d}}))

	s := h.reopen()
	var runs recorder
	h.start(handlers{
		runTask: func(ctx context.Context, id string) error { runs.add(id); return nil },
	})
	eventually(t, "the queued run job after reopen", func() bool { return runs.count(tasks[0].ID) == 1 })
	now := time.Now()
	ds, err := s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "n", Now: now, Until: now.Add(time.Minute), Limit: 10})
	noErr(t, "ClaimDeliveries", err)
	if len(ds) != 1 || ds[0].ID != d.ID {
		t.Fatalf("the owed delivery after reopen: %+v", ds)
	}
}
