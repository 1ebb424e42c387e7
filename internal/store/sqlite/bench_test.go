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
	s         store.Store
	ran, sent atomic.Int64
}

func (h *benchHandlers) RunTask(ctx context.Context, id string) error {
	tk, err := h.s.StartTask(ctx, id, time.Now())
	if err != nil {
		return err
	}
	err = h.s.FinishTask(ctx, store.FinishParams{
		TaskID: id, Outcome: task.Outcome{Message: "ok"}, At: time.Now(),
		Deliveries: []store.Delivery{{
			ID: task.NewID("msg"), TaskID: id, SessionID: tk.SessionID, TenantID: tk.TenantID,
			Event: task.EventCompleted, URL: "https://example.com/hook", Body: []byte(`{}`), MaxAttempts: 1,
		}},
	})
	if err == nil {
		h.ran.Add(1)
	}
	return err
}

func (h *benchHandlers) Deliver(ctx context.Context, id string) error {
	err := h.s.RecordAttempt(ctx, store.RecordParams{
		Attempt: store.Attempt{DeliveryID: id, Attempt: 1, StatusCode: 200, At: time.Now()},
		State:   store.DeliveryDelivered,
	})
	if err == nil {
		h.sent.Add(1)
	}
	return err
}

// BenchmarkRunTasks measures the queue end to end on SQLite: each operation
// creates a session with one task (a run job), runs it (start, finish with
// one delivery: a deliver job) and delivers (records the attempt). Two jobs
// per operation.
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
	for h.sent.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tasks delivered", h.sent.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "jobs/s")
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
