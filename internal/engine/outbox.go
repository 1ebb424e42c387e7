package engine

import (
	"context"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/store"
)

// Outbox defaults.
const (
	DefaultDeliveryWorkers = 256
	DefaultHostConcurrency = 32
	DefaultOutboxPoll      = 50 * time.Millisecond
	DefaultDeliveryLease   = 45 * time.Second
)

// outbox sends the webhook deliveries the store owes. It leases due
// deliveries in batches (store.ClaimDeliveries), sends each on a pool of
// workers with at most HostConcurrency at a time per receiver host, and
// records the attempts in batches (one transaction for all that finished
// together). A commit that owes deliveries wakes it at once; polling
// catches retries coming due and deliveries owed on other nodes.
type outbox struct {
	e       *Engine
	owner   string
	workers int
	perHost int
	poll    time.Duration
	lease   time.Duration

	wake     chan struct{}
	records  chan store.RecordParams
	stop     chan struct{}
	hard     context.Context // cancelled when the grace period is over
	kill     context.CancelFunc
	started  bool
	claimer  chan struct{} // closed when the claim loop has returned
	recorder chan struct{} // closed when the record loop has returned
	sends    sync.WaitGroup

	mu       sync.Mutex
	running  int                  // sends in progress
	nwaiting int                  // claimed deliveries waiting for their host
	busy     map[string]int       // host -> sends running
	waiting  map[string][]claimed // host -> claimed, waiting for a slot
	freed    chan struct{}
}

// claimed is a delivery leased by this node, and when.
type claimed struct {
	store.Delivery
	at time.Time
}

// Limits of the in-memory lines of deliveries waiting for a busy host.
const (
	maxWaitingPerHost = 1024
	maxWaiting        = 8192
)

func newOutbox(e *Engine) *outbox {
	hard, kill := context.WithCancel(context.Background())
	return &outbox{
		e:        e,
		owner:    e.cfg.NodeID,
		workers:  e.cfg.DeliveryWorkers,
		perHost:  e.cfg.HostConcurrency,
		poll:     e.cfg.OutboxPoll,
		lease:    e.cfg.DeliveryLease,
		wake:     make(chan struct{}, 1),
		records:  make(chan store.RecordParams, 4096),
		stop:     make(chan struct{}),
		claimer:  make(chan struct{}),
		recorder: make(chan struct{}),
		hard:     hard,
		kill:     kill,
		busy:     map[string]int{},
		waiting:  map[string][]claimed{},
		freed:    make(chan struct{}, 1),
	}
}

func (o *outbox) start() {
	o.started = true
	go o.claimLoop()
	go o.recordLoop()
}

