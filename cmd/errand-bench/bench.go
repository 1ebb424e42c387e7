// Command errand-bench measures errand on this machine (BENCHMARKS.md). It
// is a command of its own so that errand, the binary operators ship, links
// no test harness: the benchmark starts a throwaway PostgreSQL cluster
// (pgtest) and loopback test servers (httptest).
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
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/node"
	"github.com/errandhq/errand/internal/store/pgtest"
	"github.com/errandhq/errand/internal/task"
)

// bench measures errand on this machine: webhook deliveries per second next
// to the raw HTTP ceiling, completion-to-delivery latency at a steady task
// rate (with and without a receiver that hangs), and API latency, on the
// embedded SQLite store and on PostgreSQL with one and three nodes.
// Everything runs in this process on loopback: the nodes, a page to
// extract, and the receivers. PostgreSQL is --database-url, or a throwaway
// cluster started from Debian's binaries when they are installed.
// version is set at build time, as errand's (-ldflags "-X main.version=…").
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "errand-bench:", err)
		os.Exit(2)
	}
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("errand-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: errand-bench [flags]\n\nMeasure webhook deliveries, latencies and the API on this machine (BENCHMARKS.md).\nIt reads no environment variables.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	n := fs.Int("deliveries", 5000, "deliveries for the throughput phases")
	rate := fs.Int("task-rate", 100, "tasks per second for the latency phases")
	apiRates := fs.String("api-rates", "200,1000", "requests per second for the API latency phases")
	dur := fs.Duration("duration", 10*time.Second, "length of each steady-rate phase")
	dbURL := fs.String("database-url", "", "PostgreSQL to measure (default: a throwaway local cluster if PostgreSQL is installed)")
	stores := fs.String("stores", "sqlite,postgres", "which stores to measure")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	only := fs.String("only", "", "run only this phase: throughput, latency, isolation, api or monitors")
	monitors := fs.Int("monitors", 10000, "monitors due every minute for the monitor scheduling phase")
	monitorWindow := fs.Duration("monitor-window", time.Minute, "how long the monitor scheduling phase measures, after a minute of warm-up")
	listed := fs.Int("monitors-listed", 100000, "monitors stored for the monitor listing phase")
	changes := fs.Int("monitor-changes", 1000, "monitors whose value changes, for the change-to-webhook phase")
	monitorWorkers := fs.Int("monitor-workers", 64, "the node's --workers in the monitor phases")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
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
	began := time.Now()
	b := &bencher{ctx: ctx, out: stderr, pgURL: *dbURL, monitorWorkers: *monitorWorkers}
	defer b.close()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, benchPage)
	}))
	defer site.Close()
	b.rc = newBenchReceiver()
	defer b.rc.Close()
	b.site = site.URL

	var rows [][]string
	add := func(what, value string) {
		rows = append(rows, []string{what, value})
		fmt.Fprintf(stderr, "  %s: %s\n", what, value)
	}
	targets := []target{}
	for _, st := range strings.Split(*stores, ",") {
		switch strings.TrimSpace(st) {
		case "sqlite":
			targets = append(targets, target{name: "SQLite, 1 node", nodes: 1})
		case "postgres":
			if err := b.ensurePostgres(); err != nil {
				fmt.Fprintf(stderr, "PostgreSQL skipped: %v\n", err)
				continue
			}
			targets = append(targets, target{name: "PostgreSQL, 1 node", nodes: 1, pg: true},
				target{name: "PostgreSQL, 3 nodes", nodes: 3, pg: true})
		}
	}

	ceiling, err := b.rawCeiling(*n)
	if err != nil {
		return err
	}
	add("raw HTTP ceiling (Go client → receiver, same bodies, no store)", fmt.Sprintf("%.0f req/s", ceiling))
	drains := map[string]float64{}
	for _, tg := range targets {
		if phase("throughput") {
			fmt.Fprintf(stderr, "%s: tasks + deliveries, then deliveries alone …\n", tg.name)
			e2e, drain, err := b.throughput(tg, *n)
			if err != nil {
				return fmt.Errorf("%s: %w", tg.name, err)
			}
			drains[tg.name] = drain
			add(fmt.Sprintf("%s: tasks run + delivered (%d queued, built-in extractor)", tg.name, *n), fmt.Sprintf("%.0f tasks/s", e2e))
			add(fmt.Sprintf("%s: webhook deliveries sustained (%d queued)", tg.name, *n), fmt.Sprintf("%.0f deliveries/s (%.0f%% of the ceiling)", drain, 100*drain/ceiling))
		}
		if phase("latency") {
			fmt.Fprintf(stderr, "%s: completion → delivery latency at %d tasks/s …\n", tg.name, *rate)
			lat, _, err := b.latency(tg, *rate, *dur, false)
			if err != nil {
				return fmt.Errorf("%s: %w", tg.name, err)
			}
			add(fmt.Sprintf("%s: completion → delivery at %d tasks/s", tg.name, *rate), lat.String())
		}
	}
	if one, three := drains["PostgreSQL, 1 node"], drains["PostgreSQL, 3 nodes"]; one > 0 && three > 0 {
		add("PostgreSQL deliveries/s, 3 nodes ÷ 1 node", fmt.Sprintf("%.2f×", three/one))
	}
	if phase("isolation") && len(targets) > 0 {
		fmt.Fprintln(stderr, "a hanging receiver beside a fast one …")
		tg := targets[0]
		alone, _, err := b.latency(tg, *rate, *dur, false)
		if err != nil {
			return err
		}
		beside, hung, err := b.latency(tg, *rate, *dur, true)
		if err != nil {
			return err
		}
		add(fmt.Sprintf("%s: fast receiver, no other receiver", tg.name), alone.String())
		add(fmt.Sprintf("%s: fast receiver beside one that hangs (%d requests held)", tg.name, hung), beside.String())
	}
	if phase("api") {
		for _, tg := range targets {
			if tg.nodes != 1 {
				continue
			}
			for _, rs := range strings.Split(*apiRates, ",") {
				var r int
				fmt.Sscan(rs, &r)
				if r <= 0 {
					continue
				}
				fmt.Fprintf(stderr, "%s: API latency at %d req/s …\n", tg.name, r)
				ss, poll, err := b.apiLatency(tg, r, *dur)
				if err != nil {
					return err
				}
				add(fmt.Sprintf("%s: POST /start/start-session at %d req/s", tg.name, r), ss.String())
				add(fmt.Sprintf("%s: GET /task/… (polling) at %d req/s", tg.name, r), poll.String())
			}
		}
	}

	if phase("monitors") {
		if err := b.monitorPhases(add, *monitors, *monitorWindow, *listed, *changes, *rate); err != nil {
			return err
		}
	}

	fmt.Fprintf(stdout, "errand %s bench — %s, %d cores, %s; took %s\n\n", version, cpuModel(), runtime.NumCPU(), runtime.Version(), time.Since(began).Round(time.Second))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tresult")
	fmt.Fprintln(tw, "-------\t------")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// target is a store and a number of nodes to measure.
