package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// runTask submits a run-task and returns its ids.
func (s *server) runTask(t *testing.T, body map[string]any) (string, string) {
	t.Helper()
	code, m := s.call(t, "POST", "/start/run-task", body)
	if code != 200 {
		t.Fatalf("run-task: %d %v", code, m)
	}
	return m["sessionId"].(string), m["taskId"].(string)
}

// attempts polls the deliveries endpoint until it lists n attempts.
func (s *server) attempts(t *testing.T, sid, tid string, n int, within time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, m := s.call(t, "GET", "/task/"+sid+"/"+tid+"/deliveries", nil)
		list, _ := m["deliveries"].([]any)
		if len(list) >= n {
			var out []map[string]any
			for _, a := range list {
				out = append(out, a.(map[string]any))
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries = %v, want %d attempts", list, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRetries(t *testing.T) {
	site := newSite(t)
	srv := startServer(t, "", "--webhook-retry-base", "300ms")

	t.Run("fails twice then succeeds", func(t *testing.T) {
		var n atomic.Int32
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) <= 2 {
				w.WriteHeader(503)
				return
			}
			w.WriteHeader(200)
		})
		sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
			"webhook": map[string]any{"name": "r", "url": rc.URL, "submittedData": "just_ping", "maxAttempts": 5}})
		got := rc.waitN(t, 3, 30*time.Second)
		atts := srv.attempts(t, sid, tid, 3, 10*time.Second)
		time.Sleep(time.Second)
		if len(rc.deliveries()) != 3 {
			t.Fatalf("receiver got %d requests, want 3 (no attempt after the success)", len(rc.deliveries()))
		}
		id := got[0].Header.Get("webhook-id")
		for i, d := range got {
			if d.Header.Get("webhook-id") != id {
				t.Errorf("attempt %d webhook-id %q, want %q", i+1, d.Header.Get("webhook-id"), id)
			}
		}
		gap1, gap2 := got[1].At.Sub(got[0].At), got[2].At.Sub(got[1].At)
		// base·2^(n−1) ±20%: ≥ 240 ms, then ≥ 480 ms.
		if gap1 < 240*time.Millisecond || gap2 < 480*time.Millisecond || gap2 <= gap1 {
			t.Errorf("gaps %v then %v: want growing waits from a 300 ms base", gap1, gap2)
		}
		for i, a := range atts {
			if int(a["attempt"].(float64)) != i+1 {
				t.Errorf("attempt numbers: %v", atts)
			}
		}
		if atts[0]["statusCode"].(float64) != 503 || atts[2]["statusCode"].(float64) != 200 {
			t.Errorf("recorded status codes: %v", atts)
		}
	})

	t.Run("a 400 gets one attempt", func(t *testing.T) {
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) })
		sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
			"webhook": map[string]any{"name": "r", "url": rc.URL, "submittedData": "just_ping", "maxAttempts": 5}})
		srv.attempts(t, sid, tid, 1, 10*time.Second)
		time.Sleep(1500 * time.Millisecond)
		if n := len(rc.deliveries()); n != 1 {
			t.Errorf("receiver got %d requests, want 1", n)
		}
	})

	t.Run("Retry-After is honoured", func(t *testing.T) {
		var n atomic.Int32
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(429)
				return
			}
			w.WriteHeader(200)
		})
		srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
			"webhook": map[string]any{"name": "r", "url": rc.URL, "submittedData": "just_ping", "maxAttempts": 3}})
		got := rc.waitN(t, 2, 30*time.Second)
		if gap := got[1].At.Sub(got[0].At); gap < 2*time.Second {
			t.Errorf("second attempt %v after a 429 with Retry-After: 2", gap)
		}
	})
}

// A retry owed when the server stops is sent after it starts again.
func TestRetrySurvivesRestart(t *testing.T) {
	site := newSite(t)
	var n atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	})
	srv := startServer(t, "", "--webhook-retry-base", "3s")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "r", "url": rc.URL, "submittedData": "just_ping", "maxAttempts": 2}})
	srv.attempts(t, sid, tid, 1, 10*time.Second)
	srv.stop(t)
	srv = startServer(t, srv.Data, "--webhook-retry-base", "3s")
	got := rc.waitN(t, 2, 30*time.Second)
	if got[0].Header.Get("webhook-id") != got[1].Header.Get("webhook-id") {
		t.Errorf("the retry after restart changed webhook-id")
	}
	atts := srv.attempts(t, sid, tid, 2, 10*time.Second)
	if atts[1]["statusCode"].(float64) != 200 {
		t.Errorf("attempts after restart: %v", atts)
	}
}

