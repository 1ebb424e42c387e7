package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/errandhq/errand/internal/task"
)

// receiver is a real HTTP server on loopback that records what it got and
// counts the connections opened to it.
type receiver struct {
	*httptest.Server
	conns atomic.Int64

	mu   sync.Mutex
	reqs []received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t testing.TB, h http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{r.Header.Clone(), body})
		rc.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	rc.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rc.conns.Add(1)
		}
	}
	rc.Start()
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

func newSender() *Sender {
	return &Sender{Client: &http.Client{Transport: NewTransport(nil)}, UserAgent: "errand/1.2.3"}
}

func delivery(url string) task.Delivery {
	return task.Delivery{
		ID: "msg_01HX", TaskID: "task_xyz789", SessionID: "sess_abc123",
		Event: task.EventCompleted, URL: url,
		Body:        []byte(`{"event":"task_completed","sessionId":"sess_abc123","taskId":"task_xyz789","completedAt":"2024-01-15T10:30:00.000Z"}`),
		MaxAttempts: 1, State: task.DeliveryPending,
	}
}

// TestSendHeaders: the header set is exactly the contract's, plus the two
// Go's transport adds itself; Authorization and webhook-signature appear
// only when configured, and the signature verifies with the official
// library.
func TestSendHeaders(t *testing.T) {
	// The signature is checked by the official library against the system
	// clock, so the attempt is stamped with it.
	now := time.Now()
	for _, c := range []struct {
		name         string
		auth, secret string
		want         map[string]string
	}{
		{"no auth, no secret", "", "", nil},
		{"auth", "Bearer your-secret-token", "", map[string]string{"Authorization": "Bearer your-secret-token"}},
		{"auth and secret", "Bearer t", secretB, map[string]string{"Authorization": "Bearer t", "Webhook-Signature": "*"}},
		{"rotated secrets", "", secretA + " " + secretB, map[string]string{"Webhook-Signature": "*"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			d := delivery(rc.URL + "/hooks")
			d.Auth, d.Secret = c.auth, c.secret
			res := newSender().Send(context.Background(), d, 1, now)
			if !res.OK {
				t.Fatalf("not OK: %+v", res)
			}
			reqs := rc.got()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			want := map[string]string{
				"Content-Type":      "application/json",
				"User-Agent":        "errand/1.2.3",
				"Webhook-Id":        "msg_01HX",
				"Webhook-Timestamp": strconv.FormatInt(now.Unix(), 10),
				"Errand-Event":      "task_completed",
				"Errand-Session-Id": "sess_abc123",
				"Errand-Task-Id":    "task_xyz789",
				// Added by net/http's transport, not by us.
				"Content-Length":  "116",
				"Accept-Encoding": "gzip",
			}
			for k, v := range c.want {
				want[k] = v
			}
			h := reqs[0].header
			for k, v := range h {
				w, ok := want[k]
				switch {
				case !ok:
					t.Errorf("unexpected header %s: %q", k, v)
				case len(v) != 1:
					t.Errorf("header %s sent %d times", k, len(v))
				case w != "*" && v[0] != w:
					t.Errorf("%s = %q, want %q", k, v[0], w)
				}
			}
			for k := range want {
				if h.Get(k) == "" {
					t.Errorf("missing header %s", k)
				}
			}
			if string(reqs[0].body) != string(d.Body) {
				t.Errorf("body %s", reqs[0].body)
			}
			for _, s := range strings.Fields(c.secret) {
				wh, _ := standardwebhooks.NewWebhook(s)
				if err := wh.Verify(reqs[0].body, h); err != nil {
					t.Errorf("official library rejects the delivery: %v", err)
				}
				if err := wh.Verify(append(reqs[0].body, ' '), h); err == nil {
					t.Error("official library accepts a tampered body")
				}
			}
		})
	}
}

