package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "test-key-0123456789"

// server is errand started in-process the way main starts it.
type server struct {
	URL    string
	Data   string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
	stdout *syncBuffer // what serve printed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenLine = regexp.MustCompile(`listening on (http://\S+)`)

// startServer runs `errand serve` on port 0 with a fresh data folder (or
// the given one) and loopback allowed, plus extra flags.
func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, data, nil, extra...)
}

// startServerEnv is startServer with more environment variables.
func startServerEnv(t *testing.T, data string, moreEnv map[string]string, extra ...string) *server {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	env := map[string]string{"ERRAND_API_KEY": testKey}
	maps.Copy(env, moreEnv)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data,
		"--allow-networks", "127.0.0.0/8,::1/128", "--inline-wait", "0s", "--shutdown-grace", "5s",
		"--browser", "http"}, extra...)
	s := launch(t, env, args)
	s.Data = data
	return s
}

// launch runs errand with args and exactly the environment env, in-process,
// and waits until it listens.
func launch(t *testing.T, env map[string]string, args []string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}, stdout: &syncBuffer{}}
	go func() {
		s.done <- run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), pw, s.logs)
		pw.Close()
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(s.stdout, sc.Text())
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		s.URL = u
	case err := <-s.done:
		cancel()
		t.Fatalf("errand serve exited: %v\n%s", err, s.logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("errand serve did not start\n%s", s.logs.String())
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("errand serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("errand serve did not stop")
	}
}

// call sends a JSON request with the test key and decodes the answer.
func (s *server) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return s.callKey(t, testKey, method, path, body)
}

func (s *server) callKey(t *testing.T, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object (%d): %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// waitTask polls a task until it has ended (or waits for a human).
func (s *server) waitTask(t *testing.T, sessionID, taskID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, m := s.call(t, "GET", "/task/"+sessionID+"/"+taskID, nil)
		if code != 200 {
			t.Fatalf("poll: %d %v", code, m)
		}
		if st, _ := m["status"].(string); st != "queued" && st != "running" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s did not end: %v", taskID, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// delivery is one request a receiver got.
type delivery struct {
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

func (d delivery) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Body, &m); err != nil {
		t.Fatalf("webhook body is not a JSON object: %q", d.Body)
	}
	return m
}

// receiver is a webhook endpoint on loopback that records what it gets.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	notify chan struct{}
	// respond decides the answer; default 200.
	respond func(w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{notify: make(chan struct{}, 1<<16), respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()})
		rc.mu.Unlock()
		rc.notify <- struct{}{}
		if rc.respond != nil {
			rc.respond(w, r)
			return
		}
		w.WriteHeader(200)
		fmt.Fprint(w, `{"received":true}`)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// waitN waits until the receiver has got at least n requests.
func (rc *receiver) waitN(t *testing.T, n int, within time.Duration) []delivery {
	t.Helper()
	deadline := time.After(within)
	for {
		if d := rc.deliveries(); len(d) >= n {
			return d
		}
		select {
		case <-rc.notify:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(rc.deliveries()), n)
		}
	}
}

// productPage is the local page the seed's examples are pointed at.
const productPage = `<!doctype html>
<html><head><title>Acme Anvil — Acme Store</title>
<meta name="description" content="A great anvil for every workshop">
<script type="application/ld+json">
{"@context":"https://schema.org","@type":"Product","name":"Acme Anvil",
 "description":"A great anvil for every workshop",
 "offers":{"@type":"Offer","price":"29.99","priceCurrency":"USD","availability":"https://schema.org/InStock"}}
</script></head>
<body><nav>Home · Tools</nav><main><h1>Acme Anvil</h1><p class="price">$29.99</p>
<p>A great anvil for every workshop. Forged steel, 50 kg.</p></main></body></html>`

// newSite serves the product page and a news page on loopback.
func newSite(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/product", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, productPage)
	})
	mux.HandleFunc("/news", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Local News</title></head><body><main><h1>Errand ships</h1>
<p>The first release of errand delivers every webhook it owes.</p></main></body></html>`)
	})
	mux.HandleFunc("/catalog", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Catalog</title></head><body><main><h1>Catalog</h1>
<table><thead><tr><th>Product</th><th>Price</th><th>SKU</th></tr></thead><tbody>
<tr><td>Acme Anvil</td><td>$29.99</td><td>AN-1</td></tr>
<tr><td>Rocket Skates</td><td>$149.00</td><td>RS-2</td></tr>
<tr><td>Giant Magnet, "Deluxe"</td><td>$9.50</td><td>GM-3</td></tr>
</tbody></table></main></body></html>`)
	})
	mux.HandleFunc("/slowish", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // long enough to watch the task run
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Later</title></head><body><main><h1>Later news</h1><p>It took a while.</p></main></body></html>`)
	})
	mux.HandleFunc("/slow2s", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(2 * time.Second):
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Slow</title></head><body><main><h1>Slow news</h1><p>Two seconds late.</p></main></body></html>`)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		fmt.Fprint(w, `<html><body><h1>late</h1></body></html>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// metricsText reads /metrics with the test key (Prometheus' bearer token).
func (s *server) metricsText(t *testing.T) []byte {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return body
}