// notify wakes the claim loop: deliveries were just committed.
func (o *outbox) notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// shutdown stops claiming, lets sends in flight finish until ctx ends (then
// cancels them: their deliveries stay leased and are sent again after the
// lease, or at once after a restart on SQLite), records what finished, and
// hands back what was claimed but never sent.
func (o *outbox) shutdown(ctx context.Context) error {
	if !o.started {
		return nil
	}
	close(o.stop)
	var err error
	// No new send may start once we wait for the sends: the claim loop
	// must be gone first.
	select {
	case <-o.claimer:
	case <-ctx.Done():
		o.kill()
		<-o.claimer
		err = ctx.Err()
	}
	done := make(chan struct{})
	go func() { o.sends.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		o.kill()
		<-done
		err = ctx.Err()
	}
	close(o.records)
	<-o.recorder
	o.mu.Lock()
	var ids []string
	for host, cs := range o.waiting {
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		delete(o.waiting, host)
	}
	o.nwaiting = 0
	o.mu.Unlock()
	if rerr := o.e.st.ReleaseDeliveries(context.WithoutCancel(ctx), o.owner, ids, o.e.now()); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

func (o *outbox) claimLoop() {
	defer close(o.claimer)
	tick := time.NewTicker(o.poll)
	defer tick.Stop()
	for {
		select {
		case <-o.stop:
			return
		default:
		}
		full := o.claim()
		if full {
			continue // more may be due right away
		}
		select {
		case <-o.stop:
			return
		case <-o.wake:
		case <-tick.C:
		case <-o.freed:
		}
	}
}

// claim leases as many due deliveries as there are free workers and starts
// them; deliveries for a host already at its cap wait in a line in memory
// (a fast host drains it in milliseconds; a hanging one holds only its cap
// of workers). It reports whether to claim again at once.
func (o *outbox) claim() bool {
	o.mu.Lock()
	free := o.workers - o.running
	room := maxWaiting - o.nwaiting
	o.mu.Unlock()
	if free <= 0 || room <= 0 {
		return false
	}
	limit := min(free, room, 512)
	now := o.e.now()
	ds, err := o.e.st.ClaimDeliveries(o.hard, store.ClaimParams{
		Owner: o.owner, Now: now, Until: now.Add(o.lease), Limit: limit,
	})
	if err != nil {
		if o.hard.Err() == nil {
			o.e.log.Warn("claiming deliveries failed", "err", err)
		}
		return false
	}
	var release []string
	started := 0
	o.mu.Lock()
	for _, d := range ds {
		host := hostOf(d.URL)
		if o.busy[host] < o.perHost {
			o.busy[host]++
			o.running++
			started++
			o.sends.Add(1)
			go o.send(host, d)
			continue
		}
		if len(o.waiting[host]) >= maxWaitingPerHost {
			release = append(release, d.ID)
			continue
		}
		o.waiting[host] = append(o.waiting[host], claimed{Delivery: d, at: now})
		o.nwaiting++
	}
	o.mu.Unlock()
	o.release(release, now.Add(time.Second))
	return started > 0 && len(ds) == limit
}

func (o *outbox) release(ids []string, next time.Time) {
	if len(ids) == 0 {
		return
	}
	if err := o.e.st.ReleaseDeliveries(context.WithoutCancel(o.hard), o.owner, ids, next); err != nil {
		o.e.log.Warn("releasing deliveries failed", "err", err)
	}
}

// send makes attempts for host's deliveries, d first, then whatever waits
// for that host.
func (o *outbox) send(host string, d store.Delivery) {
	defer o.sends.Done()
	// A waiting delivery is sent only while enough of its lease remains for
	// a whole attempt; older ones are handed back (due at once) rather
	// than risk a second node sending them too.
	maxWait := o.lease / 3
	for {
		rec, ok := o.e.attempt(o.hard, d)
		if ok {
			o.records <- rec
		}
		var stale []string
		next, found := claimed{}, false
		o.mu.Lock()
		for len(o.waiting[host]) > 0 && o.hard.Err() == nil {
			c := o.waiting[host][0]
			o.waiting[host] = o.waiting[host][1:]
			o.nwaiting--
			if o.e.now().Sub(c.at) > maxWait {
				stale = append(stale, c.ID)
				continue
			}
			next, found = c, true
			break
		}
		if !found {
			if len(o.waiting[host]) == 0 {
				delete(o.waiting, host)
			}
			o.running--
			if o.busy[host]--; o.busy[host] <= 0 {
				delete(o.busy, host)
			}
		}
		o.mu.Unlock()
		o.release(stale, o.e.now())
		if !found {
			// Waiting deliveries left behind when stopping are handed back
			// by shutdown.
			select {
			case o.freed <- struct{}{}:
			default:
			}
			return
		}
		d = next.Delivery
	}
}

// recordLoop writes attempts in batches: whatever finished while the
// previous batch was being committed goes into the next transaction.
func (o *outbox) recordLoop() {
	defer close(o.recorder)
	batch := make([]store.RecordParams, 0, 256)
	for rec := range o.records {
		batch = append(batch[:0], rec)
	drain:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-o.records:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		o.flush(batch)
	}
}

func (o *outbox) flush(batch []store.RecordParams) {
	ctx := context.Background()
	err := o.e.st.RecordAttempts(ctx, batch)
	if err == nil {
		for _, r := range batch {
			o.e.deliveryRecorded(r)
		}
		return
	}
	// One bad row must not lose the others: record them one by one.
	o.e.log.Warn("recording a batch of attempts failed; recording one by one", "n", len(batch), "err", err)
	for _, r := range batch {
		if err := o.e.st.RecordAttempts(ctx, []store.RecordParams{r}); err != nil {
			o.e.log.Error("attempt not recorded; the delivery will be sent again when its lease ends",
				"deliveryId", r.Attempt.DeliveryID, "err", err)
			continue
		}
		o.e.deliveryRecorded(r)
	}
}
