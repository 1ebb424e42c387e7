package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/webhookkit"
)

// errand listen prints real deliveries with their headers, pretty JSON and
// whether the signature verified, answers 200 and forwards when asked.
func TestListen(t *testing.T) {
	site := newSite(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	forwarded := newReceiver(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	out := &syncBuffer{}
	go func() {
		run(ctx, []string{"listen", "--addr", "127.0.0.1:0", "--secret", secret, "--forward", forwarded.URL + "/fwd"},
			func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`listening on (http://\S+?),?\s`)
		for sc.Scan() {
			line := sc.Text()
			out.Write([]byte(line + "\n"))
			if m := re.FindStringSubmatch(line + " "); m != nil {
				addr <- m[1]
			}
		}
	}()
	var listenURL string
	select {
	case listenURL = <-addr:
	case <-time.After(10 * time.Second):
		t.Fatalf("errand listen did not start: %s", out.String())
	}

	srv := startServer(t, "")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "dev", "url": listenURL + "/hooks", "submittedData": "full_response", "secret": secret}})
	srv.attempts(t, sid, tid, 1, 20*time.Second)
	atts := srv.attempts(t, sid, tid, 1, time.Second)
	if atts[0]["statusCode"].(float64) != 200 {
		t.Fatalf("listen answered %v", atts[0])
	}
	f := forwarded.waitN(t, 1, 10*time.Second)[0]
	if f.Header.Get("webhook-signature") == "" || f.Header.Get("Errand-Task-Id") != tid {
		t.Errorf("forwarded delivery lost its headers: %v", f.Header)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "forward →") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	printed := out.String()
	for _, want := range []string{"POST /hooks", "Errand-Event: task_completed", "Errand-Task-Id: " + tid,
		"signature: verified", `"type": "task_completed"`, "\n  \"data\": {", "forward → " + forwarded.URL + "/fwd: 200 OK"} {
		if !strings.Contains(printed, want) {
			t.Errorf("listen output lacks %q:\n%s", want, printed)
		}
	}
	t.Logf("errand listen printed:\n%s", printed)
}

// The receiver kit checks auth and signature, decodes the payload into its
// typed value and drops a redelivery by webhook-id, on real deliveries from
// a running errand.
func TestWebhookKitOnRealDeliveries(t *testing.T) {
	site := newSite(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	verifier, err := webhookkit.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	dedupe := webhookkit.NewDeduper(100)
	var mu sync.Mutex
	var got []webhookkit.Payload
	dups := 0
	kit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !webhookkit.CheckAuth(r, "Bearer kit-token") {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := verifier.VerifyRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if dedupe.Seen(r.Header.Get(webhookkit.HeaderID)) {
			dups++
			return
		}
		p, err := webhookkit.Decode(r.Header.Get(webhookkit.HeaderEvent), body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got = append(got, p)
	}))
	defer kit.Close()
	srv := startServer(t, "")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "kit", "url": kit.URL, "auth": "Bearer kit-token", "secret": secret, "submittedData": "full_response"}})
	srv.attempts(t, sid, tid, 1, 20*time.Second)
	srv.call(t, "POST", "/task/"+sid+"/"+tid+"/deliveries/redeliver", nil)
	atts := srv.attempts(t, sid, tid, 2, 20*time.Second)
	for _, a := range atts {
		if a["statusCode"].(float64) != 200 {
			t.Fatalf("the kit refused a real delivery: %v", a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || dups != 1 {
		t.Fatalf("kit accepted %d payloads and dropped %d duplicates, want 1 and 1", len(got), dups)
	}
	c, ok := got[0].(*webhookkit.Completed)
	if !ok || c.TaskID != tid || c.SessionID != sid || !strings.Contains(c.Data.Message, "Errand ships") {
		t.Fatalf("decoded payload = %#v", got[0])
	}
}
