package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/node"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// The monitor phases (BENCHMARKS.md, "Monitors"): how late a node's
// scheduler starts the runs of many monitors due every minute, with the
// CPU and memory it takes; how fast a tenant with very many monitors lists
// them; and how soon a changed value reaches the webhook.

// monitorSpec is a monitor's task on the bench's static product page.
func (b *bencher) monitorSpec(i int) task.Spec {
	return task.Spec{
		TaskDetails: "Monitor the page for price changes", StartingPoint: fmt.Sprintf("%s/product/%d", b.site, i),
		MaxDuration: time.Minute, OutputType: task.OutputJSON,
		OutputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"},"price":{"type":"number"}},"required":["title","price"]}`),
	}
}

// monitorNode starts one SQLite node (engine and scheduler running), with
// --workers monitorWorkers.
func (b *bencher) monitorNode() (*node.Node, func(), error) {
	apps, done, err := b.newApps(target{name: "SQLite, 1 node", nodes: 1, workers: b.monitorWorkers})
	if err != nil {
		return nil, nil, err
	}
	n := apps[0]
	if err := startAll(b.ctx, apps); err != nil {
		done()
		return nil, nil, err
	}
	n.Monitors.Start()
	return n, func() {
		n.Monitors.Stop(b.ctx)
		stopAll(b.ctx, apps)
		done()
	}, nil
}

// scheduleResult is what the scheduling phase measured.
type scheduleResult struct {
	lag  *dist // due → the run's task started
	runs int
	// late counts the runs due in the window that had not started when
	// they were read (5 s after it); their lag (a lower bound: due → that
	// moment) is in lag.
	late          int
	runsPerSecond float64
	cores         float64 // CPU time ÷ wall time over the window
	rssMiB        float64 // resident memory at the end of the window
	heapMiB       float64
	skipped       int64 // ticks skipped in the window (and the 5 s after)
}

