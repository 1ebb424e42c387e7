package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// slowReceiver answers every webhook after a delay drawn from [min, max)
// and remembers, per webhook-id, when each request arrived and when it was
// answered.
type slowReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs map[string][]slowReq // webhook-id -> requests
	task map[string]string    // webhook-id -> task id
}

type slowReq struct{ arrived, answered time.Time }

func newSlowReceiver(t *testing.T, lo, hi time.Duration) *slowReceiver {
	rc := &slowReceiver{reqs: map[string][]slowReq{}, task: map[string]string{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct{ TaskID string }
		json.Unmarshal(body, &p)
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		rc.task[id] = p.TaskID
		rc.reqs[id] = append(rc.reqs[id], slowReq{arrived: time.Now()})
		n := len(rc.reqs[id]) - 1
		rc.mu.Unlock()
		// Slow, and deaf to the sender going away: a receiver that has the
		// request processes it, whatever happens to errand meanwhile.
		if hi > lo {
			time.Sleep(lo + rand.N(hi-lo))
		}
		rc.mu.Lock()
		rc.reqs[id][n].answered = time.Now()
		rc.mu.Unlock()
		w.WriteHeader(200)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// crashKill is one SIGKILL: when, when errand started again, and the
// deliveries the store still owed in between.
type crashKill struct {
	at, restart time.Time
	owed        []string
}

// owed reads, with errand dead, the deliveries the store still owes.
func owed(t *testing.T, data string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(data, "errand.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id FROM deliveries WHERE state = 'pending'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// caught splits the deliveries k left owed that the killed errand had
// already sent (a request arrived before the restart): errand will send
// them again. active were still at work in the receiver at the kill (or
// reached it just after, from the dead process's socket); answered were
// answered before it, and lag is how long before.
func (rc *slowReceiver) caught(k crashKill) (active, answered []string, lag []time.Duration) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range k.owed {
		var last *slowReq
		for i, r := range rc.reqs[id] {
			if r.arrived.Before(k.restart) {
				last = &rc.reqs[id][i]
			}
		}
		switch {
		case last == nil:
			// Never sent: it goes once, later.
		case last.answered.IsZero() || last.answered.After(k.at):
			active = append(active, id)
		default:
			answered = append(answered, id)
			lag = append(lag, k.at.Sub(last.answered))
		}
	}
	return active, answered, lag
}

// The crash runs behind BENCHMARKS.md's "Repeats after a crash": tasks
// with webhooks to a receiver, errand SIGKILLed five times at random
// moments and restarted. Every owed webhook arrives; a webhook arrives more
// than once only when the kill found it at the receiver, or answered but
// not yet recorded: then errand cannot know it arrived, and at-least-once
// sends it again. The slow receiver takes 200–800 ms per request, the fast
// one answers at once.
func TestCrashRepeats(t *testing.T) {
	for _, c := range []struct {
		name   string
		lo, hi time.Duration
	}{{"slow receiver", 200 * time.Millisecond, 800 * time.Millisecond}, {"fast receiver", 0, 0}} {
		t.Run(c.name, func(t *testing.T) { crashRepeats(t, c.name, newSlowReceiver(t, c.lo, c.hi)) })
	}
}

func crashRepeats(t *testing.T, name string, rc *slowReceiver) {
	const total, nkills = 200, 5
	site := newSite(t)
	data := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))

	body, _ := json.Marshal(map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "slow", "url": rc.URL, "submittedData": "full_response"}})
	sub := &submitter{body: body, total: total, pace: 10 * time.Millisecond} // about 100 tasks a second
	var kills []crashKill
	for killed := 0; ; {
		if killed > 0 {
			kills[killed-1].restart = time.Now()
		}
		p := startProc(t, data)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { sub.until(p, stop); close(done) }()
		if killed < nkills {
			time.Sleep(time.Duration(800+rng.IntN(1200)) * time.Millisecond)
			at := time.Now()
			p.kill()
			killed++
			close(stop)
			<-done
			kills = append(kills, crashKill{at: at, owed: owed(t, data)})
			t.Logf("kill %d: %d tasks accepted, %d deliveries owed", killed, len(sub.accepted), len(kills[killed-1].owed))
			continue
		}
		<-done
		close(stop)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			rc.mu.Lock()
			got := map[string]bool{}
			for id, reqs := range rc.reqs {
				if !reqs[len(reqs)-1].answered.IsZero() {
					got[rc.task[id]] = true
				}
			}
			rc.mu.Unlock()
			missing := 0
			for _, s := range sub.accepted {
				if !got[s.tid] {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d owed webhooks never arrived", missing, len(sub.accepted))
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.kill()
		break
	}

	needed := map[string]int{}
	active, answered := 0, 0
	var lags []time.Duration
	for i, k := range kills {
		a, b, lag := rc.caught(k)
		for _, id := range slices.Concat(a, b) {
			needed[id]++
		}
		t.Logf("kill %d caught %d deliveries at the receiver and %d answered but not recorded", i+1, len(a), len(b))
		active += len(a)
		answered += len(b)
		lags = append(lags, lag...)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	repeats, repeated, unneeded := 0, 0, 0
	perTask := map[string]int{}
	for id, reqs := range rc.reqs {
		perTask[rc.task[id]]++
		if len(reqs) > 1 {
			repeated++
			repeats += len(reqs) - 1
		}
		if extra := len(reqs) - 1 - needed[id]; extra > 0 {
			unneeded += extra
		}
	}
	for tid, n := range perTask {
		if n > 1 {
			t.Errorf("task %s was delivered under %d webhook-ids", tid, n)
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var maxLag time.Duration
	if len(lags) > 0 {
		maxLag = lags[len(lags)-1]
	}
	t.Logf("%s: %d tasks, %d SIGKILLs, %d webhooks repeated (%d repeats); at the kills %d were at the receiver and %d answered but not recorded (longest %v before the kill); %d repeats not explained by a kill",
		name, len(sub.accepted), nkills, repeated, repeats, active, answered, maxLag, unneeded)
	if unneeded > 0 {
		t.Errorf("%d repeats of webhooks that no kill caught in flight", unneeded)
	}
}