// TestSendClassification: what counts as success, what is retried, and the
// reason recorded, for answers and for transport failures.
func TestSendClassification(t *testing.T) {
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	// The redirect target counts hits: it must never be reached.
	var followed atomic.Int64
	target := newReceiver(t, func(http.ResponseWriter, *http.Request) { followed.Add(1) })

	status := func(code int, hdr ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			w.WriteHeader(code)
			io.WriteString(w, `{"received":false}`)
		}
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })

	for _, c := range []struct {
		name       string
		handler    http.HandlerFunc // nil: no server, the port is closed
		url        string           // overrides the receiver's URL
		status     int
		ok         bool
		retryable  bool
		err        string
		retryAfter time.Duration
	}{
		{name: "200", handler: status(200), status: 200, ok: true},
		{name: "201", handler: status(201), status: 201, ok: true},
		{name: "204", handler: status(204), status: 204, ok: true},
		{name: "299", handler: status(299), status: 299, ok: true},
		{name: "301 not followed", handler: status(301, "Location", target.URL), status: 301, err: "redirect 301 not followed"},
		{name: "302 not followed", handler: status(302, "Location", target.URL), status: 302, err: "redirect 302 not followed"},
		{name: "307 not followed", handler: status(307, "Location", target.URL), status: 307, err: "redirect 307 not followed"},
		{name: "308 not followed", handler: status(308, "Location", target.URL), status: 308, err: "redirect 308 not followed"},
		{name: "304", handler: status(304), status: 304, err: "redirect 304 not followed"},
		{name: "400", handler: status(400), status: 400, err: "status 400"},
		{name: "401", handler: status(401), status: 401, err: "status 401"},
		{name: "403", handler: status(403), status: 403, err: "status 403"},
		{name: "404", handler: status(404), status: 404, err: "status 404"},
		{name: "410", handler: status(410), status: 410, err: "status 410"},
		{name: "400 with Retry-After ignored", handler: status(400, "Retry-After", "5"), status: 400, err: "status 400"},
		{name: "408", handler: status(408), status: 408, retryable: true, err: "status 408"},
		{name: "429", handler: status(429), status: 429, retryable: true, err: "status 429"},
		{name: "429 Retry-After seconds", handler: status(429, "Retry-After", "2"), status: 429, retryable: true, err: "status 429", retryAfter: 2 * time.Second},
		{name: "503 Retry-After date", handler: status(503, "Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), status: 503, retryable: true, err: "status 503", retryAfter: 90 * time.Second},
		{name: "429 Retry-After capped", handler: status(429, "Retry-After", "86400"), status: 429, retryable: true, err: "status 429", retryAfter: MaxRetryAfter},
		{name: "500", handler: status(500), status: 500, retryable: true, err: "status 500"},
		{name: "502", handler: status(502), status: 502, retryable: true, err: "status 502"},
		{name: "504", handler: status(504), status: 504, retryable: true, err: "status 504"},
		{name: "timeout", handler: func(_ http.ResponseWriter, r *http.Request) { stall(r, release) }, retryable: true, err: "timeout after 200ms"},
		{name: "headers then stall is a 2xx", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			stall(r, release)
		}, status: 200, ok: true},
		{name: "connection refused", retryable: true, err: "connection refused"},
		{name: "closed without answer", handler: func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, retryable: true, err: "connection closed before an answer"},
		{name: "invalid url", url: "http://[::1", err: "invalid url"},
		{name: "not http", url: "ftp://127.0.0.1/x", err: "invalid url: scheme must be http or https"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			if url == "" {
				if c.handler != nil {
					url = newReceiver(t, c.handler).URL
				} else {
					url = closedURL(t)
				}
			}
			s := newSender()
			s.Timeout = 200 * time.Millisecond
			res := s.Send(context.Background(), delivery(url), 1, now)
			if res.StatusCode != c.status || res.OK != c.ok || res.Retryable != c.retryable || res.Err != c.err || res.RetryAfter != c.retryAfter {
				t.Errorf("got status=%d ok=%v retryable=%v err=%q retryAfter=%v\nwant status=%d ok=%v retryable=%v err=%q retryAfter=%v",
					res.StatusCode, res.OK, res.Retryable, res.Err, res.RetryAfter, c.status, c.ok, c.retryable, c.err, c.retryAfter)
			}
			if res.Attempt != 1 || !res.At.Equal(now) {
				t.Errorf("attempt %d at %v", res.Attempt, res.At)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("a redirect was followed %d times", n)
	}
}

// stall holds a request until the client gives up or the test ends (a
// server's Close waits for its handlers).
func stall(r *http.Request, release <-chan struct{}) {
	select {
	case <-release:
	case <-r.Context().Done():
	}
}

// closedURL is the URL of a loopback port nothing listens on any more.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/hooks"
}

// TestSendCancelled: the caller's cancellation is not the receiver's timeout.
func TestSendCancelled(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request) { stall(r, release) })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the request has arrived.
		for len(rc.got()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	res := newSender().Send(ctx, delivery(rc.URL), 1, time.Now())
	if res.Err != "cancelled" || !res.Retryable || res.OK {
		t.Errorf("%+v", res)
	}
}

