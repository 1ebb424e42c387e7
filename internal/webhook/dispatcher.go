package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/task"
)

// Outbox is the store as a Dispatcher sees it: the deliveries table is the
// outbox. Every store.Store is one.
type Outbox interface {
	// ClaimDeliveries leases up to p.Limit due deliveries to p.Owner until
	// p.Until, with their Auth and Secret. Two claims never get the same
	// delivery while its lease runs.
	ClaimDeliveries(ctx context.Context, p task.DeliveryClaim) ([]task.Delivery, error)
	// ReleaseDeliveries gives owner's leased deliveries back unsent, due
	// at next.
	ReleaseDeliveries(ctx context.Context, owner string, ids []string, next time.Time) error
	// RecordAttempts stores attempts and their deliveries' new states in
	// one transaction, releasing the leases.
	RecordAttempts(ctx context.Context, ps []task.AttemptRecord) error
}

// Defaults of a Dispatcher.
const (
	DefaultWorkers         = 256
	DefaultHostConcurrency = 32
	DefaultPoll            = 50 * time.Millisecond
	DefaultLease           = 45 * time.Second
)

// DispatcherConfig is what a Dispatcher needs. Zero values take the
// defaults given.
type DispatcherConfig struct {
	// Outbox is where deliveries are leased and attempts recorded: the
	// store. Required, no default.
	Outbox Outbox
	// Sender makes the attempts. Required, no default.
	Sender *Sender
	// Credentials opens the deliveries' sealed credentials just before
	// each attempt (the key the engine sealed them with). Default nil: a
	// delivery with sealed credentials is not sent; its attempt fails with
	// task.ErrCredentials.
	Credentials *seal.Box
	// Owner names this node in delivery leases. Default: a random id.
	Owner string
	// Workers is how many deliveries are in flight at once on this node.
	// Default DefaultWorkers (256).
	Workers int
	// HostConcurrency caps concurrent deliveries to one receiver host, so a
	// hanging receiver holds at most that many workers. Default
	// DefaultHostConcurrency (32).
	HostConcurrency int
	// Lease is how long this node holds a delivery it is sending before
	// another node may take it over (it died mid-attempt): the sender's
	// timeout plus a margin. Default DefaultLease (45s).
	Lease time.Duration
	// Poll is how often the dispatcher looks for retries that came due and
	// deliveries owed on other nodes; a Notify wakes it at once. Default
	// DefaultPoll (50ms).
	Poll time.Duration
	// Backoff spaces the retries of deliveries that allow them. Default:
	// the zero Backoff (5s doubling, capped at 1h, ±20%).
	Backoff Backoff
	// Metrics, if set, counts attempts by event and outcome. Default nil:
	// nothing is counted.
	Metrics *metrics.Metrics
	// Logger logs each recorded attempt and the dispatcher's failures.
	// Default: a logger that discards.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Dispatcher sends the webhook deliveries the store owes. It leases due
// deliveries in batches (Outbox.ClaimDeliveries), sends each on a pool of
// workers with at most HostConcurrency at a time per receiver host, and
// records the attempts in batches (one transaction for all that finished
// together). A commit that owes deliveries wakes it at once (Notify);
// polling catches retries coming due and deliveries owed on other nodes.
//
// Delivery is at least once: after a crash, what was in flight (at most
// HostConcurrency requests per receiver host, and answers from the last
// milliseconds whose record had not committed) is sent again, with the
// same webhook-id, and nothing else is (cmd/errand's TestCrashRepeats;
// BENCHMARKS.md).
type Dispatcher struct {
	cfg DispatcherConfig
	now func() time.Time
	log *slog.Logger

	wake     chan struct{}
	records  chan task.AttemptRecord
	stop     chan struct{}
	hard     context.Context // cancelled when the grace period is over
	kill     context.CancelFunc
	started  bool          // set by Start, before anything runs
	claimer  chan struct{} // closed when the claim loop has returned
	recorder chan struct{} // closed when the record loop has returned
	sends    sync.WaitGroup

	mu       sync.Mutex
	stopped  bool
	running  int                  // sends in progress
	nwaiting int                  // claimed deliveries waiting for their host
	busy     map[string]int       // host -> sends running
	waiting  map[string][]claimed // host -> claimed, waiting for a slot
	freed    chan struct{}
}

// claimed is a delivery leased by this node, and when.
type claimed struct {
	task.Delivery
	at time.Time
}

// Limits of the in-memory lines of deliveries waiting for a busy host.
const (
	maxWaitingPerHost = 1024
	maxWaiting        = 8192
)

// NewDispatcher makes a dispatcher; Start starts it.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("webhook: a dispatcher needs an Outbox")
	}
	if cfg.Sender == nil {
		return nil, errors.New("webhook: a dispatcher needs a Sender")
	}
	if cfg.Owner == "" {
		cfg.Owner = task.NewID("node")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.HostConcurrency <= 0 {
		cfg.HostConcurrency = DefaultHostConcurrency
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	clock := cfg.Now
	hard, kill := context.WithCancel(context.Background())
	return &Dispatcher{
		cfg:      cfg,
		now:      func() time.Time { return clock().UTC() },
		log:      cfg.Logger,
		wake:     make(chan struct{}, 1),
		records:  make(chan task.AttemptRecord, 4096),
		stop:     make(chan struct{}),
		claimer:  make(chan struct{}),
		recorder: make(chan struct{}),
		hard:     hard,
		kill:     kill,
		busy:     map[string]int{},
		waiting:  map[string][]claimed{},
		freed:    make(chan struct{}, 1),
	}, nil
}

// Start starts claiming and sending. A dispatcher starts once.
func (dp *Dispatcher) Start() {
	dp.started = true
	go dp.claimLoop()
	go dp.recordLoop()
}

// Notify wakes the claim loop: deliveries were just committed.
func (dp *Dispatcher) Notify() {
	select {
	case dp.wake <- struct{}{}:
	default:
	}
}

// Stop stops claiming, lets sends in flight finish until ctx ends (then
// cancels them: their deliveries stay leased and are sent again after the
// lease, or at once after a restart on SQLite), records what finished, and
// hands back what was claimed but never sent. Stopping a dispatcher never
// started, or already stopped, does nothing.
func (dp *Dispatcher) Stop(ctx context.Context) error {
	dp.mu.Lock()
	first := dp.started && !dp.stopped
	dp.stopped = true
	dp.mu.Unlock()
	if !first {
		return nil
	}
	close(dp.stop)
	var err error
	// No new send may start once we wait for the sends: the claim loop
	// must be gone first.
	select {
	case <-dp.claimer:
	case <-ctx.Done():
		dp.kill()
		<-dp.claimer
		err = ctx.Err()
	}
	done := make(chan struct{})
	go func() { dp.sends.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		dp.kill()
		<-done
		err = ctx.Err()
	}
	close(dp.records)
	<-dp.recorder
	dp.mu.Lock()
	var ids []string
	for host, cs := range dp.waiting {
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		delete(dp.waiting, host)
	}
	dp.nwaiting = 0
	dp.mu.Unlock()
	if rerr := dp.cfg.Outbox.ReleaseDeliveries(context.WithoutCancel(ctx), dp.cfg.Owner, ids, dp.now()); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

func (dp *Dispatcher) claimLoop() {
	defer close(dp.claimer)
	tick := time.NewTicker(dp.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-dp.stop:
			return
		default:
		}
		full := dp.claim()
		if full {
			continue // more may be due right away
		}
		select {
		case <-dp.stop:
			return
		case <-dp.wake:
		case <-tick.C:
		case <-dp.freed:
		}
	}
}

// claim leases as many due deliveries as there are free workers and starts
// them; deliveries for a host already at its cap wait in a line in memory
// (a fast host drains it in milliseconds; a hanging one holds only its cap
// of workers). It reports whether to claim again at once.
func (dp *Dispatcher) claim() bool {
	dp.mu.Lock()
	free := dp.cfg.Workers - dp.running
	room := maxWaiting - dp.nwaiting
	dp.mu.Unlock()
	if free <= 0 || room <= 0 {
		return false
	}
	limit := min(free, room, 512)
	now := dp.now()
	ds, err := dp.cfg.Outbox.ClaimDeliveries(dp.hard, task.DeliveryClaim{
		Owner: dp.cfg.Owner, Now: now, Until: now.Add(dp.cfg.Lease), Limit: limit,
	})
	if err != nil {
		if dp.hard.Err() == nil {
			dp.log.Warn("claiming deliveries failed", "err", err)
		}
		return false
	}
	var release []string
	started := 0
	dp.mu.Lock()
	for _, d := range ds {
		host := hostOf(d.URL)
		if dp.busy[host] < dp.cfg.HostConcurrency {
			dp.busy[host]++
			dp.running++
			started++
			dp.sends.Add(1)
			go dp.send(host, d)
			continue
		}
		if len(dp.waiting[host]) >= maxWaitingPerHost {
			release = append(release, d.ID)
			continue
		}
		dp.waiting[host] = append(dp.waiting[host], claimed{Delivery: d, at: now})
		dp.nwaiting++
	}
	dp.mu.Unlock()
	dp.release(release, now.Add(time.Second))
	return started > 0 && len(ds) == limit
}

func (dp *Dispatcher) release(ids []string, next time.Time) {
	if len(ids) == 0 {
		return
	}
	if err := dp.cfg.Outbox.ReleaseDeliveries(context.WithoutCancel(dp.hard), dp.cfg.Owner, ids, next); err != nil {
		dp.log.Warn("releasing deliveries failed", "err", err)
	}
}

// send makes attempts for host's deliveries, d first, then whatever waits
// for that host.
func (dp *Dispatcher) send(host string, d task.Delivery) {
	defer dp.sends.Done()
	// A waiting delivery is sent only while enough of its lease remains for
	// a whole attempt; older ones are handed back (due at once) rather
	// than risk a second node sending them too.
	maxWait := dp.cfg.Lease / 3
	for {
		rec, ok := dp.attempt(dp.hard, d)
		if ok {
			dp.records <- rec
		}
		var stale []string
		next, found := claimed{}, false
		dp.mu.Lock()
		for len(dp.waiting[host]) > 0 && dp.hard.Err() == nil {
			c := dp.waiting[host][0]
			dp.waiting[host] = dp.waiting[host][1:]
			dp.nwaiting--
			if dp.now().Sub(c.at) > maxWait {
				stale = append(stale, c.ID)
				continue
			}
			next, found = c, true
			break
		}
		if !found {
			if len(dp.waiting[host]) == 0 {
				delete(dp.waiting, host)
			}
			dp.running--
			if dp.busy[host]--; dp.busy[host] <= 0 {
				delete(dp.busy, host)
			}
		}
		dp.mu.Unlock()
		dp.release(stale, dp.now())
		if !found {
			// Waiting deliveries left behind when stopping are handed back
			// by Stop.
			select {
			case dp.freed <- struct{}{}:
			default:
			}
			return
		}
		d = next.Delivery
	}
}

// attempt makes one attempt of a leased delivery and says how to record
// it. It reports false when ctx ended mid-attempt (this node is stopping):
// that is not the receiver's fault, so nothing is recorded and the delivery
// is sent again later.
func (dp *Dispatcher) attempt(ctx context.Context, d task.Delivery) (task.AttemptRecord, bool) {
	var res Result
	if sent, err := dp.open(d); err != nil {
		// Another node's key, most likely: retried like a failed POST, so
		// that a node with the right key may take it.
		res = Result{Attempt: d.Attempts + 1, At: dp.now(), Err: err.Error(), Retryable: true}
	} else {
		res = dp.cfg.Sender.Send(ctx, sent, d.Attempts+1, dp.now())
	}
	if ctx.Err() != nil {
		return task.AttemptRecord{}, false
	}
	state, wait := dp.cfg.Backoff.Decide(res, d.MaxAttempts)
	rec := task.AttemptRecord{Attempt: res.Record(d), State: state}
	outcome := string(state)
	if state == task.DeliveryPending {
		rec.NextAt = dp.now().Add(wait)
		outcome = "retry"
	}
	dp.cfg.Metrics.Attempt(string(d.Event), outcome, hostOf(d.URL), dp.now().Sub(d.CreatedAt))
	return rec, true
}

// open is d with its credentials in clear, to send: the only place they
// are opened.
func (dp *Dispatcher) open(d task.Delivery) (task.Delivery, error) {
	if len(d.SealedCredentials) == 0 {
		return d, nil
	}
	if dp.cfg.Credentials == nil {
		return d, task.ErrCredentials
	}
	return d.OpenCredentials(dp.cfg.Credentials)
}

// recordLoop writes attempts in batches: whatever finished while the
// previous batch was being committed goes into the next transaction.
func (dp *Dispatcher) recordLoop() {
	defer close(dp.recorder)
	batch := make([]task.AttemptRecord, 0, 256)
	for rec := range dp.records {
		batch = append(batch[:0], rec)
	drain:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-dp.records:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		dp.flush(batch)
	}
}

func (dp *Dispatcher) flush(batch []task.AttemptRecord) {
	ctx := context.Background()
	err := dp.cfg.Outbox.RecordAttempts(ctx, batch)
	if err == nil {
		for _, r := range batch {
			dp.recorded(r)
		}
		return
	}
	// One bad row must not lose the others: record them one by one.
	dp.log.Warn("recording a batch of attempts failed; recording one by one", "n", len(batch), "err", err)
	for _, r := range batch {
		if err := dp.cfg.Outbox.RecordAttempts(ctx, []task.AttemptRecord{r}); err != nil {
			dp.log.Error("attempt not recorded; the delivery will be sent again when its lease ends",
				"deliveryId", r.Attempt.DeliveryID, "err", err)
			continue
		}
		dp.recorded(r)
	}
}

// recorded is called once an attempt is stored.
func (dp *Dispatcher) recorded(r task.AttemptRecord) {
	a := r.Attempt
	dp.log.Info("webhook attempt", "taskId", a.TaskID, "deliveryId", a.DeliveryID, "event", a.Event,
		"attempt", a.Attempt, "host", hostOf(a.URL), "status", a.StatusCode, "state", r.State, "error", a.Error)
}

// hostOf is the receiver host of a URL, for per-host limits and logs that
// must not carry credentials or queries.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid-url"
	}
	return strings.ToLower(u.Host)
}
