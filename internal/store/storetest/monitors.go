package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// monitorTests are the suite's tests of store.Monitors.
var monitorTests = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"MonitorCreateGetListUpdateDelete", testMonitorCRUD},
	{"MonitorClaimOncePerTick", testMonitorClaimOnce},
	{"MonitorClaimConcurrent", testMonitorClaimConcurrent},
	{"MonitorRunStillGoingSkipsTheTick", testMonitorSkip},
	{"MonitorSettledWithTheTasksEnd", testMonitorSettle},
	{"MonitorDeletedMidRunOwesNothing", testMonitorDeletedMidRun},
	{"MonitorFreedByAnyEnd", testMonitorFreed},
	{"MonitorRunNow", testMonitorRunNow},
	{"MonitorRunsPagedNewestFirst", testMonitorRuns},
	{"MonitorScheduleSurvivesReopen", testMonitorReopen},
	{"MonitorOutlivesItsTerminatedSession", testMonitorNewSession},
}

// newMonitor is a monitor of tenant due at due.
func newMonitor(tenant string, due time.Time) monitor.Monitor {
	id := task.NewID("mon")
	return monitor.Monitor{
		ID: id, TenantID: tenant, Name: "price of " + id, Schedule: "@every 1m", Timezone: "UTC",
		Task: task.Spec{TaskDetails: "Extract the price", StartingPoint: "https://shop.example/anvil",
			MaxDuration: time.Minute, OutputType: task.OutputJSON, OutputSchema: json.RawMessage(`{"type":"object"}`)},
		Webhook: &task.Webhook{Name: "alerts", URL: "https://hooks.example/price", Auth: "Bearer dropped", SubmittedData: task.SubmitJustPing,
			SealedCredentials: []byte("sealed-credentials")},
		Notify:        monitor.Notify{Watch: []string{"/price"}},
		SessionID:     task.NewID("sess"),
		NextRunAt:     due,
		SealedSecrets: []byte("sealed-secrets"),
		CreatedAt:     base, UpdatedAt: base,
	}
}

func mustMonitor(t *testing.T, s store.Store, m monitor.Monitor) monitor.Monitor {
	t.Helper()
	noErr(t, "CreateMonitor", s.CreateMonitor(ctxT(t), m))
	got, err := s.MonitorByID(ctxT(t), m.ID)
	noErr(t, "MonitorByID", err)
	return got
}

// claimParams claims at now, moving each monitor's next run a minute on,
// with tasks as the engine would build them.
func claimParams(now time.Time, limit int) store.ClaimMonitorsParams {
	return store.ClaimMonitorsParams{
		Now: now, Limit: limit,
		Next: func(m monitor.Monitor) time.Time { return now.Add(time.Minute) },
		Task: monitorTask,
	}
}

func monitorTask(m monitor.Monitor, run monitor.Run) (task.Task, error) {
	spec := m.Task
	spec.Monitor = &task.MonitorRun{MonitorID: m.ID, RunID: run.ID, DueAt: run.DueAt}
	return task.Task{ID: task.NewID("task"), Spec: spec, SealedSecrets: []byte("resealed-" + run.ID)}, nil
}