// TestSendRefusedByPolicy: a dial the network policy refuses is recorded as
// such and not retried.
func TestSendRefusedByPolicy(t *testing.T) {
	errRefused := errors.New("prohibited IP address")
	s := newSender()
	s.Client = &http.Client{Transport: NewTransport(func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errRefused}
	})}
	s.Refused = func(err error) bool { return errors.Is(err, errRefused) }
	res := s.Send(context.Background(), delivery("https://metadata.internal/hooks"), 1, time.Now())
	if res.Err != "refused by network policy" || res.Retryable || res.OK {
		t.Errorf("%+v", res)
	}
}

// TestSendNoClient: a Sender without a client refuses to fall back to an
// unguarded one.
func TestSendNoClient(t *testing.T) {
	res := (&Sender{}).Send(context.Background(), delivery("https://example.com"), 1, time.Now())
	if res.OK || res.Err == "" {
		t.Errorf("%+v", res)
	}
}

// TestSendNeverLeaks: whatever fails, the recorded reason and snippet hold
// neither the Authorization value, nor the secret, nor the URL's userinfo
// or query.
func TestSendNeverLeaks(t *testing.T) {
	const (
		auth   = "Bearer auth-T0KEN-9f8e7d"
		user   = "hookuser"
		pass   = "p4ss-W0RD-1a2b"
		query  = "token=Q-T0KEN-5c6d"
		secret = secretB
	)
	release := make(chan struct{})
	defer close(release)
	echo := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			// A careless receiver echoes the request back.
			io.WriteString(w, r.Header.Get("Authorization")+" "+r.URL.RawQuery+" "+r.Header.Get("webhook-signature"))
		}
	}
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"echo 500", echo(500)},
		{"echo 401", echo(401)},
		{"echo 200", echo(200)},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://"+user+":"+pass+"@127.0.0.1/?"+query, http.StatusFound)
		}},
		{"timeout", func(_ http.ResponseWriter, r *http.Request) { stall(r, release) }},
		{"reset", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}},
		{"refused", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := closedURL(t)
			if c.handler != nil {
				base = newReceiver(t, c.handler).URL
			}
			url := strings.Replace(base, "http://", "http://"+user+":"+pass+"@", 1) + "/hooks?" + query
			d := delivery(url)
			d.Auth, d.Secret = auth, secret
			s := newSender()
			s.Timeout = 200 * time.Millisecond
			res := s.Send(context.Background(), d, 1, time.Now())
			for _, secretPart := range []string{"auth-T0KEN", pass, "Q-T0KEN", strings.TrimPrefix(secret, "whsec_")} {
				if strings.Contains(res.Err, secretPart) || strings.Contains(res.Snippet, secretPart) {
					t.Errorf("leaks %q: err=%q snippet=%q", secretPart, res.Err, res.Snippet)
				}
			}
			if rec := res.Record(d); strings.Contains(rec.URL, pass) || strings.Contains(rec.URL, user) {
				t.Errorf("record URL %q shows userinfo", rec.URL)
			}
		})
	}
}