type target struct {
	name  string
	nodes int
	pg    bool
	// workers is the nodes' --workers; 0 is errand serve's default.
	workers int
}

const benchPage = `<html><head><title>Bench Product</title>
<script type="application/ld+json">{"@type":"Product","name":"Bench Product","description":"d",
"offers":{"price":"9.99","availability":"https://schema.org/InStock"}}</script></head>
<body><h1>Bench Product</h1><p>Something to read.</p></body></html>`

type bencher struct {
	ctx   context.Context
	out   io.Writer
	rc    *benchReceiver
	site  string
	pgURL string // given by --database-url
	// monitorWorkers is the nodes' --workers in the monitor phases.
	monitorWorkers int
	cluster        *pgtest.Cluster
	dbs            int
	dataDirs       []string
}

// ensurePostgres finds a PostgreSQL to measure: --database-url, or a
// throwaway cluster from Debian's binaries.
func (b *bencher) ensurePostgres() error {
	if b.pgURL != "" {
		return nil
	}
	c, err := pgtest.StartDurable()
	if err != nil {
		return err
	}
	b.cluster = c
	return nil
}

func (b *bencher) close() {
	if b.cluster != nil {
		b.cluster.Stop()
	}
	for _, d := range b.dataDirs {
		os.RemoveAll(d)
	}
}

// newApps starts errand's real wiring for tg, on a fresh database; the
// queues are started by the caller.
func (b *bencher) newApps(tg target) ([]*node.Node, func(), error) {
	// errand serve's defaults, as its flags give them, but no inline wait.
	c := node.Default()
	c.AllowNetworks, c.Browser, c.APIKey, c.InlineWait, c.Version = "127.0.0.0/8", "http", "bench", 0, version
	if tg.workers > 0 {
		c.Workers = tg.workers
	}
	if tg.pg {
		c.DatabaseURL = b.pgURL
		if b.cluster != nil {
			b.dbs++
			u, err := b.cluster.CreateDatabase(b.ctx, fmt.Sprintf("errand_bench_%d_%d", os.Getpid(), b.dbs))
			if err != nil {
				return nil, nil, err
			}
			c.DatabaseURL = u
		}
	} else {
		data, err := os.MkdirTemp("", "errand-bench-")
		if err != nil {
			return nil, nil, err
		}
		b.dataDirs = append(b.dataDirs, data) // removed by close: reopen needs it
		c.Data = data
	}
	return b.nodes(c, tg.nodes)
}

// nodes builds n nodes on c's store; done closes them.
func (b *bencher) nodes(c node.Config, n int) ([]*node.Node, func(), error) {
	// Production logging (JSON, info level), written nowhere.
	c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	var apps []*node.Node
	done := func() {
		for i := len(apps) - 1; i >= 0; i-- {
			apps[i].Close()
		}
		apps = nil
	}
	for range n {
		a, err := node.New(b.ctx, c)
		if err != nil {
			done()
			return nil, nil, err
		}
		apps = append(apps, a)
	}
	return apps, done, nil
}