func testMonitorCRUD(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := newMonitor("ten_a", base.Add(time.Minute))
	got := mustMonitor(t, h.s, m)

	want := m
	want.Webhook = &task.Webhook{Name: "alerts", URL: "https://hooks.example/price", SubmittedData: task.SubmitJustPing,
		SealedCredentials: []byte("sealed-credentials")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("monitor read back:\n got %+v\nwant %+v", got, want)
	}
	if got.Webhook.Auth != "" {
		t.Fatal("the webhook's auth was stored in clear (it belongs in SealedCredentials)")
	}
	if _, err := h.s.Monitor(ctx, "ten_b", m.ID); err == nil {
		t.Fatal("another tenant read the monitor")
	}
	if _, err := h.s.Session(ctx, "ten_a", m.SessionID); err != nil {
		t.Fatalf("the monitor's session: %v", err)
	}
	wantErr(t, "a second monitor with the same id", h.s.CreateMonitor(ctx, m), store.ErrConflict)

	// Pages, oldest first, by tenant.
	var ids []string
	ids = append(ids, m.ID)
	for i := 1; i < 5; i++ {
		o := newMonitor("ten_a", base)
		o.CreatedAt = base.Add(time.Duration(i%3) * time.Second) // ties broken by id
		mustMonitor(t, h.s, o)
		ids = append(ids, o.ID)
	}
	mustMonitor(t, h.s, newMonitor("ten_b", base))
	var paged []string
	p := store.ListMonitorsParams{TenantID: "ten_a", Limit: 2}
	for {
		page, err := h.s.ListMonitors(ctx, p)
		noErr(t, "ListMonitors", err)
		for _, x := range page {
			paged = append(paged, x.ID)
		}
		if len(page) < p.Limit {
			break
		}
		last := page[len(page)-1]
		p.AfterCreatedAt, p.AfterID = last.CreatedAt, last.ID
	}
	if len(paged) != 5 {
		t.Fatalf("paged %v", paged)
	}
	for _, id := range ids {
		if !slices.Contains(paged, id) {
			t.Fatalf("monitor %s missing from the pages %v", id, paged)
		}
	}
	all, _ := h.s.ListMonitors(ctx, store.ListMonitorsParams{TenantID: "ten_a", Limit: 100})
	if !slices.IsSortedFunc(all, func(a, b monitor.Monitor) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	}) {
		t.Fatal("monitors not listed oldest first")
	}

	// Updates change only what they set.
	paused := true
	sched, tz := "*/5 * * * *", "Europe/Paris"
	next := base.Add(5 * time.Minute)
	notify := monitor.Notify{Key: "sku", Rules: []monitor.Rule{{Path: "/price", Below: ptrF(10)}}}
	up, err := h.s.UpdateMonitor(ctx, store.UpdateMonitorParams{TenantID: "ten_a", ID: m.ID, Paused: &paused,
		Schedule: &sched, Timezone: &tz, NextRunAt: next, Notify: &notify, At: base.Add(time.Hour)})
	noErr(t, "UpdateMonitor", err)
	again, _ := h.s.Monitor(ctx, "ten_a", m.ID)
	if !reflect.DeepEqual(up, again) || !again.Paused || again.Schedule != sched || again.Timezone != tz ||
		!again.NextRunAt.Equal(next) || !reflect.DeepEqual(again.Notify, notify) || !again.UpdatedAt.Equal(base.Add(time.Hour)) ||
		again.Name != m.Name || !reflect.DeepEqual(again.Task, m.Task) || again.Webhook == nil {
		t.Fatalf("after update:\n got %+v\nwant the changes only", again)
	}
	wh := &task.Webhook{Name: "new", URL: "https://hooks.example/new", SubmittedData: task.SubmitFullResponse, Auth: "Bearer x",
		SealedCredentials: []byte("new-seal")}
	up, err = h.s.UpdateMonitor(ctx, store.UpdateMonitorParams{TenantID: "ten_a", ID: m.ID, Webhook: wh})
	noErr(t, "UpdateMonitor webhook", err)
	again, _ = h.s.Monitor(ctx, "ten_a", m.ID)
	if again.Webhook == nil || again.Webhook.URL != wh.URL || again.Webhook.Auth != "" || string(again.Webhook.SealedCredentials) != "new-seal" || !again.Paused {
		t.Fatalf("after the webhook update: %+v (returned %+v)", again, up)
	}
	_, err = h.s.UpdateMonitor(ctx, store.UpdateMonitorParams{TenantID: "ten_a", ID: m.ID, RemoveWebhook: true})
	noErr(t, "UpdateMonitor remove webhook", err)
	again, _ = h.s.Monitor(ctx, "ten_a", m.ID)
	if again.Webhook != nil {
		t.Fatalf("webhook not removed: %+v", again)
	}
	_, err = h.s.UpdateMonitor(ctx, store.UpdateMonitorParams{TenantID: "ten_b", ID: m.ID, Paused: &paused})
	wantErr(t, "another tenant's update", err, store.ErrNotFound)

	wantErr(t, "another tenant's delete", h.s.DeleteMonitor(ctx, "ten_b", m.ID), store.ErrNotFound)
	noErr(t, "DeleteMonitor", h.s.DeleteMonitor(ctx, "ten_a", m.ID))
	_, err = h.s.Monitor(ctx, "ten_a", m.ID)
	wantErr(t, "deleted monitor", err, store.ErrNotFound)
	wantErr(t, "deleting twice", h.s.DeleteMonitor(ctx, "ten_a", m.ID), store.ErrNotFound)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ptrF(x float64) *float64 { return &x }

