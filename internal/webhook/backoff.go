package webhook

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// Defaults of Backoff (docs/API.md, --webhook-retry-base and --webhook-retry-max).
const (
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffMax  = time.Hour
	DefaultJitter      = 0.2
)

// Backoff spaces the attempts of a delivery whose webhook allows retries
// (maxAttempts > 1): the wait before attempt n+1 is Base·2^(n−1), spread by
// ±Jitter so that deliveries failed together by one outage do not come back
// together, and capped at Max. The zero value is the API's default policy.
type Backoff struct {
	// Base is the wait after the first attempt. Default 5s.
	Base time.Duration
	// Max caps every wait, Retry-After included. Default 1h.
	Max time.Duration
	// Jitter is the spread, as a fraction of the wait. Default 0.2 (±20%);
	// a negative value turns jitter off.
	Jitter float64
	// Rand returns a uniform number in [0, 1). Default math/rand/v2's
	// Float64; tests pass a seeded one.
	Rand func() float64
}

func (b Backoff) base() time.Duration {
	if b.Base > 0 {
		return b.Base
	}
	return DefaultBackoffBase
}

func (b Backoff) max() time.Duration {
	if b.Max > 0 {
		return b.Max
	}
	return DefaultBackoffMax
}

func (b Backoff) jitter() float64 {
	switch {
	case b.Jitter < 0:
		return 0
	case b.Jitter == 0:
		return DefaultJitter
	default:
		return min(b.Jitter, 1)
	}
}

// Next is the wait after attempt (1-based) failed, before attempt+1.
func (b Backoff) Next(attempt int) time.Duration {
	attempt = max(attempt, 1)
	limit := float64(b.max())
	// In float64, so that a large attempt saturates instead of overflowing.
	wait := float64(b.base()) * math.Pow(2, float64(attempt-1))
	if j := b.jitter(); j > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		wait *= 1 + j*(2*r()-1)
	}
	if wait >= limit {
		return b.max()
	}
	return time.Duration(wait)
}

// Wait is the wait after attempt failed when the receiver asked for
// retryAfter: the larger of the two, within Max.
func (b Backoff) Wait(attempt int, retryAfter time.Duration) time.Duration {
	return min(max(b.Next(attempt), retryAfter), b.max())
}

// Decide turns an attempt's result into the delivery's new state and, while
// it stays pending, the wait before the next attempt. maxAttempts is the
// webhook's (1, the default, means no retry).
func (b Backoff) Decide(r Result, maxAttempts int) (task.DeliveryState, time.Duration) {
	switch {
	case r.OK:
		return task.DeliveryDelivered, 0
	case r.Retryable && r.Attempt < maxAttempts:
		return task.DeliveryPending, b.Wait(r.Attempt, r.RetryAfter)
	default:
		return task.DeliveryFailed, 0
	}
}
