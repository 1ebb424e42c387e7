package browser

import (
	"context"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// Tab is one session's page, driven by the model-driven agent. Element ids
// are the numbers of the latest Observe ([12]<a href=…>Next</a>).
//
// Navigate and the actions (Click, Type, Select, Press, Scroll, Back)
// return once the page has settled: loaded, no request in flight, nothing
// the page scheduled (timers, animation frames, fetches) pending, and the
// DOM no longer changing in a way that moves the layout — within the
// settle timeout (PageOptions), past which the page is read as it is. So
// the next Observe or Page sees what a script drew after the load.
//
// The types of this file are declared here, not in package agent, because
// agent already imports this package (Page, NavigationError) and Chromium must
// return them; agent re-exports them under the same names.
type Tab interface {
	// Navigate loads url and waits for it to load (bounded by the
	// navigation timeout) and settle. A refused or avoided address gives a
	// *NavigationError with Blocked set, a page that does not load in time
	// one without.
	Navigate(ctx context.Context, url string) error
	Observe(ctx context.Context, opts ObserveOptions) (Observation, error)
	Click(ctx context.Context, id int) error
	// Type replaces the value of an input with text, then presses Enter
	// when submit is set.
	Type(ctx context.Context, id int, text string, submit bool) error
	// Select picks an option of a <select> by its value or its visible
	// text.
	Select(ctx context.Context, id int, value string) error
	Press(ctx context.Context, key string) error
	// Scroll moves the viewport "up" or "down" by pages (default 1).
	Scroll(ctx context.Context, direction string, pages float64) error
	Back(ctx context.Context) error
	Wait(ctx context.Context, d time.Duration) error
	// Page returns the rendered page (URL and serialized DOM) for the
	// built-in extractor.
	Page(ctx context.Context) (url string, html []byte, err error)
	// Screenshot captures the viewport as a JPEG for the task's trace,
	// with opts.Hide covered; see ScreenshotOptions.
	Screenshot(ctx context.Context, opts ScreenshotOptions) (Screenshot, error)
	// URL is the page's current URL.
	URL() string
	// ElementURL is the URL of the document that element id (of the
	// latest Observe) is in: a frame's, for an element inside an iframe,
	// else the page's. Secrets are typed only where it matches.
	ElementURL(id int) string
	// Network lists the URLs this tab loaded since the last call, and
	// resets the list.
	Network() []task.NetworkURL
	// Downloads lists the files the session's pages downloaded since the
	// last call, and the downloads that failed, once no download is in
	// progress any more (a wait bounded by ctx, and by 30 s without a
	// byte arriving). The caller owns each Download's file (Path) and
	// removes it.
	Downloads(ctx context.Context) []Download
	// Events lists what happened to the tab besides what the actions did
	// to the page, since the last call, and resets the list: an action
	// that opened a new page (a link with target=_blank, window.open) goes
	// on in it, and when that page closes (or Back finds no earlier page
	// in it) the page that opened it is the page again.
	Events() []PageEvent
}

// PageOptions are what a task asks of the pages it loads.
type PageOptions struct {
	// AvoidDomains are hosts (and their subdomains) no request may reach,
	// refused like addresses the network policy refuses. Default: none.
	AvoidDomains []string
	// SettleTimeout bounds how long a load or an action waits for the page
	// to settle (network and DOM quiet, see Tab). Chromium only. Default:
	// the browser's (ChromiumConfig.SettleTimeout, 3s).
	SettleTimeout time.Duration
}

// ObserveOptions tune an observation.
type ObserveOptions struct {
	// Screenshot adds a JPEG of the viewport (for vision models).
	Screenshot bool
}

// Observation is the compact view of a page the model sees.
type Observation struct {
	URL   string
	Title string
	// Text is the visible text of the viewport with interactive elements
	// numbered, inputs with their labels and current values, and a note of
	// how much lies above and below.
	Text       string
	Screenshot []byte
}

// NavigationError is the one error for a navigation that did not reach its
// page, from Chromium and from the plain-HTTP Fetcher alike: refused by the
// network policy or avoidDomains (Blocked), or not loaded (a timeout, a
// refused connection, a DNS failure). Code maps it to the task's code.
type NavigationError struct {
	URL     string
	Blocked bool
	Reason  string
	// Err is the cause when there is one to look into with errors.As, such
	// as the policy's *netguard.BlockedError.
	Err error
}

func (e *NavigationError) Error() string { return e.Reason }

func (e *NavigationError) Unwrap() error { return e.Err }

// Code is the task's failure code for this navigation:
// task.CodeNavigationBlocked or task.CodeNavigationTimeout.
func (e *NavigationError) Code() string {
	if e.Blocked {
		return task.CodeNavigationBlocked
	}
	return task.CodeNavigationTimeout
}

// BrowserError is a crashed or hung browser: the running task fails with
// task.CodeBrowserError and the next one gets a fresh browser.
type BrowserError struct{ Reason string }

func (e *BrowserError) Error() string { return e.Reason }