func testMonitorClaimOnce(t *testing.T, h *harness) {
	ctx := ctxT(t)
	due := mustMonitor(t, h.s, newMonitor("ten_a", base))
	mustMonitor(t, h.s, newMonitor("ten_a", base.Add(time.Hour))) // not due yet
	pausedM := newMonitor("ten_a", base)
	pausedM.Paused = true
	mustMonitor(t, h.s, pausedM)

	now := base.Add(30 * time.Second) // a missed tick: claimed late, once
	claimed, err := h.s.ClaimMonitors(ctx, claimParams(now, 10))
	noErr(t, "ClaimMonitors", err)
	if len(claimed) != 1 || claimed[0].MonitorID != due.ID || claimed[0].Run == nil {
		t.Fatalf("claimed %+v, want only %s with a run", claimed, due.ID)
	}
	c := claimed[0]
	if !c.DueAt.Equal(base) || !c.NextRunAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("claimed due %s next %s", c.DueAt, c.NextRunAt)
	}
	run := c.Run
	tk := mustTask(t, h.s, run.TaskID)
	if tk.Status != task.StatusQueued || tk.SessionID != due.SessionID || tk.TenantID != "ten_a" ||
		tk.Spec.Monitor == nil || tk.Spec.Monitor.RunID != run.ID || string(tk.SealedSecrets) != "resealed-"+run.ID {
		t.Fatalf("the run's task: %+v", tk)
	}
	m, _ := h.s.MonitorByID(ctx, due.ID)
	if m.Running != tk.ID || !m.NextRunAt.Equal(c.NextRunAt) || m.Runs != 1 || !m.LastRunAt.Equal(now) {
		t.Fatalf("monitor after the claim: running %q next %s runs %d last %s", m.Running, m.NextRunAt, m.Runs, m.LastRunAt)
	}
	again, err := h.s.ClaimMonitors(ctx, claimParams(now, 10))
	noErr(t, "ClaimMonitors again", err)
	if len(again) != 0 {
		t.Fatalf("a tick was claimed twice: %+v", again)
	}

	// The task runs through the queue like any task.
	ran := make(chan string, 4)
	h.start(handlers{runTask: func(ctx context.Context, id string) error {
		ran <- id
		return nil
	}})
	select {
	case id := <-ran:
		if id != tk.ID {
			t.Fatalf("the queue ran %s, want the run's task %s", id, tk.ID)
		}
	case <-time.After(waitLimit):
		t.Fatal("the run's task was never handed to the queue")
	}
}

