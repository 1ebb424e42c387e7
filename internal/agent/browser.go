package agent

import (
	"context"

	"github.com/errandhq/errand/internal/browser"
)

// Browser is what the model-driven agent drives: one shared browser with an
// isolated context per session (cookies and storage persist across a
// session's tasks, never across sessions). browser.Chromium implements it
// over the DevTools protocol.
type Browser interface {
	// Tab returns the page of a session's browser context, creating the
	// context on first use. opts are the running task's: every request of
	// the page (navigations, sub-resources, redirects) to one of its
	// AvoidDomains, or to an address the network policy refuses, is
	// blocked.
	Tab(ctx context.Context, sessionID string, opts PageOptions) (Tab, error)
	// CloseSession drops a session's browser context.
	CloseSession(sessionID string)
}

// The page-side types live in package browser, which implements them and
// which this package already imports; these aliases keep agent's names.
type (
	// Tab is one session's page; see browser.Tab.
	Tab = browser.Tab
	// PageOptions are what a task asks of its pages; see browser.PageOptions.
	PageOptions = browser.PageOptions
	// ObserveOptions tune an observation; see browser.ObserveOptions.
	ObserveOptions = browser.ObserveOptions
	// Observation is the compact view of a page the model sees.
	Observation = browser.Observation
	// Download is a file a page downloaded; see browser.Download.
	Download = browser.Download
	// PageEvent is a new tab that opened, or a tab that closed.
	PageEvent = browser.PageEvent
	// NavigationError is a refused (Blocked) or timed-out navigation.
	NavigationError = browser.NavigationError
	// BrowserError is a crashed or hung browser (task.CodeBrowserError).
	BrowserError = browser.BrowserError
)
