package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildErrand builds the real binary once per test run.
var buildErrand = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "errand-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "errand")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is errand running as a real process, so it can be SIGKILLed.
type proc struct {
	*server
	cmd *exec.Cmd
}

func startProc(t *testing.T, data string, extra ...string) *proc {
	t.Helper()
	bin, err := buildErrand()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data,
		"--allow-networks", "127.0.0.0/8", "--inline-wait", "0s", "--browser", "http"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ERRAND_API_KEY="+testKey)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{server: &server{Data: data, logs: logs}, cmd: cmd}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case p.URL = <-found:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("errand did not start:\n%s", logs.String())
	}
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// gateReceiver hangs every request until it is opened, then answers 200.
// It records which webhook-ids were acknowledged and every id per task.
type gateReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	open   bool
	opened chan struct{}
	seen   int
	acked  map[string]int      // task id -> 2xx answers
	ids    map[string][]string // task id -> webhook-ids seen
}

func newGateReceiver(t *testing.T) *gateReceiver {
	g := &gateReceiver{opened: make(chan struct{}), acked: map[string]int{}, ids: map[string][]string{}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct{ TaskID string }
		json.Unmarshal(body, &p)
		g.mu.Lock()
		g.seen++
		g.ids[p.TaskID] = append(g.ids[p.TaskID], r.Header.Get("webhook-id"))
		open := g.open
		g.mu.Unlock()
		if !open {
			select {
			case <-g.opened:
			case <-r.Context().Done():
				return
			}
		}
		g.mu.Lock()
		g.acked[p.TaskID]++
		g.mu.Unlock()
		w.WriteHeader(200)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateReceiver) release() {
	g.mu.Lock()
	g.open = true
	g.mu.Unlock()
	close(g.opened)
}

func (g *gateReceiver) seenCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen
}

