package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
)

// bench measures errand on this machine: webhook deliveries per second next
// to the raw HTTP ceiling, completion-to-delivery latency at a steady task
// rate, and API latency. Everything runs in this process on loopback: the
// server on its embedded SQLite store, a page to extract, and a receiver.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("errand bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("deliveries", 5000, "deliveries for the throughput phases")
	rate := fs.Int("task-rate", 100, "tasks per second for the latency phase")
	apiRates := fs.String("api-rates", "200,1000", "requests per second for the API latency phases")
	dur := fs.Duration("duration", 10*time.Second, "length of each steady-rate phase")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	only := fs.String("only", "", "run only this phase: ceiling, throughput, latency or api")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	phase := func(name string) bool { return *only == "" || *only == name }
	b := &bencher{ctx: ctx, out: stderr}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, benchPage)
	}))
	defer site.Close()
	b.rc = newBenchReceiver()
	defer b.rc.Close()
	b.site = site.URL

	var rows [][]string
	add := func(what, value string) { rows = append(rows, []string{what, value}) }

	ceiling := 0.0
	if phase("ceiling") || phase("throughput") {
		fmt.Fprintln(stderr, "raw HTTP ceiling …")
		var err error
		ceiling, err = b.rawCeiling(*n)
		if err != nil {
			return err
		}
		add("raw HTTP ceiling (Go client → receiver, no store)", fmt.Sprintf("%.0f req/s", ceiling))
	}
	if phase("throughput") {
		fmt.Fprintln(stderr, "tasks + deliveries, then deliveries alone …")
		e2e, drain, err := b.throughput(*n)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("tasks run + delivered (%d queued, built-in extractor)", *n), fmt.Sprintf("%.0f tasks/s", e2e))
		add(fmt.Sprintf("webhook deliveries sustained (%d queued)", *n), fmt.Sprintf("%.0f deliveries/s (%.0f%% of ceiling)", drain, 100*drain/ceiling))
	}
	if phase("latency") {
		fmt.Fprintf(stderr, "completion → delivery latency at %d tasks/s …\n", *rate)
		lat, err := b.latency(*rate, *dur)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("completion → delivery at %d tasks/s (%d tasks)", *rate, len(lat.samples)), lat.String())
	}
	for _, rs := range strings.Split(*apiRates, ",") {
		if !phase("api") {
			break
		}
		var r int
		fmt.Sscan(rs, &r)
		if r <= 0 {
			continue
		}
		fmt.Fprintf(stderr, "API latency at %d req/s …\n", r)
		ss, poll, err := b.apiLatency(r, *dur)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("POST /start/start-session at %d req/s", r), ss.String())
		add(fmt.Sprintf("GET /task/… (polling) at %d req/s", r), poll.String())
	}

	fmt.Fprintf(stdout, "errand %s bench — %s, %d cores, %s, SQLite store\n\n", version, cpuModel(), runtime.NumCPU(), runtime.Version())
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tresult")
	fmt.Fprintln(tw, "-------\t------")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

const benchPage = `<html><head><title>Bench Product</title>
<script type="application/ld+json">{"@type":"Product","name":"Bench Product","description":"d",
"offers":{"price":"9.99","availability":"https://schema.org/InStock"}}</script></head>
<body><h1>Bench Product</h1><p>Something to read.</p></body></html>`

type bencher struct {
	ctx  context.Context
	out  io.Writer
	rc   *benchReceiver
	site string
}

// newApp starts errand's real wiring on a fresh SQLite folder; the queue is
// started by the caller.
func (b *bencher) newApp(data string) (*app, error) {
	c := &config{
		Data: data, AllowNetworks: "127.0.0.0/8", Browser: "http", APIKey: "bench",
		InlineWait: 0, WebhookTO: 30 * time.Second, SessionIdle: 5 * time.Minute,
		RetryBase: 5 * time.Second, RetryMax: time.Hour, Workers: 8,
		PriceIn: 0.6, PriceOut: 2.7, PriceCompute: 0.02,
	}
	// Production logging (JSON, info level), written nowhere.
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return buildApp(b.ctx, c, logger)
}

