package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/webhookkit"
)

// The dispatcher's tests run it over a real SQLite store, with real HTTP
// receivers on loopback.

func openOutbox(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{
		Path: filepath.Join(t.TempDir(), "errand.db"), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// owe commits n deliveries to url the way a task's end does: each in the
// transaction that finishes its task. at is when they were raised (and
// fall due).
func owe(t *testing.T, st store.Store, url string, n, maxAttempts int, at time.Time, edit ...func(*task.Delivery)) []task.Delivery {
	t.Helper()
	var ds []task.Delivery
	for range n {
		s := task.Session{ID: task.NewID("sess"), TenantID: "tenant", State: task.SessionActive, CreatedAt: at, LastActive: at}
		tk := &task.Task{ID: task.NewID("task"), Status: task.StatusQueued, CreatedAt: at,
			Spec: task.Spec{TaskDetails: "t", MaxDuration: time.Minute, OutputType: task.OutputText}}
		if err := st.CreateSession(t.Context(), s, tk); err != nil {
			t.Fatal(err)
		}
		d := task.Delivery{
			ID: task.NewID("msg"), TaskID: tk.ID, SessionID: s.ID, TenantID: s.TenantID,
			Event: task.EventCompleted, URL: url, Body: []byte(`{"event":"task_completed"}`),
			MaxAttempts: maxAttempts, State: task.DeliveryPending, CreatedAt: at,
		}
		for _, e := range edit {
			e(&d)
		}
		if err := st.FinishTask(t.Context(), store.FinishParams{
			TaskID: tk.ID, Outcome: task.Outcome{Message: "done"}, At: at, Deliveries: []task.Delivery{d},
		}); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

// dispatch starts a dispatcher over st (the sender and a discarding
// logger unless cfg has them) and stops it when the test ends.
func dispatch(t *testing.T, st store.Store, cfg DispatcherConfig) *Dispatcher {
	t.Helper()
	cfg.Outbox = st
	if cfg.Sender == nil {
		cfg.Sender = newSender()
	}
	dp, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dp.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = dp.Stop(ctx) // a second Stop after the test's own does nothing
	})
	return dp
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func deliveryNow(t *testing.T, st store.Store, id string) task.Delivery {
	t.Helper()
	d, err := st.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func allIn(t *testing.T, st store.Store, ds []task.Delivery, state task.DeliveryState) bool {
	t.Helper()
	for _, d := range ds {
		if deliveryNow(t, st, d.ID).State != state {
			return false
		}
	}
	return true
}

// hanging is a receiver that holds every request until release (or the
// request is abandoned), counting how many it holds at once.
type hanging struct {
	*receiver
	gate     chan struct{}
	once     sync.Once
	inflight atomic.Int64
	most     atomic.Int64
}

func newHanging(t *testing.T) *hanging {
	h := &hanging{gate: make(chan struct{})}
	h.receiver = newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		n := h.inflight.Add(1)
		defer h.inflight.Add(-1)
		for {
			m := h.most.Load()
			if n <= m || h.most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-h.gate:
		case <-r.Context().Done():
		}
	})
	// Registered after the server's Close: runs first, so Close does not
	// wait on held requests.
	t.Cleanup(h.release)
	return h
}

func (h *hanging) release() { h.once.Do(func() { close(h.gate) }) }

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestDispatcherHostCap: a receiver that hangs holds at most
// HostConcurrency workers, and another host's deliveries go out meanwhile.
func TestDispatcherHostCap(t *testing.T) {
	st := openOutbox(t)
	slow := newHanging(t)
	fast := newReceiver(t, nil)
	now := time.Now()
	slowDs := owe(t, st, slow.URL, 6, 1, now)
	fastDs := owe(t, st, fast.URL, 6, 1, now)

	dispatch(t, st, DispatcherConfig{Workers: 16, HostConcurrency: 2})

	eventually(t, "the fast host's deliveries", func() bool { return allIn(t, st, fastDs, task.DeliveryDelivered) })
	eventually(t, "two requests held by the hanging host", func() bool { return slow.inflight.Load() == 2 })
	if n := len(slow.got()); n != 2 {
		t.Fatalf("the hanging host got %d requests while its first two hang, want 2 (cap)", n)
	}
	if allIn(t, st, slowDs[:1], task.DeliveryDelivered) {
		t.Fatal("a delivery to the hanging host is recorded as delivered")
	}

	slow.release()
	eventually(t, "the slow host's deliveries once it answers", func() bool { return allIn(t, st, slowDs, task.DeliveryDelivered) })
	if m := slow.most.Load(); m != 2 {
		t.Fatalf("the hanging host saw up to %d requests at once, want the cap of 2", m)
	}
	if n := len(slow.got()); n != 6 {
		t.Fatalf("the slow host got %d requests, want 6 (one per delivery)", n)
	}
}

// TestDispatcherRetries: a failed attempt is retried after the backoff, or
// after the receiver's Retry-After when that is longer, with the same
// webhook-id, until a 2xx; nothing is sent before it is due.
func TestDispatcherRetries(t *testing.T) {
	st := openOutbox(t)
	clk := newClock()
	var calls atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	d := owe(t, st, rc.URL, 1, 5, clk.Now())[0]
	base := 50 * time.Millisecond
	dispatch(t, st, DispatcherConfig{Now: clk.Now, Poll: 5 * time.Millisecond, Backoff: Backoff{Base: base, Jitter: -1}})

	attempts := func() int { return deliveryNow(t, st, d.ID).Attempts }
	eventually(t, "the first attempt", func() bool { return attempts() == 1 })
	got := deliveryNow(t, st, d.ID)
	if got.State != task.DeliveryPending || !got.NextAt.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("after a 503 with Retry-After: 1: state %s, next at +%v; want pending, due at +1s (Retry-After beats the 50ms backoff)",
			got.State, got.NextAt.Sub(clk.Now()))
	}
	// Many polls pass while the retry is not due: nothing is sent.
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.got()); n != 1 {
		t.Fatalf("%d requests before the retry was due, want 1", n)
	}

	clk.Add(time.Second)
	eventually(t, "the second attempt", func() bool { return attempts() == 2 })
	got = deliveryNow(t, st, d.ID)
	if got.State != task.DeliveryPending || !got.NextAt.Equal(clk.Now().Add(2*base)) {
		t.Fatalf("after a second failure: state %s, next at +%v; want pending, due at +%v (base·2)",
			got.State, got.NextAt.Sub(clk.Now()), 2*base)
	}

	clk.Add(2 * base)
	eventually(t, "the third attempt", func() bool { return attempts() == 3 })
	if s := deliveryNow(t, st, d.ID).State; s != task.DeliveryDelivered {
		t.Fatalf("after a 200: state %s, want delivered", s)
	}
	as, err := st.Attempts(t.Context(), d.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for _, a := range as {
		codes = append(codes, a.StatusCode)
	}
	if len(codes) != 3 || codes[0] != 503 || codes[1] != 500 || codes[2] != 200 {
		t.Fatalf("recorded status codes %v, want [503 500 200]", codes)
	}
	for i, r := range rc.got() {
		if id := r.header.Get(webhookkit.HeaderID); id != d.ID {
			t.Fatalf("attempt %d had webhook-id %q, want %q on every attempt", i+1, id, d.ID)
		}
	}
}

// TestDispatcherStop: a graceful stop lets the sends in flight finish
// (with their host's line); a stop whose grace runs out cancels them,
// records nothing for them, and hands back the claimed deliveries never
// sent, so that another node sends them at once and the cancelled one after
// its lease. Nothing is lost.
func TestDispatcherStop(t *testing.T) {
	t.Run("graceful", func(t *testing.T) {
		st := openOutbox(t)
		rc := newHanging(t)
		ds := owe(t, st, rc.URL, 4, 1, time.Now())
		dp := dispatch(t, st, DispatcherConfig{HostConcurrency: 1})
		eventually(t, "the first send", func() bool { return rc.inflight.Load() == 1 })

		stopped := make(chan error)
		go func() { stopped <- dp.Stop(context.Background()) }()
		rc.release()
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if !allIn(t, st, ds, task.DeliveryDelivered) {
			t.Fatal("a graceful stop left claimed deliveries unsent")
		}
	})

	t.Run("grace runs out", func(t *testing.T) {
		st := openOutbox(t)
		var answer atomic.Bool
		held := make(chan struct{}, 8)
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			if !answer.Load() {
				held <- struct{}{}
				<-r.Context().Done()
			}
		})
		ds := owe(t, st, rc.URL, 4, 1, time.Now())
		a := dispatch(t, st, DispatcherConfig{HostConcurrency: 1, Owner: "node-a"})
		<-held // one in flight, three in the host's line

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := a.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop past its grace: %v, want context.DeadlineExceeded", err)
		}
		var inFlight task.Delivery
		for _, d := range ds {
			if got := deliveryNow(t, st, d.ID); got.Attempts != 0 || got.State != task.DeliveryPending {
				t.Fatalf("after the stop, delivery %s is %s with %d attempts; want pending with none recorded", d.ID, got.State, got.Attempts)
			}
		}

		answer.Store(true)
		clk := newClock()
		dispatch(t, st, DispatcherConfig{Owner: "node-b", Now: clk.Now, Poll: 5 * time.Millisecond})
		eventually(t, "the three handed back", func() bool {
			n := 0
			for _, d := range ds {
				if deliveryNow(t, st, d.ID).State == task.DeliveryDelivered {
					n++
				} else {
					inFlight = d
				}
			}
			return n == 3
		})
		time.Sleep(50 * time.Millisecond) // ten polls: the cancelled one is still leased to node-a
		if s := deliveryNow(t, st, inFlight.ID).State; s != task.DeliveryPending {
			t.Fatalf("the delivery cancelled mid-send is %s before its lease ended, want pending", s)
		}
		clk.Add(DefaultLease + time.Second)
		eventually(t, "the cancelled one after its lease", func() bool { return allIn(t, st, ds, task.DeliveryDelivered) })
		if n := len(rc.got()); n != 5 {
			t.Fatalf("the receiver got %d requests, want 5: one cancelled, then one per delivery", n)
		}
	})
}

