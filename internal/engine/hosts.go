package engine

import "sync"

// hostLimiter caps concurrent deliveries per receiver host, so that one
// receiver that hangs for the whole timeout holds only its share of the
// delivery workers and never delays deliveries to other receivers.
type hostLimiter struct {
	limit int
	mu    sync.Mutex
	busy  map[string]int
}

func newHostLimiter(limit int) *hostLimiter {
	return &hostLimiter{limit: limit, busy: map[string]int{}}
}

// acquire takes a slot for host, or reports false when the host is at its
// cap.
func (l *hostLimiter) acquire(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[host] >= l.limit {
		return false
	}
	l.busy[host]++
	return true
}

func (l *hostLimiter) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[host] <= 1 {
		delete(l.busy, host)
		return
	}
	l.busy[host]--
}