// testMonitorClaimConcurrent: eight claimers at once, over many due
// monitors and several ticks: every tick of every monitor is claimed by
// exactly one of them.
func testMonitorClaimConcurrent(t *testing.T, h *harness) {
	ctx := ctxT(t)
	const monitors, ticks, claimers = 30, 3, 8
	for i := 0; i < monitors; i++ {
		mustMonitor(t, h.s, newMonitor("ten_a", base))
	}
	var mu sync.Mutex
	runs := map[string]int{} // monitor id -> runs claimed
	for tick := 0; tick < ticks; tick++ {
		now := base.Add(time.Duration(tick) * time.Minute)
		var wg sync.WaitGroup
		for c := 0; c < claimers; c++ {
			wg.Go(func() {
				for {
					got, err := h.s.ClaimMonitors(ctx, claimParams(now, 4))
					if err != nil {
						t.Errorf("ClaimMonitors: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, g := range got {
						if g.Run != nil {
							runs[g.MonitorID]++
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// End every run, so that the next tick starts new ones.
		for id := range runs {
			m, _ := h.s.MonitorByID(ctx, id)
			if m.Running != "" {
				noErr(t, "finish run", h.s.FinishTask(ctx, store.FinishParams{TaskID: m.Running, Outcome: task.Outcome{Message: "{}"}, At: now}))
			}
		}
	}
	if len(runs) != monitors {
		t.Fatalf("%d monitors ran, want %d", len(runs), monitors)
	}
	for id, n := range runs {
		if n != ticks {
			t.Errorf("monitor %s: %d runs over %d ticks", id, n, ticks)
		}
	}
}

func testMonitorSkip(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := mustMonitor(t, h.s, newMonitor("ten_a", base))
	first, err := h.s.ClaimMonitors(ctx, claimParams(base, 10))
	noErr(t, "ClaimMonitors", err)
	if len(first) != 1 || first[0].Run == nil {
		t.Fatalf("first claim %+v", first)
	}
	_, err = h.s.StartTask(ctx, first[0].Run.TaskID, runnerA, base)
	noErr(t, "StartTask", err)
	// The next tick comes while the run goes on: skipped, counted, no task.
	tick := base.Add(time.Minute)
	second, err := h.s.ClaimMonitors(ctx, claimParams(tick, 10))
	noErr(t, "ClaimMonitors at the next tick", err)
	if len(second) != 1 || second[0].Run != nil || !second[0].NextRunAt.Equal(tick.Add(time.Minute)) {
		t.Fatalf("second claim %+v, want a skip", second)
	}
	got, _ := h.s.MonitorByID(ctx, m.ID)
	if got.Skipped != 1 || got.Runs != 1 || got.Running != first[0].Run.TaskID {
		t.Fatalf("after the skip: skipped %d runs %d running %q", got.Skipped, got.Runs, got.Running)
	}
	active, _ := h.s.ActiveTasks(ctx, m.SessionID)
	if len(active) != 1 {
		t.Fatalf("the skipped tick queued a task: %d active", len(active))
	}
}

func testMonitorSettle(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := mustMonitor(t, h.s, newMonitor("ten_a", base))
	claimed, err := h.s.ClaimMonitors(ctx, claimParams(base, 10))
	noErr(t, "ClaimMonitors", err)
	run := claimed[0].Run
	_, err = h.s.StartTask(ctx, run.TaskID, runnerA, base)
	noErr(t, "StartTask", err)

	ended := base.Add(3 * time.Second)
	state := monitor.State{Baseline: true, Answer: `{"price":9}`, PageHash: "h", Rules: []monitor.RuleState{{Rule: "r1", Holding: true}}}
	settled := monitor.Run{Status: string(task.StatusCompleted), Changed: true,
		Changes: []monitor.Change{{Path: "/price", Kind: monitor.KindChanged, Before: json.RawMessage(`12`), After: json.RawMessage(`9`)}},
		Fired:   []monitor.Fired{{Rule: monitor.Rule{Path: "/price", Below: ptrF(10)}, Value: json.RawMessage(`9`)}},
		Events:  []task.Event{monitor.EventChanged}}
	d := task.Delivery{ID: task.NewID("msg"), Event: monitor.EventChanged, URL: "https://hooks.example/price",
		Auth: "Bearer s3cret", Body: []byte(`{"event":"monitor.changed"}`), MaxAttempts: 1, State: task.DeliveryPending}
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{
		TaskID: run.TaskID, Outcome: task.Outcome{Message: `{"price":9}`}, At: ended, Runner: runnerA,
		Monitor: &store.MonitorSettlement{MonitorID: m.ID, RunID: run.ID, State: state, Run: settled,
			SealedStorage: []byte("cookies"), Deliveries: []task.Delivery{d}},
	}))
	got, _ := h.s.MonitorByID(ctx, m.ID)
	if got.Running != "" || !reflect.DeepEqual(got.State, state) || string(got.SealedStorage) != "cookies" {
		t.Fatalf("monitor after settling: running %q state %+v storage %q", got.Running, got.State, got.SealedStorage)
	}
	runs, err := h.s.MonitorRuns(ctx, store.MonitorRunsParams{TenantID: "ten_a", MonitorID: m.ID, Limit: 10})
	noErr(t, "MonitorRuns", err)
	if len(runs) != 1 {
		t.Fatalf("runs %+v", runs)
	}
	r := runs[0]
	if r.ID != run.ID || r.TaskID != run.TaskID || r.Status != "completed" || !r.Changed || !r.EndedAt.Equal(ended) ||
		!reflect.DeepEqual(r.Changes, settled.Changes) || !reflect.DeepEqual(r.Fired, settled.Fired) ||
		!reflect.DeepEqual(r.Events, settled.Events) || !r.DueAt.Equal(base) || !r.RunAt.Equal(base) {
		t.Fatalf("settled run:\n got %+v\nwant %+v", r, settled)
	}
	ds, err := h.s.TaskDeliveries(ctx, run.TaskID)
	noErr(t, "TaskDeliveries", err)
	if len(ds) != 1 || ds[0].ID != d.ID || ds[0].Event != monitor.EventChanged || ds[0].SessionID != m.SessionID || ds[0].TenantID != "ten_a" {
		t.Fatalf("deliveries of the run: %+v", ds)
	}
	full, _ := h.s.Delivery(ctx, d.ID)
	if full.Auth != d.Auth {
		t.Fatalf("delivery auth %q", full.Auth)
	}

	// A second run without storage keeps the stored one.
	next, err := h.s.ClaimMonitors(ctx, claimParams(base.Add(time.Minute), 10))
	noErr(t, "ClaimMonitors 2", err)
	noErr(t, "FinishTask 2", h.s.FinishTask(ctx, store.FinishParams{TaskID: next[0].Run.TaskID, Outcome: task.Outcome{Code: task.CodeNavigationTimeout, Error: "x"},
		At: ended.Add(time.Minute), Monitor: &store.MonitorSettlement{MonitorID: m.ID, RunID: next[0].Run.ID,
			State: monitor.State{Baseline: true, Answer: state.Answer, Failures: 1}, Run: monitor.Run{Status: "failed"}, KeepRuns: 1}}))
	got, _ = h.s.MonitorByID(ctx, m.ID)
	if string(got.SealedStorage) != "cookies" || got.State.Failures != 1 {
		t.Fatalf("after a failed run: storage %q state %+v", got.SealedStorage, got.State)
	}
	runs, _ = h.s.MonitorRuns(ctx, store.MonitorRunsParams{TenantID: "ten_a", MonitorID: m.ID, Limit: 10})
	if len(runs) != 1 || runs[0].ID != next[0].Run.ID || runs[0].Status != "failed" {
		t.Fatalf("KeepRuns 1 kept %+v", runs)
	}
}

func testMonitorDeletedMidRun(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := mustMonitor(t, h.s, newMonitor("ten_a", base))
	claimed, err := h.s.ClaimMonitors(ctx, claimParams(base, 10))
	noErr(t, "ClaimMonitors", err)
	run := claimed[0].Run
	_, err = h.s.StartTask(ctx, run.TaskID, runnerA, base)
	noErr(t, "StartTask", err)
	noErr(t, "DeleteMonitor", h.s.DeleteMonitor(ctx, "ten_a", m.ID))

	d := task.Delivery{ID: task.NewID("msg"), Event: monitor.EventChanged, URL: "https://hooks.example/price",
		Body: []byte(`{}`), MaxAttempts: 1, State: task.DeliveryPending}
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{
		TaskID: run.TaskID, Outcome: task.Outcome{Message: `{"price":1}`}, At: base.Add(time.Second), Runner: runnerA,
		Monitor: &store.MonitorSettlement{MonitorID: m.ID, RunID: run.ID, Run: monitor.Run{Status: "completed"}, Deliveries: []task.Delivery{d}},
	}))
	if tk := mustTask(t, h.s, run.TaskID); tk.Status != task.StatusCompleted {
		t.Fatalf("the run's task did not finish: %s", tk.Status)
	}
	ds, _ := h.s.TaskDeliveries(ctx, run.TaskID)
	if len(ds) != 0 {
		t.Fatalf("a deleted monitor's run owes %d deliveries", len(ds))
	}
	if _, err := h.s.MonitorByID(ctx, m.ID); err == nil {
		t.Fatal("the settlement brought the deleted monitor back")
	}
	more, _ := h.s.ClaimMonitors(ctx, claimParams(base.Add(time.Hour), 10))
	if len(more) != 0 {
		t.Fatalf("a deleted monitor was claimed: %+v", more)
	}
}

func testMonitorFreed(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := mustMonitor(t, h.s, newMonitor("ten_a", base))
	claimed, _ := h.s.ClaimMonitors(ctx, claimParams(base, 10))
	// The task is cancelled with the session, not settled as a run.
	tasks, err := h.s.TerminateSession(ctx, m.SessionID, base)
	noErr(t, "TerminateSession", err)
	if len(tasks) != 1 || tasks[0].ID != claimed[0].Run.TaskID {
		t.Fatalf("terminated %+v", tasks)
	}
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tasks[0].ID, Outcome: task.Outcome{Code: task.CodeCancelled}, At: base}))
	got, _ := h.s.MonitorByID(ctx, m.ID)
	if got.Running != "" {
		t.Fatalf("the monitor still runs %s after its task ended", got.Running)
	}
	runs, _ := h.s.MonitorRuns(ctx, store.MonitorRunsParams{TenantID: "ten_a", MonitorID: m.ID, Limit: 10})
	if len(runs) != 1 || runs[0].Status != string(task.StatusCancelled) {
		t.Fatalf("an unsettled run reports its task's status: %+v", runs)
	}
}

