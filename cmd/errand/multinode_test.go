package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hookLog records every webhook by task id.
type hookLog struct {
	mu     sync.Mutex
	byTask map[string][]map[string]any
	ids    map[string][]string
}

func newHookLog(t *testing.T) (*hookLog, *httptest.Server) {
	h := &hookLog{byTask: map[string][]map[string]any{}, ids: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p map[string]any
		json.Unmarshal(body, &p)
		tid, _ := p["taskId"].(string)
		h.mu.Lock()
		h.byTask[tid] = append(h.byTask[tid], p)
		h.ids[tid] = append(h.ids[tid], r.Header.Get("webhook-id"))
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hookLog) count(tid string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byTask[tid])
}

// Three nodes on one PostgreSQL, 300 tasks across 50 sessions submitted
// through all of them: every session's tasks ran in order, each task ran
// exactly once, every webhook arrived exactly once.
func TestThreeNodes(t *testing.T) {
	db := pg.NewDatabase(t)
	site := newSite(t)
	hooks, rc := newHookLog(t)
	var nodes []*server
	for range 3 {
		nodes = append(nodes, startServer(t, "", "--database-url", db, "--workers", "8"))
	}
	startedBefore := 0.0
	for _, n := range nodes {
		startedBefore += metric(t, n, "errand_tasks_started_total", "")
	}
	const sessions, perSession = 50, 6
	type sess struct {
		id    string
		tasks []string
	}
	all := make([]sess, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, m := nodes[i%3].call(t, "POST", "/start/start-session", map[string]any{})
			s := sess{id: m["sessionId"].(string)}
			for j := range perSession {
				node := nodes[(i+j)%3] // any node takes any request
				code, m := node.call(t, "POST", "/start/send-message", map[string]any{"sessionId": s.id, "message": map[string]any{
					"actionType": "newTask", "taskDetails": "read", "startingPoint": site.URL + "/news",
					"webhook": map[string]any{"name": "n", "url": rc.URL, "submittedData": "full_response"}}})
				if code != 200 {
					t.Errorf("newTask: %d %v", code, m)
					return
				}
				s.tasks = append(s.tasks, m["taskId"].(string))
			}
			all[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	deadline := time.Now().Add(3 * time.Minute)
	for _, s := range all {
		for k, tid := range s.tasks {
			for hooks.count(tid) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("task %s (session %s #%d) never delivered", tid, s.id, k)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	time.Sleep(time.Second) // a duplicate, if any, would arrive now
	hooks.mu.Lock()
	for _, s := range all {
		var prev time.Time
		for k, tid := range s.tasks {
			got := hooks.byTask[tid]
			if len(got) != 1 {
				t.Errorf("task %s got %d webhooks, want exactly 1", tid, len(got))
				continue
			}
			at, _ := time.Parse(time.RFC3339Nano, got[0]["completedAt"].(string))
			if k > 0 && at.Before(prev) {
				t.Errorf("session %s: task #%d completed at %v, before task #%d (%v)", s.id, k, at, k-1, prev)
			}
			prev = at
		}
	}
	hooks.mu.Unlock()
	startedAfter, perNode := 0.0, []float64{}
	for _, n := range nodes {
		v := metric(t, n, "errand_tasks_started_total", "")
		startedAfter += v
		perNode = append(perNode, v)
	}
	if got := startedAfter - startedBefore; got != sessions*perSession {
		t.Errorf("task runs started = %v across nodes, want exactly %d (each task once)", got, sessions*perSession)
	}
	t.Logf("%d tasks over %d sessions on 3 nodes; runs per node %v; every webhook exactly once", sessions*perSession, sessions, perNode)
}

// One of three nodes SIGKILLed mid-load: every task still reaches a final
// state and every owed webhook arrives (at least once, same webhook-id).
func TestNodeKilledMidLoad(t *testing.T) {
	db := pg.NewDatabase(t)
	site := newSite(t)
	hooks, rc := newHookLog(t)
	var nodes []*proc
	for range 3 {
		nodes = append(nodes, startProc(t, t.TempDir(), "--database-url", db, "--workers", "4", "--task-rescue-after", "3s"))
	}
	var tasks [][2]string
	for i := range 60 {
		// Slow pages keep tasks running when the node dies.
		page := "/news"
		if i%2 == 0 {
			page = "/slow2s"
		}
		code, m := nodes[i%3].call(t, "POST", "/start/run-task", map[string]any{"taskDetails": "read", "startingPoint": site.URL + page,
			"webhook": map[string]any{"name": "k", "url": rc.URL, "submittedData": "full_response"}})
		if code != 200 {
			t.Fatalf("run-task: %d %v", code, m)
		}
		tasks = append(tasks, [2]string{m["sessionId"].(string), m["taskId"].(string)})
	}
	time.Sleep(700 * time.Millisecond)
	running := 0
	for _, tk := range tasks {
		if _, m := nodes[1].call(t, "GET", "/task/"+tk[0]+"/"+tk[1], nil); m["status"] == "running" {
			running++
		}
	}
	nodes[0].kill()
	killedAt := time.Now()
	t.Logf("killed one node with %d tasks running across the three", running)
	waitDelivered(t, nodes[1], hooks, tasks, 3*time.Minute)
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	repeats := 0
	for _, tk := range tasks {
		ids := hooks.ids[tk[1]]
		for _, id := range ids {
			if id != ids[0] {
				t.Errorf("task %s delivered under webhook-ids %v", tk[1], ids)
			}
		}
		repeats += len(ids) - 1
	}
	t.Logf("node killed; all %d tasks completed and delivered %.1fs after the kill (%d repeated sends, same webhook-id)",
		len(tasks), time.Since(killedAt).Seconds(), repeats)
}

// A session's tasks stay on the node that ran its first one (its browser
// context lives there), whichever node their requests reach.
func TestSessionStaysOnItsNode(t *testing.T) {
	db := pg.NewDatabase(t)
	site := newSite(t)
	var nodes []*server
	for range 3 {
		nodes = append(nodes, startServer(t, "", "--database-url", db))
	}
	before := make([]float64, 3)
	for i, n := range nodes {
		before[i] = metric(t, n, "errand_tasks_started_total", "")
	}
	_, s := nodes[0].call(t, "POST", "/start/start-session", map[string]any{})
	sid := s["sessionId"].(string)
	const n = 6
	for i := range n {
		code, m := nodes[i%3].call(t, "POST", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{
			"actionType": "newTask", "taskDetails": "read", "startingPoint": site.URL + "/news"}})
		if code != 200 {
			t.Fatalf("newTask: %d %v", code, m)
		}
		nodes[0].waitTask(t, sid, m["taskId"].(string))
	}
	var runs []float64
	for i, node := range nodes {
		runs = append(runs, metric(t, node, "errand_tasks_started_total", "")-before[i])
	}
	if max(runs[0], runs[1], runs[2]) != n {
		t.Errorf("task runs per node = %v, want all %d on one node", runs, n)
	}
}

// waitDelivered polls node until every task completed and its webhook
// arrived, failing after within.
func waitDelivered(t *testing.T, node *proc, hooks *hookLog, tasks [][2]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, tk := range tasks {
		for {
			code, m := node.call(t, "GET", "/task/"+tk[0]+"/"+tk[1], nil)
			if code != 200 {
				t.Fatalf("poll: %d %v", code, m)
			}
			if m["type"] == "task_completed" && hooks.count(tk[1]) > 0 {
				break
			}
			if st := m["status"]; st == "failed" || st == "cancelled" {
				t.Fatalf("task %s: %v", tk[1], m)
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s not done after %v: %v (webhooks %d)", tk[1], within, m, hooks.count(tk[1]))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitRunning polls node until every task is running, failing after a
// minute.
func waitRunning(t *testing.T, node *proc, tasks [][2]string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, tk := range tasks {
		for {
			_, m := node.call(t, "GET", "/task/"+tk[0]+"/"+tk[1], nil)
			if m["status"] == "running" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s never ran: %v", tk[1], m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// runTasks starts n one-task sessions on node, each reading page.
func runTasks(t *testing.T, node *proc, n int, page, hook string) [][2]string {
	t.Helper()
	var tasks [][2]string
	for range n {
		code, m := node.call(t, "POST", "/start/run-task", map[string]any{"taskDetails": "read", "startingPoint": page,
			"webhook": map[string]any{"name": "k", "url": hook, "submittedData": "full_response"}})
		if code != 200 {
			t.Fatalf("run-task: %d %v", code, m)
		}
		tasks = append(tasks, [2]string{m["sessionId"].(string), m["taskId"].(string)})
	}
	return tasks
}

// A node stopped gracefully (SIGTERM) in the middle of tasks hands them
// back: another node runs them at once, without waiting for the rescue,
// which is set here far beyond the test's patience.
func TestGracefulStopHandsTasksBack(t *testing.T) {
	db := pg.NewDatabase(t)
	site := newSite(t)
	hooks, rc := newHookLog(t)
	args := []string{"--database-url", db, "--workers", "4", "--task-rescue-after", "10m", "--shutdown-grace", "100ms"}
	a := startProc(t, t.TempDir(), args...)
	// A alone takes the tasks: 2-second pages, still loading when it stops.
	tasks := runTasks(t, a, 4, site.URL+"/slow2s", rc.URL)
	waitRunning(t, a, tasks)
	b := startProc(t, t.TempDir(), args...)
	a.cmd.Process.Signal(syscall.SIGTERM)
	stopped := time.Now()
	a.cmd.Wait()
	if n := strings.Count(a.logs.String(), "queued again to run from the start"); n != len(tasks) {
		t.Errorf("the stopping node handed back %d tasks, want %d; its log:\n%s", n, len(tasks), a.logs.String())
	}
	waitDelivered(t, b, hooks, tasks, time.Minute)
	for _, tk := range tasks {
		if n := hooks.count(tk[1]); n != 1 {
			t.Errorf("task %s: %d webhooks, want 1", tk[1], n)
		}
	}
	t.Logf("node stopped with %d tasks running; all completed on the other node and delivered %.1fs after SIGTERM",
		len(tasks), time.Since(stopped).Seconds())
}

// A node frozen past the rescue delay (SIGSTOP: a long GC pause, a
// stalled VM) loses its task to another node; when it wakes its heartbeat
// tells it so and it stops its run instead of going on with it. The task
// ends once, through the other node.
func TestFrozenNodeStopsLostTask(t *testing.T) {
	db := pg.NewDatabase(t)
	site := newSite(t)
	hooks, rc := newHookLog(t)
	args := []string{"--database-url", db, "--task-rescue-after", "2s"}
	a := startProc(t, t.TempDir(), args...)
	// A 10-second page: A's run is still loading it when A wakes up.
	tasks := runTasks(t, a, 1, site.URL+"/slow", rc.URL)
	tk := tasks[0]
	waitRunning(t, a, tasks)
	b := startProc(t, t.TempDir(), args...)
	a.cmd.Process.Signal(syscall.SIGSTOP)
	frozen := true
	defer func() {
		if frozen {
			a.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	// B rescues the task and starts it again (its second run).
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(b.logs.String(), `"msg":"task started","sessionId":"`+tk[0]+`","taskId":"`+tk[1]+`","attempt":2`) {
		if time.Now().After(deadline) {
			t.Fatalf("the other node never ran the task again:\n%s", b.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.cmd.Process.Signal(syscall.SIGCONT)
	frozen = false
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(a.logs.String(), "task lost") {
		if time.Now().After(deadline) {
			t.Fatalf("the woken node never noticed it lost the task:\n%s", a.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitDelivered(t, b, hooks, tasks, time.Minute)
	if strings.Contains(a.logs.String(), "task ended") {
		t.Errorf("the node that lost the task still ended it:\n%s", a.logs.String())
	}
	if n := hooks.count(tk[1]); n != 1 {
		t.Errorf("%d webhooks, want 1", n)
	}
}
