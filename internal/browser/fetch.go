// Package browser loads web pages for the agent: over plain HTTP (Fetcher,
// no JavaScript) or in a real Chromium over the DevTools protocol
// (Chromium, its Tabs and ChromiumLoader). Every request goes through the
// network policy: the Fetcher dials through it, and Chromium sends all of a
// page's requests to an in-process proxy that does.
package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
)

// Page is a loaded page.
type Page struct {
	URL    string // final URL, after redirects
	Status int
	HTML   []byte
	// Visited lists every URL requested, redirects included.
	Visited []task.NetworkURL
	// Screenshot is the viewport once loaded, for the task's trace, when
	// the loader takes one (ChromiumLoader.Screenshot).
	Screenshot *task.Screenshot
}

// Fetcher loads pages over plain HTTP through the network policy.
type Fetcher struct {
	// Client dials through the network policy (netguard's Transport).
	Client *http.Client
	// MaxBytes caps the page size read. Default 5 MiB.
	MaxBytes int64
	// UserAgent is sent on every request.
	UserAgent string
	Now       func() time.Time
}

// Fetch loads rawURL, following up to 10 redirects, each judged by the
// network policy (at dial time) and by opts.AvoidDomains. A page that is
// refused or does not load is a *NavigationError. Without JavaScript there
// is nothing to settle: opts.SettleTimeout is unused.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, opts PageOptions) (Page, error) {
	avoid := opts.AvoidDomains
	now := f.Now
	if now == nil {
		now = time.Now
	}
	var page Page
	client := *f.Client
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		page.Visited = append(page.Visited, task.NetworkURL{URL: req.URL.String(), Timestamp: now().UTC()})
		return checkAvoided(req.URL, avoid)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return page, fmt.Errorf("invalid URL: %w", err)
	}
	if err := checkAvoided(u, avoid); err != nil {
		return page, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return page, fmt.Errorf("invalid URL: %w", err)
	}
	ua := f.UserAgent
	if ua == "" {
		ua = "errand"
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
	page.Visited = append(page.Visited, task.NetworkURL{URL: rawURL, Timestamp: now().UTC()})
	resp, err := client.Do(req)
	if err != nil {
		return page, classify(rawURL, err)
	}
	defer resp.Body.Close()
	max := f.MaxBytes
	if max <= 0 {
		max = 5 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil {
		return page, classify(rawURL, err)
	}
	page.URL = resp.Request.URL.String()
	page.Status = resp.StatusCode
	page.HTML = body
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt != "text/html" && mt != "application/xhtml+xml" && mt != "text/plain" {
			return page, fmt.Errorf("the page is %s, not HTML", mt)
		}
	}
	return page, nil
}

func checkAvoided(u *url.URL, avoid []string) error {
	if netguard.Avoided(u.Hostname(), avoid) {
		return &NavigationError{URL: u.Redacted(), Blocked: true, Reason: fmt.Sprintf("%s is in the task's avoidDomains", u.Hostname())}
	}
	return nil
}

// classify turns a transport error into a *NavigationError, blocked or
// not, with a reason fit to show to the caller (no query strings or
// credentials).
func classify(rawURL string, err error) error {
	var blocked *netguard.BlockedError
	if errors.As(err, &blocked) {
		return &NavigationError{URL: rawURL, Blocked: true, Reason: blocked.Error(), Err: blocked}
	}
	var nav *NavigationError
	if errors.As(err, &nav) {
		return nav
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return &NavigationError{URL: rawURL, Reason: "the page did not answer in time"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &NavigationError{URL: rawURL, Reason: "the page could not be loaded: " + err.Error()}
}