func startAll(ctx context.Context, apps []*node.Node) error {
	for _, a := range apps {
		if err := a.Engine.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

func stopAll(ctx context.Context, apps []*node.Node) {
	stop, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, a := range apps {
		a.Engine.Stop(stop)
	}
}

func (b *bencher) spec(hook string) task.Spec {
	return task.Spec{
		TaskDetails: "Extract the product", StartingPoint: b.site + "/p",
		MaxDuration: time.Minute, OutputType: task.OutputText,
		Webhook: &task.Webhook{Name: "bench", URL: hook + "/hook", SubmittedData: task.SubmitFullResponse, Auth: "Bearer bench", MaxAttempts: 1},
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

// throughput queues n tasks with the queues stopped, then measures how
// fast the nodes run them and deliver; then queues a redelivery of each
// and measures the delivery pipeline alone.
func (b *bencher) throughput(tg target, n int) (e2e, drain float64, err error) {
	apps, done, err := b.newApps(tg)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	type ref struct{ sid, tid string }
	refs := make([]ref, 0, n)
	for range n {
		t, err := apps[0].Engine.RunTask(b.ctx, "bench", b.spec(b.rc.URL))
		if err != nil {
			return 0, 0, err
		}
		refs = append(refs, ref{t.SessionID, t.ID})
	}
	b.rc.reset()
	start := time.Now()
	if err := startAll(b.ctx, apps); err != nil {
		return 0, 0, err
	}
	if err := b.rc.waitFor(n, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	e2e = float64(n) / time.Since(start).Seconds()
	stopAll(b.ctx, apps)
	done()

	// The same database again, new nodes, every delivery owed once more.
	apps, done, err = b.reopen(tg, apps)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	for _, r := range refs {
		if _, err := apps[0].Engine.Redeliver(b.ctx, "bench", r.sid, r.tid, ""); err != nil {
			return 0, 0, fmt.Errorf("redeliver: %w", err)
		}
	}
	b.rc.reset()
	start = time.Now()
	if err := startAll(b.ctx, apps); err != nil {
		return 0, 0, err
	}
	if err := b.rc.waitFor(n, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	drain = float64(n) / time.Since(start).Seconds()
	stopAll(b.ctx, apps)
	return e2e, drain, nil
}

// reopen builds new nodes on the database the closed apps used.
func (b *bencher) reopen(tg target, closed []*node.Node) ([]*node.Node, func(), error) {
	return b.nodes(closed[0].Config, tg.nodes)
}

// latency submits tasks through the HTTP API at a steady rate and
// measures, at the receiver, the time from each task's completedAt to the
// POST. With hang, every fifth task reports to a receiver that never
// answers (until the phase ends); it answers how many requests it held.
func (b *bencher) latency(tg target, rate int, d time.Duration, hang bool) (*dist, int, error) {
	apps, done, err := b.newApps(tg)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	if err := startAll(b.ctx, apps); err != nil {
		return nil, 0, err
	}
	defer stopAll(b.ctx, apps)
	var servers []*httptest.Server
	for _, a := range apps {
		srv := httptest.NewServer(a.Handler)
		defer srv.Close()
		servers = append(servers, srv)
	}
	release := make(chan struct{})
	var held atomic.Int64
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)
	body := func(url string) []byte {
		data, _ := json.Marshal(map[string]any{
			"taskDetails": "Extract the product", "startingPoint": b.site + "/p",
			"webhook": map[string]any{"name": "bench", "url": url + "/hook", "submittedData": "full_response"},
		})
		return data
	}
	fast, slow := body(b.rc.URL), body(hanging.URL)
	b.rc.reset()
	var i atomic.Int64
	var toFast atomic.Int64
	openLoop(rate, d, func() time.Duration {
		k := i.Add(1)
		payload := fast
		if hang && k%5 == 0 {
			payload = slow
		} else {
			toFast.Add(1)
		}
		srv := servers[int(k)%len(servers)] // spread submissions over the nodes
		req, _ := http.NewRequest("POST", srv.URL+"/start/run-task", bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer bench")
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return time.Since(t0)
	})
	if err := b.rc.waitFor(int(toFast.Load()), time.Minute); err != nil {
		return nil, 0, err
	}
	return b.rc.lag(), int(held.Load()), nil
}

// apiLatency measures start-session and polling at a steady request rate.
func (b *bencher) apiLatency(tg target, rate int, d time.Duration) (*dist, *dist, error) {
	apps, done, err := b.newApps(tg)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	a := apps[0]
	if err := startAll(b.ctx, apps); err != nil {
		return nil, nil, err
	}
	defer stopAll(b.ctx, apps)
	srv := httptest.NewServer(a.Handler)
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
	t, err := a.Engine.RunTask(b.ctx, "bench", b.spec(b.rc.URL))
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := a.Engine.Wait(b.ctx, t, time.Minute); err != nil {
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