// SIGKILL after tasks reached their final state (webhooks owed, some not
// yet sent), and again while deliveries hang in flight, then a restart:
// every owed webhook arrives with its webhook-id, and every session, task
// and result survived.
func TestCrashKeepsEveryOwedWebhook(t *testing.T) {
	site := newSite(t)
	rc := newGateReceiver(t)
	data := t.TempDir()
	const perRound = 20

	type sub struct{ sid, tid, message string }
	var subs []sub
	submit := func(p *proc) []sub {
		var batch []sub
		for i := 0; i < perRound; i++ {
			code, m := p.call(t, "POST", "/start/run-task", map[string]any{
				"taskDetails": "read", "startingPoint": site.URL + "/news",
				"webhook": map[string]any{"name": "crash", "url": rc.URL, "submittedData": "full_response"},
			})
			if code != 200 {
				t.Fatalf("run-task: %d %v", code, m)
			}
			batch = append(batch, sub{sid: m["sessionId"].(string), tid: m["taskId"].(string)})
		}
		return batch
	}

	// Round 1: kill as soon as every task is final.
	p := startProc(t, data)
	batch := submit(p)
	for i, s := range batch {
		m := p.waitTask(t, s.sid, s.tid)
		if m["type"] != "task_completed" {
			t.Fatalf("task %v", m)
		}
		batch[i].message = m["data"].(map[string]any)["message"].(string)
	}
	p.kill()
	subs = append(subs, batch...)
	t.Logf("round 1: killed with %d of %d deliveries seen (none acknowledged)", rc.seenCount(), perRound)

	// Round 2: kill while deliveries hang in flight.
	p = startProc(t, data)
	batch = submit(p)
	for i, s := range batch {
		m := p.waitTask(t, s.sid, s.tid)
		batch[i].message = m["data"].(map[string]any)["message"].(string)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rc.seenCount() < 2*perRound && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	subs = append(subs, batch...)
	t.Logf("round 2: killed with deliveries in flight (%d requests seen by the receiver so far)", rc.seenCount())

	// Restart with the receiver answering: everything owed arrives.
	rc.release()
	p = startProc(t, data)
	deadline = time.Now().Add(60 * time.Second)
	for {
		rc.mu.Lock()
		missing := 0
		for _, s := range subs {
			if rc.acked[s.tid] == 0 {
				missing++
			}
		}
		rc.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d owed webhooks never arrived", missing, len(subs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc.mu.Lock()
	dups := 0
	for _, s := range subs {
		ids := rc.ids[s.tid]
		for _, id := range ids {
			if id != ids[0] {
				t.Errorf("task %s delivered with webhook-ids %v: duplicates must share one id", s.tid, ids)
				break
			}
		}
		dups += len(ids) - 1
	}
	rc.mu.Unlock()
	t.Logf("%d tasks, every webhook arrived; %d repeated sends, all with their webhook-id", len(subs), dups)

	// Every session, task and result survived.
	for _, s := range subs {
		code, m := p.call(t, "GET", "/task/"+s.sid+"/"+s.tid, nil)
		if code != 200 || m["type"] != "task_completed" || m["data"].(map[string]any)["message"] != s.message {
			t.Errorf("after restart task %s = %d %v", s.tid, code, m)
		}
	}
}

// The crash harness: 500 tasks with webhooks submitted while the server is
// SIGKILLed at random moments and restarted, at least five times. At the
// end every accepted task reached a final state and every owed webhook
// arrived at least once; repeated sends share their webhook-id.
func TestCrashHarness(t *testing.T) {
	const total, kills = 500, 5
	site := newSite(t)
	var mu sync.Mutex
	ids := map[string][]string{} // task id -> webhook-ids received
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct{ TaskID string }
		json.Unmarshal(body, &p)
		mu.Lock()
		ids[p.TaskID] = append(ids[p.TaskID], r.Header.Get("webhook-id"))
		mu.Unlock()
		w.WriteHeader(200)
	}))
	defer rc.Close()
	data := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))

	body, _ := json.Marshal(map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "harness", "url": rc.URL, "submittedData": "full_response"}})
	sub := &submitter{body: body, total: total}
	killed := 0
	for killed < kills || len(sub.accepted) < total {
		p := startProc(t, data)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { sub.until(p, stop); close(done) }()
		if killed < kills {
			time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
			p.kill()
			killed++
			close(stop)
			<-done
			t.Logf("kill %d: %d tasks accepted so far", killed, len(sub.accepted))
			continue
		}
		<-done
		close(stop)
		// Final run: everything accepted must end and be delivered.
		deadline := time.Now().Add(2 * time.Minute)
		for _, s := range sub.accepted {
			for {
				code, m := p.call(t, "GET", "/task/"+s.sid+"/"+s.tid, nil)
				if code != 200 {
					t.Fatalf("task %s: %d %v", s.tid, code, m)
				}
				if m["type"] == "task_completed" {
					break
				}
				if st := m["status"]; st != "queued" && st != "running" {
					t.Fatalf("task %s ended as %v", s.tid, m)
				}
				if time.Now().After(deadline) {
					t.Fatalf("task %s never ended: %v", s.tid, m)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		for {
			mu.Lock()
			missing := 0
			for _, s := range sub.accepted {
				if len(ids[s.tid]) == 0 {
					missing++
				}
			}
			mu.Unlock()
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d owed webhooks never arrived", missing, len(sub.accepted))
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.kill()
	}
	mu.Lock()
	defer mu.Unlock()
	repeats := 0
	for _, s := range sub.accepted {
		got := ids[s.tid]
		for _, id := range got {
			if id != got[0] {
				t.Fatalf("task %s delivered under webhook-ids %v", s.tid, got)
			}
		}
		repeats += len(got) - 1
	}
	t.Logf("crash harness: %d tasks accepted, %d SIGKILLs, %d final, %d webhooks received (%d repeats, all with their webhook-id)",
		len(sub.accepted), killed, len(sub.accepted), len(sub.accepted)+repeats, repeats)
}

// submitter posts one run-task body to errand until total tasks were
// accepted or stop is closed, pausing pace between requests. A request
// whose answer the kill cut off is not counted: whether it was accepted
// is unknown.
type submitter struct {
	body     []byte
	total    int
	pace     time.Duration
	accepted []struct{ sid, tid string }
}

func (s *submitter) until(p *proc, stop <-chan struct{}) {
	client := &http.Client{Timeout: 5 * time.Second}
	for len(s.accepted) < s.total {
		select {
		case <-stop:
			return
		default:
		}
		req, _ := http.NewRequest("POST", p.URL+"/start/run-task", bytes.NewReader(s.body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			s.accepted = append(s.accepted, struct{ sid, tid string }{m["sessionId"].(string), m["taskId"].(string)})
		}
		time.Sleep(s.pace)
	}
}
