package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/webhookkit"
)

// Defaults and caps of a Sender.
const (
	// DefaultTimeout bounds one attempt, from dialing to the last byte read
	// (docs/API.md: a receiver must answer within 30 s).
	DefaultTimeout = 30 * time.Second
	// SnippetSize is how much of an answer is kept for the delivery log.
	SnippetSize = 1 << 10
	// DefaultMaxResponse is how much of an answer is read at most. Reading
	// a short answer to its end lets the connection be reused; past this
	// the connection is dropped instead, so a receiver streaming an endless
	// answer costs one connection, not a worker.
	DefaultMaxResponse = 64 << 10
	// MaxRetryAfter caps the Retry-After a receiver may ask for.
	MaxRetryAfter = time.Hour
	// DefaultUserAgent is sent when Sender.UserAgent is empty.
	DefaultUserAgent = "errand"
)

// Sender POSTs webhook deliveries. It is safe for concurrent use; share one.
type Sender struct {
	// Client sends the requests. Required, no default: the caller builds
	// it on a transport that dials through the network policy (see
	// NewTransport), and a forgotten client must not fall back to one that
	// can reach the operator's private network. Its redirect policy is
	// replaced: redirects are never followed.
	Client *http.Client
	// UserAgent is the User-Agent header, "errand/<version>". Default
	// "errand".
	UserAgent string
	// Timeout bounds one attempt. Default DefaultTimeout (30s).
	Timeout time.Duration
	// MaxResponse is how many bytes of an answer are read (the first
	// SnippetSize are kept). Default DefaultMaxResponse (64 KiB).
	MaxResponse int64
	// Refused reports whether a transport error is the network policy
	// refusing the address. Such a failure is recorded as "refused by
	// network policy" and not retried: the address will not change its
	// class. Default: no error is treated as a refusal.
	Refused func(error) bool
}

// Result is the outcome of one attempt. Err, Snippet and the rest are safe
// to store and show: Err never contains the Authorization value, the
// signing secret, or the URL's userinfo or query.
type Result struct {
	Attempt    int           // 1-based, as passed to Send
	At         time.Time     // when the attempt started (the webhook-timestamp)
	StatusCode int           // 0 when no answer came
	Duration   time.Duration // from sending to the answer read
	Err        string        // why it failed: "timeout after 30s", "status 500", …; empty when OK
	Snippet    string        // the first SnippetSize bytes of the answer, valid UTF-8
	OK         bool          // a 2xx within the timeout
	Retryable  bool          // connection errors, timeouts, 408, 429, 5xx
	RetryAfter time.Duration // the receiver's Retry-After, capped at MaxRetryAfter; 0 if none
}

// Record is the attempt as the store keeps it (URL without userinfo).
func (r Result) Record(d task.Delivery) task.Attempt {
	return task.Attempt{
		DeliveryID:      d.ID,
		TaskID:          d.TaskID,
		Event:           d.Event,
		Attempt:         r.Attempt,
		URL:             RedactURL(d.URL),
		StatusCode:      r.StatusCode,
		DurationMs:      r.Duration.Milliseconds(),
		Error:           r.Err,
		ResponseSnippet: r.Snippet,
		At:              r.At,
	}
}

// errTimeout tells our own deadline apart from the caller's cancellation.
var errTimeout = errors.New("webhook: attempt timed out")

