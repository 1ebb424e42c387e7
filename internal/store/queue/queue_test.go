package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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
	want := store.QueueConfig{TaskWorkers: 2, PollInterval: 20 * time.Millisecond, RescueAfter: 60 * time.Second}
	if got != want {
		t.Fatalf("withDefaults = %+v, want %+v", got, want)
	}
}

func jobWith(args RunTaskArgs) *river.Job[RunTaskArgs] {
	return &river.Job[RunTaskArgs]{JobRow: &rivertype.JobRow{}, Args: args}
}