// TestSendAnswer: the snippet is at most 1 KiB of valid UTF-8; a short
// answer is read to its end so the connection is reused, a long one past
// the cap drops the connection instead of being read on.
func TestSendAnswer(t *testing.T) {
	for _, c := range []struct {
		name      string
		answer    string
		snippet   string
		reconnect bool // the next attempt needs a new connection
	}{
		{"empty", "", "", false},
		{"short", `{"received":true}`, `{"received":true}`, false},
		{"exactly 1 KiB", strings.Repeat("a", 1024), strings.Repeat("a", 1024), false},
		{"10 KiB, drained", strings.Repeat("b", 10<<10), strings.Repeat("b", 1024), false},
		{"rune cut at 1 KiB", strings.Repeat("a", 1023) + "€", strings.Repeat("a", 1023), false},
		{"invalid UTF-8", "ok\xff\xfe!", "ok!", false},
		{"1 MiB, dropped", strings.Repeat("c", 1<<20), strings.Repeat("c", 1024), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, c.answer)
			})
			s := newSender()
			for i := range 2 {
				res := s.Send(context.Background(), delivery(rc.URL), 1, time.Now())
				if !res.OK {
					t.Fatalf("attempt %d: %+v", i, res)
				}
				if res.Snippet != c.snippet {
					t.Errorf("snippet of %d bytes, want %d", len(res.Snippet), len(c.snippet))
				}
				if len(res.Snippet) > SnippetSize || !utf8.ValidString(res.Snippet) {
					t.Errorf("snippet %d bytes, valid UTF-8 %v", len(res.Snippet), utf8.ValidString(res.Snippet))
				}
			}
			want := int64(1)
			if c.reconnect {
				want = 2
			}
			if n := rc.conns.Load(); n != want {
				t.Errorf("%d connections for 2 attempts, want %d", n, want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		in   string
		want time.Duration
	}{
		{"empty", "", 0},
		{"seconds", "2", 2 * time.Second},
		{"zero", "0", 0},
		{"padded", " 30 ", 30 * time.Second},
		{"an hour", "3600", time.Hour},
		{"capped", "3601", MaxRetryAfter},
		{"overflow", "99999999999999999999999", MaxRetryAfter},
		{"negative", "-5", 0},
		{"fraction", "1.5", 0},
		{"garbage", "soon", 0},
		{"IMF date", now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute},
		{"RFC 850 date", now.Add(time.Minute).Format(time.RFC850), time.Minute},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"date far ahead", now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ParseRetryAfter(c.in, now); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://api.example.com/hooks", "https://api.example.com/hooks"},
		{"https://api.example.com/hooks?token=s3cr3t", "https://api.example.com/hooks?token=[redacted]"},
		{"https://api.example.com/hooks?key=a%2Fb&token=s3cr3t&token=again", "https://api.example.com/hooks?key=[redacted]&token=[redacted]&token=[redacted]"},
		{"https://api.example.com/hooks?s3cr3t", "https://api.example.com/hooks?[redacted]"},
		{"https://api.example.com/hooks?empty=&&", "https://api.example.com/hooks?empty=[redacted]"},
		{"https://api.example.com/hooks?", "https://api.example.com/hooks"},
		{"https://api.example.com/hooks#s3cr3t", "https://api.example.com/hooks"},
		{"https://u:p@api.example.com/hooks?t=s3cr3t#f", "https://api.example.com/hooks?t=[redacted]"},
		{"https://u@api.example.com/", "https://api.example.com/"},
		{"http://[::1", "invalid url"},
	} {
		t.Run(c.in, func(t *testing.T) {
			if got := RedactURL(c.in); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// BenchmarkSend is one delivery at a time to a loopback receiver answering
// 204, over a reused keep-alive connection (conns/op shows the reuse).
func BenchmarkSend(b *testing.B) {
	rc := newReceiver(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s := newSender()
	d := delivery(rc.URL)
	d.Secret = secretB
	d.Body = []byte(strings.Repeat(`{"text":"hello"}`, 32))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if res := s.Send(ctx, d, 1, time.Now()); !res.OK {
			b.Fatal(res.Err)
		}
	}
	b.ReportMetric(float64(rc.conns.Load()), "conns")
}

// BenchmarkSendParallel is concurrent deliveries to one receiver, as the
// delivery workers make them.
func BenchmarkSendParallel(b *testing.B) {
	rc := newReceiver(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s := newSender()
	d := delivery(rc.URL)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := s.Send(ctx, d, 1, time.Now()); !res.OK {
				b.Error(res.Err)
				return
			}
		}
	})
	b.ReportMetric(float64(rc.conns.Load()), "conns")
}