func (b *bencher) spec() task.Spec {
	return task.Spec{
		TaskDetails: "Extract the product", StartingPoint: b.site + "/p",
		MaxDuration: time.Minute, OutputType: task.OutputText,
		Webhook: &task.Webhook{Name: "bench", URL: b.rc.URL + "/hook", SubmittedData: task.SubmitFullResponse, Auth: "Bearer bench", MaxAttempts: 1},
	}
}

// rawCeiling POSTs n full_response-sized bodies straight to the receiver
// with the same transport errand uses.
func (b *bencher) rawCeiling(n int) (float64, error) {
	policy := netguard.New(netguard.Config{Allow: mustPrefixes("127.0.0.0/8")})
	client := &http.Client{Transport: policy.Transport(netguard.TransportOptions{})}
	body := []byte(`{"type":"task_completed","sessionId":"sess_x","taskId":"task_x","data":{"message":"# Bench Product\n\nSomething to read.","prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"completion_time":0.004},"usage":{"inputTokens":0,"outputTokens":0,"computeTime":0.004,"cost":0.000001},"completedAt":"2026-01-01T00:00:00.000Z"}`)
	var next atomic.Int64
	var failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("POST", b.rc.URL+"/raw", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 0, fmt.Errorf("raw ceiling: %d requests failed", failed.Load())
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// throughput queues n tasks with the queue stopped, then measures how fast
// they run and deliver; then queues a redelivery of each and measures the
// delivery pipeline alone.
func (b *bencher) throughput(n int) (e2e, drain float64, err error) {
	data, err := os.MkdirTemp("", "errand-bench-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(data)
	a, err := b.newApp(data)
	if err != nil {
		return 0, 0, err
	}
	type ref struct{ sid, tid string }
	refs := make([]ref, 0, n)
	for range n {
		t, err := a.engine.RunTask(b.ctx, "bench", b.spec())
		if err != nil {
			return 0, 0, err
		}
		refs = append(refs, ref{t.SessionID, t.ID})
	}
	b.rc.reset()
	start := time.Now()
	if err := a.engine.Start(b.ctx); err != nil {
		return 0, 0, err
	}
	if err := b.rc.waitFor(n, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	e2e = float64(n) / time.Since(start).Seconds()
	stopCtx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	a.engine.Stop(stopCtx)
	cancel()
	a.close()

	a, err = b.newApp(data)
	if err != nil {
		return 0, 0, err
	}
	defer a.close()
	for _, r := range refs {
		if _, err := a.engine.Redeliver(b.ctx, "bench", r.sid, r.tid, ""); err != nil {
			return 0, 0, fmt.Errorf("redeliver: %w", err)
		}
	}
	b.rc.reset()
	start = time.Now()
	if err := a.engine.Start(b.ctx); err != nil {
		return 0, 0, err
	}
	if err := b.rc.waitFor(n, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	drain = float64(n) / time.Since(start).Seconds()
	stopCtx, cancel = context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	a.engine.Stop(stopCtx)
	return e2e, drain, nil
}

// latency submits tasks through the HTTP API at a steady rate and measures,
// at the receiver, the time from the task's completedAt to the POST.
func (b *bencher) latency(rate int, d time.Duration) (*dist, error) {
	data, err := os.MkdirTemp("", "errand-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	a, err := b.newApp(data)
	if err != nil {
		return nil, err
	}
	defer a.close()
	if err := a.engine.Start(b.ctx); err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		a.engine.Stop(stopCtx)
	}()
	srv := httptest.NewServer(a.handler)
	defer srv.Close()
	body, _ := json.Marshal(map[string]any{
		"taskDetails": "Extract the product", "startingPoint": b.site + "/p",
		"webhook": map[string]any{"name": "bench", "url": b.rc.URL + "/hook", "submittedData": "full_response"},
	})
	b.rc.reset()
	sent := openLoop(rate, d, func() time.Duration {
		req, _ := http.NewRequest("POST", srv.URL+"/start/run-task", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench")
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return time.Since(t0)
	})
	if err := b.rc.waitFor(len(sent.samples), time.Minute); err != nil {
		return nil, err
	}
	return b.rc.lag(), nil
}

// apiLatency measures start-session and polling at a steady request rate.
func (b *bencher) apiLatency(rate int, d time.Duration) (*dist, *dist, error) {
	data, err := os.MkdirTemp("", "errand-bench-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(data)
	a, err := b.newApp(data)
	if err != nil {
		return nil, nil, err
	}
	defer a.close()
	if err := a.engine.Start(b.ctx); err != nil {
		return nil, nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		a.engine.Stop(stopCtx)
	}()
	srv := httptest.NewServer(a.handler)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	do := func(method, path, body string) time.Duration {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return time.Since(t0)
	}
	ss := openLoop(rate, d, func() time.Duration { return do("POST", "/start/start-session", `{"mode":"default"}`) })

	// A finished task to poll.
	t, err := a.engine.RunTask(b.ctx, "bench", b.spec())
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := a.engine.Wait(b.ctx, t, time.Minute); err != nil {
		return nil, nil, err
	}
	path := "/task/" + t.SessionID + "/" + t.ID
	poll := openLoop(rate, d, func() time.Duration { return do("GET", path, "") })
	return ss, poll, nil
}

// openLoop calls f rate times a second for d, each call in its own
// goroutine (so a slow answer does not slow the offered load), and
// collects the durations f reports.
func openLoop(rate int, d time.Duration, f func() time.Duration) *dist {
	res := &dist{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := f()
			mu.Lock()
			res.samples = append(res.samples, v)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return res
}

// dist is a latency distribution.
type dist struct{ samples []time.Duration }

func (d *dist) pct(p float64) time.Duration {
	if len(d.samples) == 0 {
		return 0
	}
	s := slices.Clone(d.samples)
	slices.Sort(s)
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

func (d *dist) String() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d)", fmtDur(d.pct(50)), fmtDur(d.pct(99)), fmtDur(d.pct(100)), len(d.samples))
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// benchReceiver counts deliveries and the lag from each payload's
// completedAt to its arrival.
type benchReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	count int
	lags  []time.Duration
	more  chan struct{}
}

func newBenchReceiver() *benchReceiver {
	r := &benchReceiver{more: make(chan struct{}, 1)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(req.Body)
		if req.URL.Path == "/raw" {
			w.WriteHeader(200)
			return
		}
		var p struct {
			CompletedAt time.Time `json:"completedAt"`
		}
		json.Unmarshal(body, &p)
		r.mu.Lock()
		r.count++
		if !p.CompletedAt.IsZero() {
			r.lags = append(r.lags, now.Sub(p.CompletedAt))
		}
		r.mu.Unlock()
		select {
		case r.more <- struct{}{}:
		default:
		}
		w.WriteHeader(200)
	}))
	return r
}

func (r *benchReceiver) reset() {
	r.mu.Lock()
	r.count, r.lags = 0, nil
	r.mu.Unlock()
}

func (r *benchReceiver) waitFor(n int, within time.Duration) error {
	deadline := time.After(within)
	for {
		r.mu.Lock()
		c := r.count
		r.mu.Unlock()
		if c >= n {
			return nil
		}
		select {
		case <-r.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("receiver got %d of %d deliveries", c, n)
		}
	}
}

func (r *benchReceiver) lag() *dist {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &dist{samples: slices.Clone(r.lags)}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func mustPrefixes(s string) []netip.Prefix {
	p, err := netguard.ParseAllowList(s)
	if err != nil {
		panic(err)
	}
	return p
}