// Failure events reach webhooks that ask for them, in docs/API.md's shapes,
// including for tasks that fail before they run anything.
func TestFailureEvents(t *testing.T) {
	site := newSite(t)
	blocked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a refused page was fetched: %s", r.URL)
	}))
	defer blocked.Close()
	rc := newReceiver(t, nil)
	// Only 127.0.0.1 is allowed: the page server on 127.0.0.2 is refused.
	srv := startServer(t, "", "--allow-networks", "127.0.0.1/32")
	blockedURL := strings.Replace(blocked.URL, "127.0.0.1", "127.0.0.2", 1)
	// A startingPoint on a refused address is refused at submission; a
	// page that redirects there fails when it loads.
	redirect := httptest.NewServer(http.RedirectHandler(blockedURL+"/", http.StatusFound))
	defer redirect.Close()

	cases := []struct {
		name, page, code, submitted string
	}{
		{"refused network", redirect.URL + "/", "NAVIGATION_BLOCKED", "full_response"},
		{"invalid page", site.URL + "/missing", "OUTPUT_INVALID", "ai_response"},
		{"missing required property", site.URL + "/news", "OUTPUT_INVALID", "just_ping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"taskDetails": "extract", "startingPoint": tc.page,
				"outputType":   "structured_json",
				"outputSchema": map[string]any{"type": "object", "properties": map[string]any{"price": map[string]any{"type": "number"}}, "required": []string{"price"}},
				"webhook": map[string]any{"name": "f", "url": rc.URL + "/" + strings.ReplaceAll(tc.name, " ", "-"), "submittedData": tc.submitted,
					"events": []string{"task_completed", "task_failed"}}}
			sid, tid := srv.runTask(t, body)
			p := srv.waitTask(t, sid, tid)
			if p["code"] != tc.code {
				t.Fatalf("task = %v, want code %s", p, tc.code)
			}
			var d delivery
			deadline := time.Now().Add(20 * time.Second)
			for d.Body == nil && time.Now().Before(deadline) {
				for _, x := range rc.deliveries() {
					if x.Header.Get("Errand-Task-Id") == tid {
						d = x
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if d.Body == nil {
				t.Fatalf("no task_failed event")
			}
			m := d.JSON(t)
			if d.Header.Get("Errand-Event") != "task_failed" {
				t.Errorf("Errand-Event = %q", d.Header.Get("Errand-Event"))
			}
			if tc.submitted == "just_ping" {
				if got := strings.Join(keys(m), ","); got != "event,failedAt,sessionId,taskId" || m["event"] != "task_failed" {
					t.Errorf("just_ping failure = %v", m)
				}
				return
			}
			if got := strings.Join(keys(m), ","); got != "code,error,failedAt,sessionId,taskId,type,usage" {
				t.Errorf("failure keys = %s", got)
			}
			if m["type"] != "task_failed" || m["code"] != tc.code || m["taskId"] != tid || !rfc3339ms.MatchString(m["failedAt"].(string)) {
				t.Errorf("failure event = %v", m)
			}
		})
	}

	// Without task_failed in events, a failure sends nothing.
	quiet := newReceiver(t, nil)
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "x", "startingPoint": redirect.URL + "/",
		"webhook": map[string]any{"name": "q", "url": quiet.URL, "submittedData": "full_response"}})
	srv.waitTask(t, sid, tid)
	time.Sleep(500 * time.Millisecond)
	if n := len(quiet.deliveries()); n != 0 {
		t.Errorf("a webhook without task_failed got %d requests", n)
	}
}