func testMonitorRunNow(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := newMonitor("ten_a", base.Add(time.Hour))
	m.Paused = true
	mustMonitor(t, h.s, m)
	now := base.Add(time.Minute)
	run, err := h.s.RunMonitorNow(ctx, store.RunMonitorParams{TenantID: "ten_a", ID: m.ID, Now: now, Task: monitorTask})
	noErr(t, "RunMonitorNow", err)
	if !run.DueAt.Equal(now) || run.TaskID == "" {
		t.Fatalf("run %+v", run)
	}
	got, _ := h.s.MonitorByID(ctx, m.ID)
	if got.Running != run.TaskID || !got.NextRunAt.Equal(m.NextRunAt) {
		t.Fatalf("after a manual run: running %q next %s (want unchanged %s)", got.Running, got.NextRunAt, m.NextRunAt)
	}
	_, err = h.s.RunMonitorNow(ctx, store.RunMonitorParams{TenantID: "ten_a", ID: m.ID, Now: now, Task: monitorTask})
	wantErr(t, "a second manual run while the first goes on", err, store.ErrConflict)
	_, err = h.s.RunMonitorNow(ctx, store.RunMonitorParams{TenantID: "ten_b", ID: m.ID, Now: now, Task: monitorTask})
	wantErr(t, "another tenant's monitor", err, store.ErrNotFound)
	_, err = h.s.RunMonitorNow(ctx, store.RunMonitorParams{TenantID: "ten_a", ID: m.ID, Now: now,
		Task: func(monitor.Monitor, monitor.Run) (task.Task, error) { return task.Task{}, fmt.Errorf("no") }})
	if err == nil {
		t.Fatal("a run whose task cannot be built started")
	}
}

