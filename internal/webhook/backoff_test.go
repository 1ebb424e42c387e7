package webhook

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/task"
)

func seeded() func() float64 { return rand.New(rand.NewPCG(1, 2)).Float64 }

// TestBackoffNextBounds checks the formula statistically with a seeded
// source: every wait within ±20% of Base·2^(n−1), the spread actually used,
// the mean centred, and the cap applied after jitter.
func TestBackoffNextBounds(t *testing.T) {
	const samples = 2000
	b := Backoff{Base: 5 * time.Second, Max: time.Hour, Rand: seeded()}
	for attempt := 1; attempt <= 12; attempt++ {
		formula := float64(5*time.Second) * math.Pow(2, float64(attempt-1))
		t.Run(time.Duration(formula).String(), func(t *testing.T) {
			lo, hi := 0.8*formula, 1.2*formula
			var sum, minW, maxW float64
			minW = math.Inf(1)
			for range samples {
				w := float64(b.Next(attempt))
				if w > float64(time.Hour) {
					t.Fatalf("wait %v above the cap", time.Duration(w))
				}
				if formula*0.8 >= float64(time.Hour) {
					if w != float64(time.Hour) {
						t.Fatalf("wait %v, want the cap", time.Duration(w))
					}
					continue
				}
				if w < lo || (w > hi && w != float64(time.Hour)) {
					t.Fatalf("wait %v outside [%v, %v]", time.Duration(w), time.Duration(lo), time.Duration(hi))
				}
				sum += w
				minW, maxW = min(minW, w), max(maxW, w)
			}
			if hi > float64(time.Hour) {
				return // partly capped: the mean is no longer centred
			}
			if mean := sum / samples; math.Abs(mean-formula) > 0.02*formula {
				t.Errorf("mean %v, want %v ±2%%", time.Duration(mean), time.Duration(formula))
			}
			if minW > 0.82*formula || maxW < 1.18*formula {
				t.Errorf("spread [%v, %v] does not use ±20%%", time.Duration(minW), time.Duration(maxW))
			}
		})
	}
}

func TestBackoffNext(t *testing.T) {
	half := func() float64 { return 0.5 } // jitter factor exactly 1
	for _, c := range []struct {
		name    string
		b       Backoff
		attempt int
		want    time.Duration
	}{
		{"defaults, first retry", Backoff{Rand: half}, 1, 5 * time.Second},
		{"defaults, third retry", Backoff{Rand: half}, 3, 20 * time.Second},
		{"defaults cap at 1h", Backoff{Rand: half}, 20, time.Hour},
		{"no overflow", Backoff{Rand: half}, 10000, time.Hour},
		{"attempt 0 is the first", Backoff{Rand: half}, 0, 5 * time.Second},
		{"custom base and max", Backoff{Base: time.Second, Max: 10 * time.Second, Rand: half}, 4, 8 * time.Second},
		{"custom max caps", Backoff{Base: time.Second, Max: 10 * time.Second, Rand: half}, 5, 10 * time.Second},
		{"lowest jitter", Backoff{Rand: func() float64 { return 0 }}, 2, 8 * time.Second},
		{"highest jitter", Backoff{Rand: func() float64 { return 0.999999999 }}, 2, 12 * time.Second},
		{"jitter off", Backoff{Jitter: -1, Rand: func() float64 { return 0 }}, 2, 10 * time.Second},
		{"custom jitter", Backoff{Jitter: 0.5, Rand: func() float64 { return 0 }}, 2, 5 * time.Second},
		{"jitter never pushes past the cap", Backoff{Max: 11 * time.Second, Rand: func() float64 { return 0.999 }}, 2, 11 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.b.Next(c.attempt)
			// The highest draw is just below 1: allow the nanoseconds.
			if d := got - c.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestBackoffWaitAndDecide(t *testing.T) {
	b := Backoff{Base: 5 * time.Second, Max: time.Minute, Jitter: -1}
	for _, c := range []struct {
		name        string
		res         Result
		maxAttempts int
		state       task.DeliveryState
		wait        time.Duration
	}{
		{"delivered", Result{Attempt: 1, OK: true}, 5, task.DeliveryDelivered, 0},
		{"default no retry", Result{Attempt: 1, Retryable: true}, 1, task.DeliveryFailed, 0},
		{"not retryable", Result{Attempt: 1}, 5, task.DeliveryFailed, 0},
		{"retry, backoff", Result{Attempt: 2, Retryable: true}, 5, task.DeliveryPending, 10 * time.Second},
		{"retry-after larger wins", Result{Attempt: 1, Retryable: true, RetryAfter: 30 * time.Second}, 5, task.DeliveryPending, 30 * time.Second},
		{"retry-after smaller ignored", Result{Attempt: 3, Retryable: true, RetryAfter: 2 * time.Second}, 5, task.DeliveryPending, 20 * time.Second},
		{"retry-after within the cap", Result{Attempt: 1, Retryable: true, RetryAfter: time.Hour}, 5, task.DeliveryPending, time.Minute},
		{"attempts exhausted", Result{Attempt: 5, Retryable: true}, 5, task.DeliveryFailed, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			state, wait := b.Decide(c.res, c.maxAttempts)
			if state != c.state || wait != c.wait {
				t.Errorf("got %s after %v, want %s after %v", state, wait, c.state, c.wait)
			}
		})
	}
}