func TestRedeliver(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	other := newReceiver(t, nil)
	srv := startServer(t, "")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "r", "url": rc.URL + "/in?token=first-query-s3cret", "auth": "Bearer redeliver-secret", "submittedData": "full_response"}})
	first := rc.waitN(t, 1, 20*time.Second)[0]
	path := "/task/" + sid + "/" + tid + "/deliveries/redeliver"

	code, m := srv.call(t, "POST", path, map[string]any{})
	if code != 200 || m["success"] != true {
		t.Fatalf("redeliver: %d %v", code, m)
	}
	if m["url"] != rc.URL+"/in?token=[redacted]" {
		t.Errorf("the redeliver answer shows url %v", m["url"])
	}
	again := rc.waitN(t, 2, 20*time.Second)[1]
	if again.Header.Get("webhook-id") != first.Header.Get("webhook-id") || !bytes.Equal(again.Body, first.Body) {
		t.Errorf("redelivery differs: id %q vs %q", again.Header.Get("webhook-id"), first.Header.Get("webhook-id"))
	}
	code, m = srv.call(t, "POST", path, map[string]any{"url": other.URL + "/new?sig=moved-query-s3cret&v=2"})
	if code != 200 || m["url"] != other.URL+"/new?sig=[redacted]&v=[redacted]" {
		t.Fatalf("redeliver to a new url: %d %v", code, m)
	}
	moved := other.waitN(t, 1, 20*time.Second)[0]
	if moved.Header.Get("webhook-id") != first.Header.Get("webhook-id") || moved.Header.Get("Authorization") != "Bearer redeliver-secret" {
		t.Errorf("redelivery to a new URL: headers %v", moved.Header)
	}
	if first.Path != "/in" || moved.Path != "/new" {
		t.Errorf("the receivers were sent to %s and %s", first.Path, moved.Path)
	}
	code, m = srv.call(t, "POST", path, map[string]any{"url": "https://169.254.169.254/latest/meta-data"})
	if code != 400 || m["details"].(map[string]any)["/url"] == nil {
		t.Errorf("redeliver to the metadata address: %d %v", code, m)
	}
	atts := srv.attempts(t, sid, tid, 3, 10*time.Second)
	if len(atts) != 3 {
		t.Errorf("attempts = %v, want 3 (original and two redeliveries)", atts)
	}
	// The queries carried tokens: the deliveries list shows their names
	// only, and the logs not even those.
	for i, want := range []string{rc.URL + "/in?token=[redacted]", rc.URL + "/in?token=[redacted]", other.URL + "/new?sig=[redacted]&v=[redacted]"} {
		if i < len(atts) && atts[i]["url"] != want {
			t.Errorf("attempt %d shows url %v, want %s", i+1, atts[i]["url"], want)
		}
	}
	for _, secret := range []string{"first-query-s3cret", "moved-query-s3cret"} {
		if strings.Contains(srv.logs.String(), secret) {
			t.Errorf("the logs hold the query token %q", secret)
		}
	}

	// A task without a webhook has nothing to redeliver.
	sid2, tid2 := srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news"})
	srv.waitTask(t, sid2, tid2)
	code, m = srv.call(t, "POST", "/task/"+sid2+"/"+tid2+"/deliveries/redeliver", nil)
	if code != 409 {
		t.Errorf("redeliver without webhook: %d %v", code, m)
	}
}

// Signed deliveries verify with the official Standard Webhooks library; a
// tampered body or a stale timestamp does not.
func TestSignedDeliveries(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	srv := startServer(t, "")
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const rotated = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdA=="
	srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "s", "url": rc.URL, "submittedData": "full_response", "secret": secret + " " + rotated}})
	d := rc.waitN(t, 1, 20*time.Second)[0]
	for _, sec := range []string{secret, rotated} {
		wh, err := standardwebhooks.NewWebhook(sec)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(d.Body, d.Header); err != nil {
			t.Errorf("official library rejects errand's signature with %s…: %v", sec[:10], err)
		}
		tampered := bytes.Replace(d.Body, []byte("task_completed"), []byte("task_complete!"), 1)
		if err := wh.Verify(tampered, d.Header); err == nil {
			t.Errorf("a tampered body verified")
		}
		stale := d.Header.Clone()
		stale.Set("webhook-timestamp", fmt.Sprint(time.Now().Add(-time.Hour).Unix()))
		if err := wh.Verify(d.Body, stale); err == nil {
			t.Errorf("a stale timestamp verified")
		}
	}
	if strings.Contains(srv.logs.String(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
		t.Errorf("logs contain the signing secret")
	}
}

// A receiver that hangs for the whole timeout does not keep another
// receiver's deliveries from completing.
func TestHangingReceiverDoesNotBlockOthers(t *testing.T) {
	site := newSite(t)
	release := make(chan struct{})
	var hanging atomic.Int32
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		hanging.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fast := newReceiver(t, nil)
	defer close(release)
	srv := startServer(t, "", "--webhook-timeout", "2m", "--workers", "16")
	const nSlow, nFast = 100, 300
	var wg sync.WaitGroup
	submit := func(url string, n int) {
		defer wg.Done()
		for range n {
			srv.runTask(t, map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news",
				"webhook": map[string]any{"name": "h", "url": url, "submittedData": "just_ping"}})
		}
	}
	wg.Add(2)
	go submit(slow.URL, nSlow)
	go submit(fast.URL, nFast)
	wg.Wait()
	fast.waitN(t, nFast, 60*time.Second)
	// All fast deliveries completed while the slow receiver still holds its
	// requests (its timeout is two minutes away).
	if h := hanging.Load(); h == 0 {
		t.Fatalf("the slow receiver never got a request")
	}
	t.Logf("fast receiver got all %d while %d requests hung at the slow one", nFast, hanging.Load())
}