func testMonitorRuns(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := mustMonitor(t, h.s, newMonitor("ten_a", base))
	var want []string
	for i := 0; i < 5; i++ {
		now := base.Add(time.Duration(i) * time.Minute)
		c, err := h.s.ClaimMonitors(ctx, claimParams(now, 10))
		noErr(t, "ClaimMonitors", err)
		if len(c) != 1 || c[0].Run == nil {
			t.Fatalf("tick %d: %+v", i, c)
		}
		want = append([]string{c[0].Run.ID}, want...)
		if i < 4 {
			noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: c[0].Run.TaskID, Outcome: task.Outcome{Message: "{}"}, At: now,
				Monitor: &store.MonitorSettlement{MonitorID: m.ID, RunID: c[0].Run.ID, Run: monitor.Run{Status: "completed"}}}))
		}
	}
	var got []string
	var statuses []string
	p := store.MonitorRunsParams{TenantID: "ten_a", MonitorID: m.ID, Limit: 2}
	for {
		page, err := h.s.MonitorRuns(ctx, p)
		noErr(t, "MonitorRuns", err)
		for _, r := range page {
			got = append(got, r.ID)
			statuses = append(statuses, r.Status)
		}
		if len(page) < p.Limit {
			break
		}
		p.BeforeRunAt, p.BeforeID = page[len(page)-1].RunAt, page[len(page)-1].ID
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("runs %v, want newest first %v", got, want)
	}
	if statuses[0] != string(task.StatusQueued) || statuses[1] != "completed" {
		t.Fatalf("statuses %v: the run in progress reports its task's status", statuses)
	}
	other, _ := h.s.MonitorRuns(ctx, store.MonitorRunsParams{TenantID: "ten_b", MonitorID: m.ID, Limit: 10})
	if len(other) != 0 {
		t.Fatal("another tenant read the runs")
	}
}