// TestDispatcherRecordFallsBackOneByOne: one attempt that cannot be
// recorded (its delivery is gone) fails the batch's transaction; the
// others are then recorded one by one, not lost.
func TestDispatcherRecordFallsBackOneByOne(t *testing.T) {
	st := openOutbox(t)
	now := time.Now()
	ds := owe(t, st, "http://127.0.0.1:9/", 2, 1, now)
	dp, err := NewDispatcher(DispatcherConfig{Outbox: st, Sender: newSender()})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(d task.Delivery) task.AttemptRecord {
		return task.AttemptRecord{State: task.DeliveryDelivered, Attempt: task.Attempt{
			DeliveryID: d.ID, TaskID: d.TaskID, Event: d.Event, Attempt: 1, URL: d.URL, StatusCode: 200, At: now,
		}}
	}
	gone := task.Delivery{ID: "msg_gone", TaskID: ds[0].TaskID, Event: task.EventCompleted, URL: ds[0].URL}
	batch := []task.AttemptRecord{rec(ds[0]), rec(gone), rec(ds[1])}
	if err := st.RecordAttempts(t.Context(), batch); err == nil {
		t.Fatal("the store recorded a batch with an attempt of no delivery: the test cannot see the fallback")
	}

	dp.flush(batch)
	if !allIn(t, st, ds, task.DeliveryDelivered) {
		t.Fatal("the good attempts of a failed batch were not recorded")
	}
	for _, d := range ds {
		as, err := st.Attempts(t.Context(), d.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 1 {
			t.Fatalf("task %s has %d attempts recorded, want 1", d.TaskID, len(as))
		}
	}
}

// TestDispatcherNotify: a Notify sends what was just committed at once,
// without waiting for the poll.
func TestDispatcherNotify(t *testing.T) {
	st := openOutbox(t)
	rc := newReceiver(t, nil)
	counted := &countingOutbox{Store: st}
	dp := dispatch(t, counted, DispatcherConfig{Poll: time.Hour})
	eventually(t, "the first claim, at start", func() bool { return counted.claims.Load() == 1 })
	d := owe(t, st, rc.URL, 1, 1, time.Now())[0]
	time.Sleep(50 * time.Millisecond)
	if n := len(rc.got()); n != 0 {
		t.Fatalf("%d requests before Notify with an hour's poll, want 0", n)
	}
	dp.Notify()
	eventually(t, "the delivery after Notify", func() bool { return allIn(t, st, []task.Delivery{d}, task.DeliveryDelivered) })
}

// countingOutbox is a store that counts the claims that returned.
type countingOutbox struct {
	store.Store
	claims atomic.Int64
}

func (c *countingOutbox) ClaimDeliveries(ctx context.Context, p task.DeliveryClaim) ([]task.Delivery, error) {
	defer c.claims.Add(1)
	return c.Store.ClaimDeliveries(ctx, p)
}

// TestNewDispatcherNeedsOutboxAndSender: the required fields are refused
// when missing, rather than failing at the first delivery.
func TestNewDispatcherNeedsOutboxAndSender(t *testing.T) {
	if _, err := NewDispatcher(DispatcherConfig{Sender: newSender()}); err == nil {
		t.Error("NewDispatcher without an Outbox: no error")
	}
	if _, err := NewDispatcher(DispatcherConfig{Outbox: openOutbox(t)}); err == nil {
		t.Error("NewDispatcher without a Sender: no error")
	}
}

// TestDispatcherOpensCredentials: a delivery whose credentials are sealed
// goes out with them opened; a dispatcher without the key sends nothing and
// records why.
func TestDispatcherOpensCredentials(t *testing.T) {
	box := seal.NewRandom()
	for _, tc := range []struct {
		name string
		key  *seal.Box
		sent bool
	}{
		{"the key", box, true},
		{"another key", seal.NewRandom(), false},
		{"no key", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openOutbox(t)
			rc := newReceiver(t, nil)
			now := time.Now()
			d := owe(t, st, strings.Replace(rc.URL, "http://", "http://user:pa55@", 1), 1, 1, now, func(d *task.Delivery) {
				d.Auth = ""
				d.SealCredentials(box)
			})[0]
			dispatch(t, st, DispatcherConfig{Credentials: tc.key})
			eventually(t, "the attempt", func() bool { return deliveryNow(t, st, d.ID).Attempts == 1 })
			as, err := st.Attempts(t.Context(), d.TaskID)
			if err != nil || len(as) != 1 {
				t.Fatalf("attempts %v, %v", as, err)
			}
			if !tc.sent {
				if n := len(rc.got()); n != 0 || !strings.Contains(as[0].Error, "do not open") {
					t.Fatalf("%d requests, attempt error %q; want none sent and the reason recorded", n, as[0].Error)
				}
				return
			}
			got := rc.got()
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa55"))
			if len(got) != 1 || got[0].header.Get("Authorization") != want || as[0].StatusCode != 200 {
				t.Fatalf("sent %d requests (%v), attempt %+v; want one with Authorization %q", len(got), got, as[0], want)
			}
			if strings.Contains(as[0].URL, "pa55") {
				t.Fatalf("the recorded attempt's URL holds the password: %s", as[0].URL)
			}
		})
	}
}
