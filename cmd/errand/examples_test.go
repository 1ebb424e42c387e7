package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/testenv"
)

// examplesDir is examples/ seen from this package.
const examplesDir = "../../examples"

// exampleReceiver runs examples/receiver.py and collects what it prints.
type exampleReceiver struct {
	URL  string
	mu   sync.Mutex
	got  map[string]map[string]any // task id -> the printed delivery
	seen chan struct{}
}

func startExampleReceiver(t *testing.T) *exampleReceiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "python3", examplesDir+"/receiver.py", "--port", "0")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		testenv.Missing(t, "python3", "apt-get install python3", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	r := &exampleReceiver{got: map[string]map[string]any{}, seen: make(chan struct{}, 64)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var d map[string]any
			if json.Unmarshal(sc.Bytes(), &d) == nil {
				r.mu.Lock()
				r.got[d["taskId"].(string)] = d
				r.mu.Unlock()
				r.seen <- struct{}{}
			}
		}
	}()
	select {
	case r.URL = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatal("examples/receiver.py did not start")
	}
	return r
}

// delivery waits for the delivery of task id.
func (r *exampleReceiver) delivery(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		d := r.got[id]
		r.mu.Unlock()
		if d != nil {
			return d
		}
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("examples/receiver.py got nothing for task %s", id)
		}
	}
}

// The examples of examples/ — the hosted service's four use cases — run as
// a user runs them: each script against a local errand, its pages served
// from examples/site, its webhooks received by examples/receiver.py, which
// must print exactly the payload the use case promises.
func TestExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Missing(t, "curl", "apt-get install curl", err)
	}
	site := httptest.NewServer(http.FileServer(http.Dir(examplesDir + "/site")))
	defer site.Close()
	rc := startExampleReceiver(t)
	srv := startServer(t, "", "--browser", "auto")

	cases := []struct {
		script, path, event string
		want                string // the delivered body
	}{
		{"data-pipeline.sh", "/ingest/products", "task_completed",
			`{"products":[{"name":"Acme Anvil","price":29.99,"sku":"AN-100"},{"name":"Rocket Skates","price":149,"sku":"RS-200"},` +
				`{"name":"Giant Magnet","price":9.5,"sku":"GM-300"},{"name":"Portable Hole","price":1250,"sku":"PH-400"}]}`},
		{"price-alert.sh", "/alerts/price-change", "task_completed", ""}, // just_ping: checked below
		{"third-party-integration.sh", "/hooks/catch/123456/abcdef", "task_completed",
			`{"email":"wile@anvils.example","name":"Wile E. Coyote","phone":"+1 555 0100"}`},
		{"structured-extraction.sh", "/products", "task_completed",
			`{"description":"A great anvil for every workshop","inStock":true,"price":29.99,"title":"Acme Anvil"}`},
	}
	for _, tc := range cases {
		t.Run(tc.script, func(t *testing.T) {
			cmd := exec.Command("sh", examplesDir+"/"+tc.script)
			cmd.Env = append(cmd.Environ(), "ERRAND_URL="+srv.URL, "ERRAND_API_KEY="+testKey, "SITE_URL="+site.URL, "HOOK_URL="+rc.URL)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", tc.script, err, out)
			}
			var answer map[string]any
			if err := json.Unmarshal(out, &answer); err != nil || answer["success"] != true {
				t.Fatalf("%s printed %s", tc.script, out)
			}
			tid := answer["taskId"].(string)
			d := rc.delivery(t, tid)
			if d["path"] != tc.path || d["event"] != tc.event {
				t.Errorf("delivered to %v as %v", d["path"], d["event"])
			}
			body := d["body"].(map[string]any)
			if tc.want == "" {
				if body["event"] != "task_completed" || body["taskId"] != tid || body["completedAt"] == nil || len(body) != 4 {
					t.Errorf("just_ping body = %v", body)
				}
				return
			}
			if got := mustJSON(t, body); got != tc.want {
				t.Errorf("delivered %s\nwant      %s", got, tc.want)
			}
		})
	}
	if !strings.Contains(srv.logs.String(), "pages are loaded in Chromium") {
		t.Logf("the examples ran over plain HTTP (no Chromium here)")
	}
}
