package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is the per-API-key request rate limit (--rate-limit): a token
// bucket per tenant, so one noisy client cannot starve the others.
type limiter struct {
	perSecond float64
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{perSecond: perSecond, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for tenant, or answers how long to wait.
func (l *limiter) allow(tenant string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	b := l.buckets[tenant]
	if b == nil {
		burst := max(1, int(math.Ceil(l.perSecond)))
		b = rate.NewLimiter(rate.Limit(l.perSecond), burst)
		l.buckets[tenant] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func rateLimited(w http.ResponseWriter, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	return errorf(http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "too many requests for this API key: retry after %d s", max(1, secs))
}
