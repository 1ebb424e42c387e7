package browser_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	htmltomarkdown "github.com/JohannesKaufmann/html-to-markdown/v2"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/task"
)

// The figures of these benchmarks are written down in BENCHMARKS.md:
//
//	go test -run '^$' -bench . -benchtime 1x ./internal/browser/

// The corpus: eight pages in two weights. testdata/corpus-light holds them
// as first written, lean markup; testdata/corpus holds the same pages with
// the markup weight of production sites added by testdata/weigh.go (see
// its comment). Both show the same thing in the viewport.
const (
	corpusDir      = "testdata/corpus"
	lightCorpusDir = "testdata/corpus-light"
)

func corpus(tb testing.TB, dir string) []string {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.html"))
	if err != nil || len(names) < 8 {
		tb.Fatalf("the corpus %s needs at least 8 pages, found %d (%v)", dir, len(names), err)
	}
	return names
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkObservationTokens compares, on every corpus page, the tokens of
// the observation (URL, title, viewport text) with those of the raw HTML
// and of a plain HTML-to-markdown conversion of it, on both corpora.
func BenchmarkObservationTokens(b *testing.B) {
	c := needChromium(b)
	for _, dir := range []string{corpusDir, lightCorpusDir} {
		b.Run("corpus="+filepath.Base(dir), func(b *testing.B) {
			srv := httptestServer(b, http.FileServer(http.Dir(dir)))
			tb, err := c.Tab(b.Context(), "bench-tokens", browser.PageOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseSession("bench-tokens")
			var obsT, rawT, mdT, pct []float64
			for _, path := range corpus(b, dir) {
				raw, _ := os.ReadFile(path)
				md, err := htmltomarkdown.ConvertString(string(raw))
				if err != nil {
					b.Fatal(err)
				}
				if err := tb.Navigate(b.Context(), srv.URL+"/"+filepath.Base(path)); err != nil {
					b.Fatal(err)
				}
				obs, err := tb.Observe(b.Context(), browser.ObserveOptions{})
				if err != nil {
					b.Fatal(err)
				}
				o := browser.CountTokens(obs.URL + "\n" + obs.Title + "\n" + obs.Text)
				r := browser.CountTokens(string(raw))
				m := browser.CountTokens(md)
				obsT, rawT, mdT = append(obsT, float64(o)), append(rawT, float64(r)), append(mdT, float64(m))
				pct = append(pct, 100*float64(o)/float64(r))
				b.Logf("%-20s %4d KB gzip %3d KB  observation %5d  raw HTML %6d  markdown %6d  observation/raw %4.1f%%  observation/markdown %4.1f%%",
					filepath.Base(path), len(raw)/1024, gzipSize(raw)/1024, o, r, m, 100*float64(o)/float64(r), 100*float64(o)/float64(m))
			}
			for b.Loop() {
				if _, err := tb.Observe(b.Context(), browser.ObserveOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(median(obsT), "obs-tokens")
			b.ReportMetric(median(rawT), "raw-tokens")
			b.ReportMetric(median(mdT), "md-tokens")
			b.ReportMetric(median(pct), "obs-%-of-raw")
		})
	}
}

func gzipSize(b []byte) int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Len()
}

// BenchmarkStep measures the agent's own overhead per step, the model
// excluded: an observation then an action. Medians and 95th percentiles
// are reported as metrics.
func BenchmarkStep(b *testing.B) {
	c := needChromium(b)
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(corpusDir)))
	mux.HandleFunc("GET /a", html(`<h1>Page A</h1><p>`+strings.Repeat("Some text. ", 200)+`</p><a href="/b">to B</a>`))
	mux.HandleFunc("GET /b", html(`<h1>Page B</h1><p>`+strings.Repeat("Other text. ", 200)+`</p><a href="/a">to A</a>`))
	srv := httptestServer(b, mux)
	ctx := b.Context()

	run := func(b *testing.B, start string, act func(obs browser.Observation, tb browser.Tab) error) {
		tb, err := c.Tab(ctx, "bench-step", browser.PageOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseSession("bench-step")
		if err := tb.Navigate(ctx, srv.URL+start); err != nil {
			b.Fatal(err)
		}
		var ms []float64
		for b.Loop() {
			began := time.Now()
			obs, err := tb.Observe(ctx, browser.ObserveOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if err := act(obs, tb); err != nil {
				b.Fatal(err)
			}
			ms = append(ms, float64(time.Since(began).Microseconds())/1000)
		}
		b.ReportMetric(median(ms), "median-ms")
		b.ReportMetric(percentile(ms, 0.95), "p95-ms")
	}
	number := func(obs browser.Observation, pattern string) int {
		m := regexp.MustCompile(`\[(\d+)\]` + pattern).FindStringSubmatch(obs.Text)
		if m == nil {
			b.Fatalf("no %q in\n%s", pattern, obs.Text)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	b.Run("observe+click-checkbox", func(b *testing.B) {
		run(b, "/form-signup.html", func(obs browser.Observation, tb browser.Tab) error {
			return tb.Click(ctx, number(obs, `<input type=checkbox label="Send me product updates"`))
		})
	})
	b.Run("observe+type", func(b *testing.B) {
		run(b, "/form-signup.html", func(obs browser.Observation, tb browser.Tab) error {
			return tb.Type(ctx, number(obs, `<input type=text label="First name"`), "Ada", false)
		})
	})
	b.Run("observe+click-link-navigates", func(b *testing.B) {
		run(b, "/a", func(obs browser.Observation, tb browser.Tab) error {
			return tb.Click(ctx, number(obs, `<a href=/[ab]>`))
		})
	})
	b.Run("observe+scroll", func(b *testing.B) {
		down := true
		run(b, "/news-front.html", func(obs browser.Observation, tb browser.Tab) error {
			down = !down
			if down {
				return tb.Scroll(ctx, "down", 1)
			}
			return tb.Scroll(ctx, "up", 1)
		})
	})
}

// BenchmarkLateContent loads product pages that draw their name and price
// 150, 400 and 1,000 ms after the load (from a timer, a fetch, a hydrating
// application: see lateSite) and reports, for each, the time from the
// navigation's start until the tab is ready (navigate-ms), whether the
// first observation has the content (in-observation, 1 or 0), and whether
// the built-in extractor, loading the page through ChromiumLoader, answers
// with it (in-extractor). The static page is the baseline.
func BenchmarkLateContent(b *testing.B) {
	c := needChromium(b)
	base := lateSite(b)
	ctx := b.Context()
	schema := json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"price":{"type":"string"}},"required":["name","price"]}`)
	want := fmt.Sprintf(`{"name":%q,"price":%q}`, lateName, latePrice)
	cases := []string{"static"}
	for _, kind := range lateKinds {
		for _, d := range []int{150, 400, 1000} {
			cases = append(cases, fmt.Sprintf("%s/delay=%d", kind, d))
		}
	}
	for _, name := range cases {
		b.Run(name, func(b *testing.B) {
			u := base + "/static"
			if kind, delay, ok := strings.Cut(name, "/delay="); ok {
				u = base + "/late/" + kind + "?delay=" + delay
			}
			var ms, inObs, inExt []float64
			for b.Loop() {
				tb, err := c.Tab(ctx, "bench-late", browser.PageOptions{})
				if err != nil {
					b.Fatal(err)
				}
				began := time.Now()
				if err := tb.Navigate(ctx, u); err != nil {
					b.Fatal(err)
				}
				ms = append(ms, float64(time.Since(began).Microseconds())/1000)
				obs, err := tb.Observe(ctx, browser.ObserveOptions{})
				if err != nil {
					b.Fatal(err)
				}
				c.CloseSession("bench-late")
				inObs = append(inObs, boolMetric(strings.Contains(obs.Text, lateName) && strings.Contains(obs.Text, latePrice)))
				out := (&agent.Builtin{Loader: browser.ChromiumLoader{Browser: c}}).Run(ctx, agent.Request{
					Task: task.Task{Spec: task.Spec{StartingPoint: u, TaskDetails: "the product's name and price",
						OutputType: task.OutputJSON, OutputSchema: schema}},
					Step: func(task.Step) {},
				})
				inExt = append(inExt, boolMetric(out.Code == "" && out.Message == want))
			}
			b.ReportMetric(median(ms), "navigate-ms")
			b.ReportMetric(mean(inObs), "in-observation")
			b.ReportMetric(mean(inExt), "in-extractor")
		})
	}
}

func boolMetric(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(max(1, len(v)))
}

// BenchmarkMemory measures the proportional set size (PSS) of all the
// browser's processes with 1, 10 and 20 sessions, each with a news front
// page loaded, in a browser of its own.
func BenchmarkMemory(b *testing.B) {
	needChromium(b)
	srv := httptestServer(b, http.FileServer(http.Dir(corpusDir)))
	var base float64
	for _, n := range []int{1, 10, 20} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			c, err := browser.NewChromium(b.Context(), browser.ChromiumConfig{Policy: testPolicy()})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for i := range n {
				tb, err := c.Tab(b.Context(), fmt.Sprint("mem-", i), browser.PageOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if err := tb.Navigate(b.Context(), srv.URL+"/news-front.html"); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(500 * time.Millisecond) // let the renderers settle
			mb := float64(pss(b, browser.BrowserPID(c))) / 1024
			for b.Loop() {
				// One measurement; b.Loop would reset metrics reported
				// before it.
			}
			if n == 1 {
				base = mb
			} else if base > 0 {
				b.ReportMetric((mb-base)/float64(n-1), "MB-per-added-session")
			}
			b.ReportMetric(mb, "PSS-MB")
		})
	}
}

func httptestServer(tb testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// pss sums Pss (kB) over pid and all its descendants.
func pss(tb testing.TB, pid int) int {
	tb.Helper()
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces: fields start after ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			ppid, _ := strconv.Atoi(fields[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	total := 0
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "Pss:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
				total += kb
				break
			}
		}
		f.Close()
	}
	return total
}