// Send makes attempt number attempt (1-based) of delivery d, its
// credentials opened (task.Delivery.OpenCredentials), at now: one
// POST of d.Body with the contract's headers, the webhook-timestamp (and
// signature, when d.Secret is set) taken from now. It never returns an
// error: every failure is a Result with its reason, classified for retry.
//
// Authorization is d.Auth verbatim and absent when d.Auth is empty; the one
// exception is net/http's own: a URL with userinfo (https://u:p@host/) and
// no d.Auth is sent with Basic auth from it, as curl would.
func (s *Sender) Send(ctx context.Context, d task.Delivery, attempt int, now time.Time) Result {
	res := Result{Attempt: attempt, At: now}
	if s.Client == nil {
		res.Err = "sender has no HTTP client"
		return res
	}
	if len(d.SealedCredentials) > 0 {
		// Sent as it is, it would go without its auth or signature.
		res.Err = "the webhook's credentials are still sealed"
		return res
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		// The parse error quotes the URL, userinfo and query included.
		res.Err = "invalid url"
		return res
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		res.Err = "invalid url: scheme must be http or https"
		return res
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	ua := s.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	h.Set("User-Agent", ua)
	if d.Auth != "" {
		h.Set("Authorization", d.Auth)
	}
	h.Set(webhookkit.HeaderID, d.ID)
	h.Set(webhookkit.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	var sig string
	if d.Secret != "" {
		sig, err = Sign(d.ID, now, d.Body, strings.Fields(d.Secret))
		if err != nil {
			// Not retryable: the secret will not fix itself. The error
			// text names the problem, never the secret.
			res.Err = "signing: " + err.Error()
			return res
		}
		h.Set(webhookkit.HeaderSignature, sig)
	}
	// Whatever comes back (an answer, an error) is cleared of every
	// credential this request carries before it is kept or shown.
	clean := newRedactor(d, sig)
	h.Set(webhookkit.HeaderEvent, string(d.Event))
	h.Set(webhookkit.HeaderSessionID, d.SessionID)
	h.Set(webhookkit.HeaderTaskID, d.TaskID)
	if d.MonitorID != "" {
		h.Set(webhookkit.HeaderMonitorID, d.MonitorID)
	}

	client := *s.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.Duration = time.Since(start)
		res.Err, res.Retryable = s.reason(ctx, err, timeout)
		res.Err = clean.redact(res.Err)
		return res
	}
	res.StatusCode = resp.StatusCode
	// Read past the snippet by the longest credential's length, so that
	// one cut by the snippet's end is still seen whole, and redacted.
	answer := s.readAnswer(resp.Body, SnippetSize+clean.longest)
	res.Duration = time.Since(start)
	// A receiver echoing the request back must not make the log show the
	// credentials either.
	res.Snippet = snippet(clean.redact(answer))

	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		res.OK = true
	case code >= 300 && code < 400:
		res.Err = fmt.Sprintf("redirect %d not followed", code)
	default:
		res.Err = fmt.Sprintf("status %d", code)
		res.Retryable = code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || (code >= 500 && code <= 599)
	}
	if res.Retryable {
		res.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return res
}

// readAnswer keeps the first keep bytes, reads on up to MaxResponse so
// that the connection goes back to the pool, and closes the body, which
// drops the connection when the answer was longer.
func (s *Sender) readAnswer(body io.ReadCloser, keep int) string {
	defer body.Close()
	limit := s.MaxResponse
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	buf := make([]byte, keep)
	n, _ := io.ReadFull(body, buf)
	if rest := limit - int64(n); rest > 0 && n == keep {
		_, _ = io.CopyN(io.Discard, body, rest)
	}
	return string(buf[:n])
}

// snippet clips an answer to SnippetSize bytes of valid UTF-8: a rune cut
// by the limit is dropped, invalid bytes elsewhere are removed.
func snippet(s string) string {
	b := []byte(s[:min(len(s), SnippetSize)])
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				b = b[:len(b)-i]
			}
			break
		}
	}
	return strings.ToValidUTF8(string(b), "")
}

// reason names a transport failure and says whether retrying may help.
func (s *Sender) reason(ctx context.Context, err error, timeout time.Duration) (string, bool) {
	// url.Error's text quotes the URL (query included): use what it wraps.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case context.Cause(ctx) == errTimeout:
		return "timeout after " + timeout.String(), true
	case ctx.Err() != nil:
		// The caller stopped (shutdown): not the receiver's fault.
		return "cancelled", true
	case s.Refused != nil && s.Refused(err):
		return "refused by network policy", false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before an answer", true
	case errors.As(err, &dnsErr):
		return "dns: " + dnsErr.Err + " (" + dnsErr.Name + ")", true
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + timeout.String(), true
	default:
		return err.Error(), true
	}
}

// ParseRetryAfter reads a Retry-After header, delay-seconds or an HTTP date
// (relative to now), capped at MaxRetryAfter. Anything unreadable, or a
// date in the past, is 0.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter // only overflow fails on digits
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RedactURL is a webhook URL as errand shows it (the deliveries list, the
// redeliver answer, the stored attempts): no userinfo, no fragment, and
// every query value replaced with [redacted] — receivers often take a token
// there. The parameter names stay, so that two URLs can be told apart; a
// parameter without a value (?s3cr3t) is itself redacted.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "invalid url"
	}
	p.User = nil
	p.Fragment, p.RawFragment = "", ""
	if p.RawQuery != "" || p.ForceQuery {
		var parts []string
		for part := range strings.SplitSeq(p.RawQuery, "&") {
			if name, _, ok := strings.Cut(part, "="); ok {
				parts = append(parts, name+"="+redacted)
			} else if part != "" {
				parts = append(parts, redacted)
			}
		}
		p.RawQuery, p.ForceQuery = strings.Join(parts, "&"), false
	}
	return p.String()
}

// NewTransport is the tuned transport deliveries need: keep-alive with many
// idle connections per host (the default two make a busy receiver reopen
// connections under load), and no proxy (a proxy would dial for us, past the
// network policy). dial is the policy's dialer; nil dials directly, which is
// only right for tests.
func NewTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}
