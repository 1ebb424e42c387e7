package sqlite_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

type benchHandlers struct {
	s   store.Store
	ran atomic.Int64
}

func (h *benchHandlers) RunTask(ctx context.Context, id string) error {
	tk, err := h.s.StartTask(ctx, id, "node", time.Now())
	if err != nil {
		return err
	}
	err = h.s.FinishTask(ctx, store.FinishParams{
		TaskID: id, Outcome: task.Outcome{Message: "ok"}, At: time.Now(),
		Deliveries: []task.Delivery{{
			ID: task.NewID("msg"), TaskID: id, SessionID: tk.SessionID, TenantID: tk.TenantID,
			Event: task.EventCompleted, URL: "https://example.com/hook", Body: []byte(`{}`), MaxAttempts: 1,
		}},
	})
	if err == nil {
		h.ran.Add(1)
	}
	return err
}

// BenchmarkRunTasks measures the task queue end to end on SQLite: each
// operation creates a session with one task (a run job) and runs it (start,
// finish with one delivery owed).
func BenchmarkRunTasks(b *testing.B) {
	ctx := context.Background()
	s := openAt(b, filepath.Join(b.TempDir(), "errand.db"))
	defer s.Close()
	h := &benchHandlers{s: s}
	if err := s.StartQueue(ctx, h, store.QueueConfig{}); err != nil {
		b.Fatal(err)
	}
	defer s.StopQueue(ctx)

	b.ResetTimer()
	start := time.Now()
	for range b.N {
		sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
		if err := s.CreateSession(ctx, sess, &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "x"}}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for h.ran.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tasks ran", h.ran.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
}

// BenchmarkOutbox measures the delivery outbox alone: claim due deliveries
// in batches and record an attempt for each in one transaction per batch,
// as the engine's sender does.
func BenchmarkOutbox(b *testing.B) {
	ctx := context.Background()
	s := openAt(b, filepath.Join(b.TempDir(), "errand.db"))
	defer s.Close()
	now := time.Now()
	for range b.N {
		sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
		tk := &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "x"}}
		if err := s.CreateSession(ctx, sess, tk); err != nil {
			b.Fatal(err)
		}
		err := s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "ok"}, At: now,
			Deliveries: []task.Delivery{{ID: task.NewID("msg"), TaskID: tk.ID, SessionID: sess.ID, TenantID: "ten_a",
				Event: task.EventCompleted, URL: "https://example.com/hook", Body: []byte(`{"ok":true}`), MaxAttempts: 1}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	done := 0
	for done < b.N {
		at := time.Now()
		ds, err := s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "bench", Now: at, Until: at.Add(time.Minute), Limit: 256})
		if err != nil {
			b.Fatal(err)
		}
		if len(ds) == 0 {
			b.Fatalf("only %d of %d deliveries claimed", done, b.N)
		}
		ps := make([]task.AttemptRecord, 0, len(ds))
		for _, d := range ds {
			ps = append(ps, task.AttemptRecord{Attempt: task.Attempt{DeliveryID: d.ID, TaskID: d.TaskID, Event: d.Event,
				Attempt: 1, URL: d.URL, StatusCode: 200, At: at}, State: task.DeliveryDelivered})
		}
		if err := s.RecordAttempts(ctx, ps); err != nil {
			b.Fatal(err)
		}
		done += len(ds)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchmarkTaskLatency measures, one task at a time, how long a queued task
// waits before its runner is called: the cost of polling (PollInterval).
func BenchmarkTaskLatency(b *testing.B) {
	ctx := context.Background()
	s := openAt(b, filepath.Join(b.TempDir(), "errand.db"))
	defer s.Close()
	called := make(chan struct{}, 1)
	h := runFunc(func(ctx context.Context, id string) error {
		called <- struct{}{}
		return nil
	})
	if err := s.StartQueue(ctx, h, store.QueueConfig{}); err != nil {
		b.Fatal(err)
	}
	defer s.StopQueue(ctx)

	b.ResetTimer()
	for range b.N {
		sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
		if err := s.CreateSession(ctx, sess, &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "x"}}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-called:
		case <-time.After(time.Minute):
			b.Fatal("the task never ran")
		}
	}
}