// monitorSchedule creates count monitors due every minute (spread over the
// minute by their ids, as the scheduler does), lets them run for warm-up
// plus window, and measures the runs due within the window.
func (b *bencher) monitorSchedule(count int, window time.Duration) (scheduleResult, error) {
	n, done, err := b.monitorNode()
	if err != nil {
		return scheduleResult{}, err
	}
	defer done()
	ids := make([]string, 0, count)
	for i := range count {
		m, err := n.Monitors.Create(b.ctx, runner.CreateParams{
			TenantID: httpapi.BootstrapTenant, Name: fmt.Sprintf("bench %d", i), Schedule: "@every 1m",
			Task: b.monitorSpec(i),
		})
		if err != nil {
			return scheduleResult{}, err
		}
		ids = append(ids, m.ID)
	}
	// A minute of warm-up: every monitor has run once (its baseline) and
	// the runs are in their steady rhythm.
	warm := time.Now().Add(time.Minute)
	if err := sleepCtx(b.ctx, time.Until(warm)); err != nil {
		return scheduleResult{}, err
	}
	skippedBefore, err := b.skipped(n, ids)
	if err != nil {
		return scheduleResult{}, err
	}
	cpu0, wall0 := cpuTime(), time.Now()
	if err := sleepCtx(b.ctx, window); err != nil {
		return scheduleResult{}, err
	}
	res := scheduleResult{cores: (cpuTime() - cpu0).Seconds() / time.Since(wall0).Seconds(), rssMiB: rssMiB()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heapMiB = float64(ms.HeapInuse) / (1 << 20)
	end := wall0.Add(window)
	// Let the runs due by the end of the window start before reading them.
	if err := sleepCtx(b.ctx, 5*time.Second); err != nil {
		return scheduleResult{}, err
	}
	res.lag = &dist{}
	for _, id := range ids {
		page, err := n.Store.MonitorRuns(b.ctx, store.MonitorRunsParams{TenantID: httpapi.BootstrapTenant, MonitorID: id, Limit: 10})
		if err != nil {
			return scheduleResult{}, err
		}
		for _, r := range page {
			if r.DueAt.Before(wall0) || !r.DueAt.Before(end) {
				continue
			}
			t, err := n.Store.TaskByID(b.ctx, r.TaskID)
			if err != nil {
				return scheduleResult{}, err
			}
			started := t.StartedAt
			if started.IsZero() {
				res.late++
				started = time.Now()
			}
			res.lag.samples = append(res.lag.samples, started.Sub(r.DueAt))
		}
	}
	skippedAfter, err := b.skipped(n, ids)
	if err != nil {
		return scheduleResult{}, err
	}
	res.skipped = skippedAfter - skippedBefore
	res.runs = len(res.lag.samples)
	res.runsPerSecond = float64(res.runs) / window.Seconds()
	return res, nil
}

// skipped sums the ticks the monitors skipped so far.
func (b *bencher) skipped(n *node.Node, ids []string) (int64, error) {
	var total int64
	for _, id := range ids {
		m, err := n.Store.MonitorByID(b.ctx, id)
		if err != nil {
			return 0, err
		}
		total += m.Skipped
	}
	return total, nil
}

// monitorList stores count paused monitors for one tenant and pages
// through them all with GET /monitors, timing each page.
func (b *bencher) monitorList(count, limit int) (*dist, time.Duration, error) {
	n, done, err := b.monitorNode()
	if err != nil {
		return nil, 0, err
	}
	defer done()
	began := time.Now()
	now := time.Now()
	// Through the store, many at once: what is measured is the listing.
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += 8 {
				id := task.NewID("mon")
				err := n.Store.CreateMonitor(b.ctx, monitor.Monitor{
					ID: id, TenantID: httpapi.BootstrapTenant, Name: fmt.Sprintf("listed %d", i), Schedule: "@hourly", Timezone: "UTC",
					Task: b.monitorSpec(i), Paused: true, SessionID: task.NewID("sess"),
					NextRunAt: now.Add(time.Hour), CreatedAt: now.Add(time.Duration(i) * time.Millisecond), UpdatedAt: now,
				})
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return nil, 0, err
	default:
	}
	stored := time.Since(began)
	srv := httptest.NewServer(n.Handler)
	defer srv.Close()
	res := &dist{}
	cursor := ""
	for {
		path := "/monitors?limit=" + strconv.Itoa(limit)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer bench")
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, 0, err
		}
		var page struct {
			Monitors   []json.RawMessage `json:"monitors"`
			NextCursor string            `json:"nextCursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		res.samples = append(res.samples, time.Since(t0))
		if err != nil || resp.StatusCode != 200 {
			return nil, 0, fmt.Errorf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return res, stored, nil
}

// monitorChange makes count monitors, each with a baseline, then changes
// the page's price and runs them all now at rate a second: the lag from
// the run request to the webhook received, and from the run's end
// (completedAt) to the webhook received.
func (b *bencher) monitorChange(count, rate int) (fromRun, fromEnd *dist, err error) {
	var price sync.Map // monitor index -> price
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := "9.99"
		if v, ok := price.Load(strings.TrimPrefix(r.URL.Path, "/product/")); ok {
			p = v.(string)
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<html><head><title>Bench Product</title><script type="application/ld+json">{"@type":"Product","name":"Bench Product","offers":{"price":%q}}</script></head><body><h1>Bench Product</h1></body></html>`, p)
	}))
	defer site.Close()
	var mu sync.Mutex
	asked := map[string]time.Time{} // monitor id -> run requested
	fromRun, fromEnd = &dist{}, &dist{}
	got := make(chan struct{}, count)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var p struct {
			CompletedAt time.Time `json:"completedAt"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &p)
		mu.Lock()
		if at, ok := asked[r.Header.Get("Errand-Monitor-Id")]; ok {
			fromRun.samples = append(fromRun.samples, now.Sub(at))
			fromEnd.samples = append(fromEnd.samples, now.Sub(p.CompletedAt))
		}
		mu.Unlock()
		w.WriteHeader(200)
		got <- struct{}{}
	}))
	defer hook.Close()

	n, done, err := b.monitorNode()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	ids := make([]string, count)
	for i := range count {
		spec := b.monitorSpec(i)
		spec.StartingPoint = fmt.Sprintf("%s/product/%d", site.URL, i)
		m, err := n.Monitors.Create(b.ctx, runner.CreateParams{
			TenantID: httpapi.BootstrapTenant, Name: fmt.Sprintf("change %d", i), Schedule: "@hourly", Paused: true, Task: spec,
			Webhook: &task.Webhook{Name: "bench", URL: hook.URL, SubmittedData: task.SubmitJustPing, Auth: "Bearer bench"},
		})
		if err != nil {
			return nil, nil, err
		}
		ids[i] = m.ID
	}
	runAll := func(record bool) error {
		var wg sync.WaitGroup
		var firstErr error
		var emu sync.Mutex
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		for i, id := range ids {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if record {
					mu.Lock()
					asked[id] = time.Now()
					mu.Unlock()
				}
				for {
					_, err := n.Monitors.RunNow(b.ctx, httpapi.BootstrapTenant, id)
					if errors.Is(err, runner.ErrRunning) {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if err != nil {
						emu.Lock()
						firstErr = err
						emu.Unlock()
					}
					return
				}
			}()
		}
		wg.Wait()
		return firstErr
	}
	// The baseline: every monitor's first answer, nothing sent.
	if err := runAll(false); err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		for {
			m, err := n.Store.MonitorByID(b.ctx, id)
			if err != nil {
				return nil, nil, err
			}
			if m.State.Baseline && m.Running == "" {
				break
			}
			if err := sleepCtx(b.ctx, 20*time.Millisecond); err != nil {
				return nil, nil, err
			}
		}
	}
	for i := range count {
		price.Store(strconv.Itoa(i), "8.49")
	}
	if err := runAll(true); err != nil {
		return nil, nil, err
	}
	deadline := time.After(2 * time.Minute)
	for range count {
		select {
		case <-got:
		case <-deadline:
			return nil, nil, fmt.Errorf("only some changes were notified within 2 minutes")
		}
	}
	return fromRun, fromEnd, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB reads the process's resident memory (Linux).
func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// monitorPhases runs the three monitor phases on SQLite, one node.
func (b *bencher) monitorPhases(add func(what, value string), count int, window time.Duration, listed, changes, rate int) error {
	fmt.Fprintf(b.out, "SQLite, 1 node: %d monitors due every minute, measured for %s after a minute …\n", count, window)
	sr, err := b.monitorSchedule(count, window)
	if err != nil {
		return fmt.Errorf("monitor scheduling: %w", err)
	}
	add(fmt.Sprintf("SQLite, 1 node: %d monitors every minute, due → run started (%d runs, %.0f/s)", count, sr.runs, sr.runsPerSecond), sr.lag.String())
	add(fmt.Sprintf("SQLite, 1 node: %d monitors every minute, CPU and memory of the node", count),
		fmt.Sprintf("%.2f cores, RSS %.0f MiB (Go heap %.0f MiB), %d ticks skipped, %d runs not started 5 s after the window", sr.cores, sr.rssMiB, sr.heapMiB, sr.skipped, sr.late))
	fmt.Fprintf(b.out, "SQLite, 1 node: %d monitors stored, GET /monitors page by page …\n", listed)
	ld, stored, err := b.monitorList(listed, 50)
	if err != nil {
		return fmt.Errorf("monitor listing: %w", err)
	}
	add(fmt.Sprintf("SQLite, 1 node: GET /monitors?limit=50, every page of %d monitors (stored in %s)", listed, stored.Round(time.Second)), ld.String())
	fmt.Fprintf(b.out, "SQLite, 1 node: %d changed values, runs asked at %d/s …\n", changes, rate)
	fromRun, fromEnd, err := b.monitorChange(changes, rate)
	if err != nil {
		return fmt.Errorf("monitor changes: %w", err)
	}
	add(fmt.Sprintf("SQLite, 1 node: changed value, run asked → webhook received (%d monitors at %d/s)", changes, rate), fromRun.String())
	add(fmt.Sprintf("SQLite, 1 node: changed value, run ended → webhook received (%d monitors)", changes), fromEnd.String())
	return nil
}
