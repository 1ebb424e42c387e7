package queue

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite"

	"github.com/errandhq/errand/internal/store"
)

func TestSnoozeOnRetry(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantSnooze time.Duration // -1: not a snooze
	}{
		{"nil", nil, -1},
		{"plain error", errors.New("busy"), -1},
		{"retry", &store.RetryError{Delay: 3 * time.Second}, 3 * time.Second},
		{"wrapped retry", errors.Join(errors.New("x"), &store.RetryError{Delay: time.Minute}), time.Minute},
		{"negative delay", &store.RetryError{Delay: -time.Second}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := snoozeOnRetry(tc.err)
			var snooze *rivertype.JobSnoozeError
			isSnooze := errors.As(got, &snooze)
			switch {
			case tc.wantSnooze < 0 && isSnooze:
				t.Fatalf("got a snooze for %v", tc.err)
			case tc.wantSnooze < 0 && got != tc.err:
				t.Fatalf("error changed: %v, want %v", got, tc.err)
			case tc.wantSnooze >= 0 && (!isSnooze || snooze.Duration != tc.wantSnooze):
				t.Fatalf("got %v, want a snooze of %v", got, tc.wantSnooze)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		now := time.Now()
		got := backoff{}.NextRetry(&rivertype.JobRow{Attempt: i + 1}).Sub(now)
		// NextRetry reads the clock itself: allow for the time between.
		if got < w || got > w+time.Second {
			t.Errorf("attempt %d: retry in %v, want %v", i+1, got, w)
		}
	}
}

func TestTaskTimeoutLeavesRoomForMaxDuration(t *testing.T) {
	w := &taskWorker{rescueAfter: time.Minute}
	tests := []struct {
		maxDuration, want time.Duration
	}{
		{0, 5*time.Minute + time.Minute}, // task.DefaultMaxDuration
		{10 * time.Minute, 11 * time.Minute},
	}
	for _, tc := range tests {
		got := w.Timeout(jobWith(RunTaskArgs{TaskID: "t", MaxDuration: tc.maxDuration}))
		if got != tc.want {
			t.Errorf("maxDuration %v: timeout %v, want %v", tc.maxDuration, got, tc.want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	got := withDefaults(store.QueueConfig{TaskWorkers: 2})
	want := store.QueueConfig{TaskWorkers: 2, AffinityWait: 2 * time.Second, PollInterval: 20 * time.Millisecond, RescueAfter: 60 * time.Second}
	if got != want {
		t.Fatalf("withDefaults = %+v, want %+v", got, want)
	}
}

// TestNodeQueue: every node id gives a queue name River accepts (checked
// by River itself, which validates queue names when a client is built),
// distinct from the shared queue, and distinct ids give distinct queues.
func TestNodeQueue(t *testing.T) {
	ids := []string{
		"node_abc123def456ghi789jkl012mn", // what the engine generates
		"n1", "node-a", "tasks", "Node_ABC", "node_abc", "node.a", "node a", "node_a",
		"__x__", "x--y", "é", "", "-", strings.Repeat("a", 100), strings.Repeat("a", 99) + "b",
		strings.Repeat("Z", 200),
	}
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seen := map[string]string{}
	for _, id := range ids {
		name := NodeQueue(id)
		if name == QueueTasks {
			t.Errorf("NodeQueue(%q) is the shared queue", id)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("NodeQueue(%q) = NodeQueue(%q) = %q", id, other, name)
		}
		seen[name] = id
		if got := NodeQueue(id); got != name {
			t.Errorf("NodeQueue(%q) not stable: %q then %q", id, name, got)
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, &taskWorker{})
		_, err := river.NewClient(riversqlite.New(db), &river.Config{
			Queues:  map[string]river.QueueConfig{name: {MaxWorkers: 1}},
			Workers: workers,
		})
		if err != nil {
			t.Errorf("NodeQueue(%q) = %q: River refuses it: %v", id, name, err)
		}
	}
	// Node ids as the engine makes them are kept readable.
	if got, want := NodeQueue("node_abc123"), "tasks-node_abc123"; got != want {
		t.Errorf("NodeQueue(node_abc123) = %q, want %q", got, want)
	}
}

func TestJobQueue(t *testing.T) {
	if got := JobQueue(context.Background()); got != "" {
		t.Fatalf("JobQueue outside a job = %q", got)
	}
	var got string
	w := &taskWorker{h: handlerFunc(func(ctx context.Context, _ string) error {
		got = JobQueue(ctx)
		return nil
	})}
	job := jobWith(RunTaskArgs{TaskID: "t"})
	job.Queue = NodeQueue("n1")
	if err := w.Work(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if got != job.Queue {
		t.Fatalf("JobQueue in the handler = %q, want %q", got, job.Queue)
	}
}

type handlerFunc func(ctx context.Context, taskID string) error

func (f handlerFunc) RunTask(ctx context.Context, taskID string) error { return f(ctx, taskID) }

func jobWith(args RunTaskArgs) *river.Job[RunTaskArgs] {
	return &river.Job[RunTaskArgs]{JobRow: &rivertype.JobRow{}, Args: args}
}