func testMonitorReopen(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := mustMonitor(t, h.s, newMonitor("ten_a", base))
	c, _ := h.s.ClaimMonitors(ctx, claimParams(base, 10))
	if len(c) != 1 {
		t.Fatalf("claimed %+v", c)
	}
	s := h.reopen()
	got, err := s.MonitorByID(ctx, m.ID)
	noErr(t, "MonitorByID after reopen", err)
	if !got.NextRunAt.Equal(base.Add(time.Minute)) || got.Running != c[0].Run.TaskID {
		t.Fatalf("after reopen: next %s running %q", got.NextRunAt, got.Running)
	}
	n, err := s.DueMonitors(ctx, base.Add(2*time.Minute))
	noErr(t, "DueMonitors", err)
	if n != 1 {
		t.Fatalf("due after reopen: %d", n)
	}
	next, ok, err := s.NextMonitorDue(ctx)
	noErr(t, "NextMonitorDue", err)
	if !ok || !next.Equal(base.Add(time.Minute)) {
		t.Fatalf("NextMonitorDue = %s %v, want %s", next, ok, base.Add(time.Minute))
	}
	// Due during the downtime: one run now, not one per missed tick.
	late := base.Add(10 * time.Minute)
	noErr(t, "FinishTask", s.FinishTask(ctx, store.FinishParams{TaskID: got.Running, Outcome: task.Outcome{Message: "{}"}, At: late}))
	again, err := s.ClaimMonitors(ctx, claimParams(late, 10))
	noErr(t, "ClaimMonitors after downtime", err)
	if len(again) != 1 || again[0].Run == nil {
		t.Fatalf("after downtime: %+v", again)
	}
	more, _ := s.ClaimMonitors(ctx, claimParams(late, 10))
	if len(more) != 0 {
		t.Fatalf("missed ticks replayed: %+v", more)
	}
}

// testMonitorNewSession: a monitor whose session was terminated through
// the session API goes on in a new session.
func testMonitorNewSession(t *testing.T, h *harness) {
	ctx := ctxT(t)
	m := mustMonitor(t, h.s, newMonitor("ten_a", base))
	if _, err := h.s.TerminateSession(ctx, m.SessionID, base); err != nil {
		t.Fatalf("TerminateSession: %v", err)
	}
	c, err := h.s.ClaimMonitors(ctx, claimParams(base, 10))
	noErr(t, "ClaimMonitors", err)
	if len(c) != 1 || c[0].Run == nil || c[0].Run.SessionID == m.SessionID {
		t.Fatalf("claimed %+v", c)
	}
	tk := mustTask(t, h.s, c[0].Run.TaskID)
	got, _ := h.s.MonitorByID(ctx, m.ID)
	if tk.SessionID != c[0].Run.SessionID || got.SessionID != tk.SessionID || tk.Status != task.StatusQueued {
		t.Fatalf("task in %s, monitor's session %s, run's %s", tk.SessionID, got.SessionID, c[0].Run.SessionID)
	}
	if _, err := h.s.Session(ctx, "ten_a", got.SessionID); err != nil {
		t.Fatalf("the new session: %v", err)
	}
}
