package agent

import (
	"context"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// Browser is what the model-driven agent drives: one shared browser with an
// isolated context per session (cookies and storage persist across a
// session's tasks, never across sessions). internal/browser implements it
// over the DevTools protocol.
type Browser interface {
	// Tab returns the page of a session's browser context, creating the
	// context on first use. avoid is the running task's avoidDomains: every
	// request of the page (navigations, sub-resources, redirects) to one of
	// them, or to an address the network policy refuses, is blocked.
	Tab(ctx context.Context, sessionID string, avoid []string) (Tab, error)
	// CloseSession drops a session's browser context.
	CloseSession(sessionID string)
}

// Tab is one session's page. Element ids are the numbers of the latest
// Observe ([12]<a href=…>Next</a>).
type Tab interface {
	Navigate(ctx context.Context, url string) error
	Observe(ctx context.Context, opts ObserveOptions) (Observation, error)
	Click(ctx context.Context, id int) error
	// Type replaces the value of an input with text, then presses Enter
	// when submit is set.
	Type(ctx context.Context, id int, text string, submit bool) error
	Select(ctx context.Context, id int, value string) error
	Press(ctx context.Context, key string) error
	// Scroll moves the viewport "up" or "down" by pages (default 1).
	Scroll(ctx context.Context, direction string, pages float64) error
	Back(ctx context.Context) error
	Wait(ctx context.Context, d time.Duration) error
	// Page returns the rendered page (URL and serialized DOM) for the
	// built-in extractor.
	Page(ctx context.Context) (url string, html []byte, err error)
	// URL is the page's current URL.
	URL() string
	// Network lists the URLs this tab loaded since the last call, and
	// resets the list.
	Network() []task.NetworkURL
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

// NavigationError is a navigation that was refused (network policy or
// avoidDomains: Blocked) or did not complete in time.
type NavigationError struct {
	URL     string
	Blocked bool
	Reason  string
}

func (e *NavigationError) Error() string { return e.Reason }

// BrowserError is a crashed or hung browser: the running task fails with
// task.CodeBrowserError and the next one gets a fresh browser.
type BrowserError struct{ Reason string }

func (e *BrowserError) Error() string { return e.Reason }
