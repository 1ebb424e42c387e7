package browser

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
)

// Timings of waiting for a page. Each is an upper bound, never a sleep: the
// wait ends as soon as the page is ready.
const (
	// navStartWindow is how long Back is watched for starting a
	// navigation. Chromium reports a requested navigation right after the
	// command, so this is short. (The page's own actions need no window:
	// the page tells when it begins to navigate, see settle.js.)
	navStartWindow = 30 * time.Millisecond
	// netQuiet is how long no request may have started or ended for the
	// network to count as quiet. It is no bound on the renderer: a script
	// that arrives is waited for until it has run (the settle tracker's
	// check is told of it), and requests scripts make (fetch, XHR) are
	// tracked in the page until their body is read.
	netQuiet = 50 * time.Millisecond
	// domQuiet is how long the DOM must not have changed (layout-affecting
	// changes only, see settle.js) for the page to count as drawn, once no
	// tracked work (timers, frames, requests) is pending.
	domQuiet = 50 * time.Millisecond
	// DefaultSettleTimeout bounds the settle wait (network and DOM quiet)
	// after a load or an action: a page that never settles (polling,
	// animating) is read when it passes.
	DefaultSettleTimeout = 3 * time.Second
	// longRequest is the age past which a request in flight is a long poll
	// or a stream, not loading.
	longRequest = 10 * time.Second
	// maxNetwork caps the URLs kept between two Network calls.
	maxNetwork = 2000
)

// settleJS is the settle tracker installed in every document before its
// scripts run; see the comment at its top.
//
//go:embed settle.js
var settleJS string

// chromiumTab is one session's page.
type chromiumTab struct {
	c       *Chromium
	inst    *instance
	sess    *session
	ctx     context.Context // chromedp context of the page
	cancel  context.CancelFunc
	frameID cdp.FrameID // the main frame; its id is the target's

	crashed atomic.Bool // renderer crashed, or a call to it hung
	closed  atomic.Bool // the page closed (window.close())
	avoid   atomic.Pointer[netguard.DomainMatcher]
	settleD atomic.Int64 // the running task's settle timeout (time.Duration)

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every state change
	frames    map[cdp.FrameID]*frameInfo
	frameDocs map[network.RequestID]frameDoc    // frames' document requests in flight
	oopifs    map[target.SessionID]*frameTarget // out-of-process frames the page's session attached
	nextID    int                               // the first number the next new element may take
	elems     map[int]cdp.FrameID               // numbered elements by frame
	epoch     int64                             // the browser's Date.now() when the latest action began
	url       string
	network   []task.NetworkURL
	starts    uint64 // navigations started in the main frame
	loading   bool
	doc       docState
	inflight  map[network.RequestID]time.Time
	lastNet   time.Time   // last request start or end
	opened    []target.ID // pages this one opened (new tabs, popups), not yet followed
	// onOpened is told at once of a page this one opened, so that it is
	// attached to before its document's scripts have run far.
	onOpened func(target.ID)
	// scriptReqs are the script requests in flight; scripts counts those
	// that have ended (loaded or failed), in every frame, for the settle
	// tracker's check.
	scriptReqs map[network.RequestID]struct{}
	scripts    int64
}

// docState is what is known about the main frame's latest document request.
type docState struct {
	requestID network.RequestID
	url       string // after redirects
	status    int64
	blocked   string // the proxy's refusal (X-Errand-Blocked)
	failed    string // net error text
}

// newTab opens a page in the session's browser context, or, with popup
// set, attaches to one that a page of the session opened (a new tab, a
// window.open popup): that page has started already, so the settle
// tracker also runs in its current document.
func (c *Chromium) newTab(ctx context.Context, inst *instance, s *session, popup target.ID) (*chromiumTab, error) {
	t := &chromiumTab{c: c, inst: inst, sess: s, changed: make(chan struct{}), url: "about:blank", inflight: map[network.RequestID]time.Time{},
		frames: map[cdp.FrameID]*frameInfo{}, oopifs: map[target.SessionID]*frameTarget{}, nextID: 1, elems: map[int]cdp.FrameID{},
		frameDocs: map[network.RequestID]frameDoc{}, scriptReqs: map[network.RequestID]struct{}{}}
	t.avoid.Store(&netguard.DomainMatcher{})
	t.settleD.Store(int64(c.cfg.SettleTimeout))
	if popup == "" {
		t.ctx, t.cancel = chromedp.NewContext(inst.ctx,
			chromedp.WithExistingBrowserContext(s.context),
			chromedp.WithListener(t.onEvent))
	} else {
		// Detached rather than closed when done with: the session's
		// browser context closes it in the end.
		t.ctx, t.cancel = chromedp.NewContext(inst.ctx,
			chromedp.WithTargetID(popup), chromedp.WithDetachOnCancel(),
			chromedp.WithListener(t.onEvent))
	}
	// The first Run attaches the page for as long as t.ctx lives, so it
	// cannot carry a deadline itself: within bounds it from outside.
	err := within(ctx, c.cfg.CallTimeout, func() error { return chromedp.Do(t.ctx) })
	if err != nil {
		t.cancel()
		return nil, err
	}
	t.frameID = cdp.FrameID(chromedp.FromContext(t.ctx).Target.TargetID)
	t.mu.Lock()
	t.frame(t.frameID)
	t.mu.Unlock()
	err = t.run(ctx, c.cfg.CallTimeout, "setting the viewport", func(ctx context.Context) error {
		// The settle tracker first: a new tab is loading already.
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: settleJS, RunImmediately: ptr(popup != "")}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: int64(c.cfg.Width), Height: int64(c.cfg.Height), DeviceScaleFactor: 1,
		}); err != nil {
			return err
		}
		// Pages must not wait on a dialog nobody will answer.
		if _, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
			return err
		}
		// Out-of-process frames attach paused, to be prepared like the
		// page (oopif.go).
		_, err := chromedp.Call(ctx, target.SetAutoAttach, autoAttach)
		return err
	})
	if err != nil {
		t.cancel()
		return nil, err
	}
	return t, nil
}

func (t *chromiumTab) close() { t.cancel() }

func (t *chromiumTab) isBroken() bool { return t.crashed.Load() || t.closed.Load() || !t.inst.alive() }

func (t *chromiumTab) setOptions(opts PageOptions) {
	m := netguard.NewDomainMatcher(opts.AvoidDomains)
	t.avoid.Store(&m)
	d := opts.SettleTimeout
	if d <= 0 {
		d = t.c.cfg.SettleTimeout
	}
	t.settleD.Store(int64(d))
}

// onEvent runs on the page's event goroutine: it only records, never
// calls the browser (except answering dialogs, from another goroutine).
func (t *chromiumTab) onEvent(ev any) { t.handle(nil, ev) }

// onFrameEvent takes an event of an out-of-process frame's session, on the
// page's event goroutine too.
func (t *chromiumTab) onFrameEvent(f *frameTarget, ev any) { t.handle(f, ev) }

// handle records an event of the page's session (src nil) or of an
// out-of-process frame's. Requests of every frame count for the network
// wait and Network; the document, loading and URL are the main frame's.
func (t *chromiumTab) handle(src *frameTarget, ev any) {
	if t.route(src, ev) {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		t.record(ev.Request.URL, now)
		if ev.RedirectResponse == nil {
			t.inflight[ev.RequestID] = now
			if ev.Type == network.ResourceTypeScript && len(t.scriptReqs) < maxNetwork {
				t.scriptReqs[ev.RequestID] = struct{}{}
			}
		}
		t.lastNet = now
		if ev.Type == network.ResourceTypeDocument && ev.FrameID == t.frameID {
			if ev.RequestID != t.doc.requestID {
				t.doc = docState{requestID: ev.RequestID}
			}
			t.doc.url = ev.Request.URL
		} else if ev.Type == network.ResourceTypeDocument {
			t.frameRequest(ev.RequestID, ev.FrameID, ev.Request.URL)
		}
	case *network.EventWebSocketCreated:
		t.record(ev.URL, now)
	case *network.EventResponseReceived:
		if ev.RequestID == t.doc.requestID && ev.Response != nil {
			t.doc.status = ev.Response.Status
			t.doc.url = ev.Response.URL
			t.doc.blocked = headerValue(ev.Response.Headers, blockedHeader)
		}
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil && ev.FrameID != t.frameID {
			t.frameResponse(ev.FrameID, ev.Response.URL, headerValue(ev.Response.Headers, blockedHeader))
		}
	case *network.EventLoadingFinished:
		delete(t.inflight, ev.RequestID)
		delete(t.frameDocs, ev.RequestID)
		t.scriptEnded(ev.RequestID)
		t.lastNet = now
	case *network.EventLoadingFailed:
		delete(t.inflight, ev.RequestID)
		t.scriptEnded(ev.RequestID)
		t.lastNet = now
		if ev.RequestID == t.doc.requestID && !ev.Canceled {
			t.doc.failed = ev.ErrorText
		}
		t.frameFailed(ev.RequestID)
	case *page.EventFrameRequestedNavigation:
		if ev.FrameID == t.frameID {
			t.starts++
			t.loading = true
		}
	case *page.EventFrameStartedLoading:
		if ev.FrameID == t.frameID {
			t.starts++
			t.loading = true
		} else {
			t.frame(ev.FrameID).loading = now
		}
	case *page.EventFrameStoppedLoading:
		if ev.FrameID == t.frameID {
			t.loading = false
		} else if f := t.frames[ev.FrameID]; f != nil {
			f.loading = time.Time{}
		}
	case *page.EventFrameNavigated:
		if ev.Frame != nil && ev.Frame.ParentID == "" && src == nil {
			t.url = ev.Frame.URL + ev.Frame.URLFragment
		}
		t.frameNavigated(src, ev.Frame)
	case *page.EventNavigatedWithinDocument:
		if ev.FrameID == t.frameID {
			t.url = ev.URL
		}
	case *page.EventFrameAttached:
		t.frameAttached(ev.FrameID, ev.ParentFrameID)
	case *page.EventFrameDetached:
		if ev.Reason != page.FrameDetachedReasonSwap {
			t.frameDetached(ev.FrameID)
		}
	case *runtime.EventExecutionContextCreated:
		t.contextCreated(src, ev.Context)
	case *runtime.EventExecutionContextDestroyed:
		t.contextDestroyed(src, ev.ExecutionContextUniqueID)
	case *runtime.EventExecutionContextsCleared:
		t.contextsCleared(src)
	case *inspector.EventTargetCrashed:
		if src == nil {
			t.crashed.Store(true)
		}
	case *inspector.EventDetached:
		if src == nil {
			t.closed.Store(true)
		}
	case *target.EventTargetDestroyed:
		if src == nil && cdp.FrameID(ev.TargetID) == t.frameID {
			t.closed.Store(true)
		}
	case *target.EventTargetCreated:
		if i := ev.TargetInfo; src == nil && i != nil && i.Type == "page" && i.OpenerID != "" && cdp.FrameID(i.OpenerID) == t.frameID && len(t.opened) < 16 {
			t.opened = append(t.opened, i.TargetID)
			if t.onOpened != nil {
				go t.onOpened(i.TargetID) // it takes the tab's lock, t.mu is held
			}
		}
	case *page.EventJavascriptDialogOpening:
		// alert/confirm/prompt would block the page until answered.
		var sess cdp.Session = src
		if src == nil {
			sess = chromedp.FromContext(t.ctx).Target
		}
		go func() {
			ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
			defer cancel()
			cdp.Call(ctx, sess, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true, PromptText: ev.DefaultPrompt})
		}()
	default:
		return
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// scriptEnded counts a script request that ended, loaded or failed.
func (t *chromiumTab) scriptEnded(id network.RequestID) {
	if _, ok := t.scriptReqs[id]; ok {
		delete(t.scriptReqs, id)
		t.scripts++
	}
}

// record notes a URL the page requested, for Network.
func (t *chromiumTab) record(raw string, now time.Time) {
	switch {
	case strings.HasPrefix(raw, "http://"), strings.HasPrefix(raw, "https://"),
		strings.HasPrefix(raw, "ws://"), strings.HasPrefix(raw, "wss://"):
	default:
		return // data:, blob:, about: never reach the network
	}
	if len(t.network) < maxNetwork {
		t.network = append(t.network, task.NetworkURL{URL: raw, Timestamp: now.UTC()})
	}
}

// waitFor waits until cond (called under t.mu) holds, d passes, or ctx
// ends, and reports whether cond held.
func (t *chromiumTab) waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		t.mu.Lock()
		ok := cond()
		ch := t.changed
		t.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			t.mu.Lock()
			defer t.mu.Unlock()
			return cond()
		case <-ctx.Done():
			return false
		}
	}
}

// waitSettled waits, for at most the settle timeout, until the page looks
// drawn: the main frame not loading, no request in flight and none started
// or ended for netQuiet, and in every frame the settle tracker (settle.js)
// seeing no pending work and no layout-affecting DOM change for domQuiet.
// A page that does not settle in time is read as it is.
func (t *chromiumTab) waitSettled(ctx context.Context) { t.waitSettledOrNav(ctx, nil) }

// waitSettledOrNav is waitSettled after an action that may navigate: it
// returns true as soon as a navigation of the main frame begins (counted
// past *from), for the caller to follow it. The page tells of a
// navigation it begins at once (settle.js), so a click that does not
// navigate is not held for a navigation that might have begun.
func (t *chromiumTab) waitSettledOrNav(ctx context.Context, from *uint64) bool {
	deadline := time.Now().Add(time.Duration(t.settleD.Load()))
	for {
		now := time.Now()
		if from != nil {
			t.mu.Lock()
			started := t.starts > *from
			t.mu.Unlock()
			if started {
				return true
			}
		}
		if ctx.Err() != nil || !now.Before(deadline) {
			return false
		}
		// A navigation the page announced counts while an action's may
		// begin one; after a load it is over (or was a download).
		ready, wait, netBusy, ok := t.lookSettled(ctx, deadline, from != nil)
		if ready || !ok {
			return false
		}
		wait = min(max(wait, time.Millisecond), time.Until(deadline))
		var changed <-chan struct{}
		if netBusy {
			t.mu.Lock()
			changed = t.changed
			t.mu.Unlock()
		}
		timer := time.NewTimer(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

// lookSettled is one look at what waitSettled waits for: whether the page
// is settled now, else how long to wait before looking again (netBusy: or
// until the network changes). ok is false when the page could not be
// asked before deadline (it is then read as it is).
func (t *chromiumTab) lookSettled(ctx context.Context, deadline time.Time, navs bool) (ready bool, wait time.Duration, netBusy, ok bool) {
	if wait, netBusy = t.netWait(time.Now()); netBusy || wait > 0 {
		return false, wait, netBusy, true
	}
	st, ok := t.checkFrames(ctx, deadline, navs)
	if !ok {
		return false, 0, false, false
	}
	if !st.Ready {
		return false, time.Duration(st.Wait) * time.Millisecond, false, true
	}
	// The page tells of the requests it began (a module's imports, found
	// as it was compiled) before it answers: it is ready if none came in
	// meanwhile.
	wait, netBusy = t.netWait(time.Now())
	return !netBusy && wait == 0, wait, netBusy, true
}

// netWait says whether the network (or a frame's loading) keeps the page
// busy, and else how long until it has been quiet for netQuiet.
func (t *chromiumTab) netWait(now time.Time) (wait time.Duration, busy bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loading {
		return 0, true
	}
	for _, f := range t.frames {
		if !f.loading.IsZero() && now.Sub(f.loading) < longRequest {
			return 0, true // a frame loads a document (an answer to a form)
		}
	}
	for id, since := range t.inflight {
		if now.Sub(since) > longRequest {
			delete(t.inflight, id) // a long poll or a stream: not loading
			continue
		}
		busy = true
	}
	if busy {
		return 0, true
	}
	if q := now.Sub(t.lastNet); q < netQuiet {
		return netQuiet - q, false
	}
	return 0, false
}

// settleState is the settle tracker's answer.
type settleState struct {
	Ready bool   `json:"ready"`
	Wait  int    `json:"wait"` // ms before asking again
	Why   string `json:"why"`  // what was pending: dom, late, load, closing, message, script, navigating, timer, frame, idle, request
}

// checkFrames asks the page's settle trackers whether it is drawn: the
// main frame's (which answers for the same-origin frames inside it too)
// and each cross-origin frame's. ok is false when the deadline passed
// while asking (a page too busy to answer is read as it is; a hung one is
// found by the next call).
func (t *chromiumTab) checkFrames(ctx context.Context, deadline time.Time, navs bool) (settleState, bool) {
	within := time.Until(deadline)
	if within <= 0 {
		return settleState{}, false
	}
	t.mu.Lock()
	expr := fmt.Sprintf(`window.__errandSettle ? window.__errandSettle.check(%d, %d, %d, %t, %d) : {ready: true}`,
		domQuiet.Milliseconds(), within.Milliseconds(), t.epoch, navs, t.scripts)
	frames := t.settleFrames()
	t.mu.Unlock()
	var st settleState
	err := t.run(ctx, min(within, t.c.cfg.CallTimeout), "waiting for the page to settle", func(ctx context.Context) error {
		var err error
		st, err = chromedp.Run(ctx, chromedp.Evaluate[settleState](expr))
		return err
	})
	if err != nil {
		if errors.Is(err, errNoAnswer) || ctx.Err() != nil || t.usable(ctx) != nil {
			return st, false
		}
		// The document went away under the call (a script navigated):
		// ask the next one.
		return settleState{Wait: 10}, true
	}
	for _, f := range frames {
		if st.Wait >= int(within.Milliseconds()) {
			break
		}
		fst, err := evalIn[settleState](t, ctx, f, "waiting for a frame to settle", expr)
		if err != nil {
			continue // a frame that does not answer does not hold the page
		}
		if !fst.Ready {
			st = settleState{Wait: max(st.Wait, fst.Wait), Why: cmp.Or(st.Why, fst.Why)}
		}
	}
	return st, true
}

// settleFrames are the frames whose settle tracker the main frame's
// cannot reach: cross-origin ones, with a context. t.mu is held.
func (t *chromiumTab) settleFrames() []frameRef {
	var out []frameRef
	for _, f := range t.frames {
		if f.id == t.frameID || f.ctx == 0 {
			continue
		}
		if p := t.frames[f.parent]; p != nil && p.origin == f.origin && p.sess == f.sess {
			continue
		}
		if r, ok := t.ref(f.id); ok {
			out = append(out, r)
		}
	}
	return out
}

// run calls f with a context bounded by d, by the caller's ctx and by the
// page, and turns what went wrong into the errors the agent acts on: the
// caller's own cancellation, a *BrowserError for a dead or hung browser, or
// f's error.
func (t *chromiumTab) run(ctx context.Context, d time.Duration, what string, f func(ctx context.Context) error) error {
	if err := t.usable(ctx); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(t.ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	lost := t.inst.lost()
	errc := make(chan error, 1)
	go func() { errc <- f(cctx) }()
	var err error
	select {
	case err = <-errc:
	case <-lost:
		cancel()
		err = <-errc
	}
	if err == nil {
		return nil
	}
	return t.failure(ctx, cctx, what, err)
}

func (t *chromiumTab) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !t.inst.alive() {
		return &BrowserError{Reason: "the browser exited unexpectedly"}
	}
	if t.crashed.Load() {
		return &BrowserError{Reason: "the page crashed or stopped responding"}
	}
	if t.closed.Load() {
		return &BrowserError{Reason: "the page closed"}
	}
	return nil
}

func (t *chromiumTab) failure(ctx, cctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !t.inst.alive() {
		return &BrowserError{Reason: "the browser exited unexpectedly while " + what}
	}
	if t.crashed.Load() {
		return &BrowserError{Reason: "the page crashed while " + what}
	}
	if errors.Is(err, chromedp.ErrTargetDetached) {
		t.closed.Store(true)
	}
	if t.closed.Load() {
		return &BrowserError{Reason: "the page closed while " + what}
	}
	if errors.Is(cctx.Err(), context.DeadlineExceeded) {
		if !t.c.responsive(t.inst) {
			t.c.mu.Lock()
			t.c.discardLocked(t.inst, "not responding")
			t.c.mu.Unlock()
			return &BrowserError{Reason: "the browser stopped responding while " + what}
		}
		return fmt.Errorf("the page %w while %s", errNoAnswer, what)
	}
	var exc *chromedp.ExceptionError
	if errors.As(err, &exc) {
		return errors.New(exceptionText(exc))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// errNoAnswer is a call the page did not answer in time while the browser
// did: the page is busy (a script in a loop) or loading slowly.
var errNoAnswer = errors.New("did not answer in time")

// hung turns a page that stopped answering into a *BrowserError and marks
// the page for replacement: the next Tab of the session opens a new page in
// the same browser context (cookies kept).
func (t *chromiumTab) hung(err error) error {
	if errors.Is(err, errNoAnswer) {
		t.crashed.Store(true)
		return &BrowserError{Reason: "the page stopped responding: " + err.Error()}
	}
	return err
}

func exceptionText(e *chromedp.ExceptionError) string {
	d := e.ExceptionDetails
	if d == nil {
		return "script error"
	}
	if d.Exception != nil && d.Exception.Description != "" {
		msg, _, _ := strings.Cut(d.Exception.Description, "\n    at ")
		return strings.TrimPrefix(msg, "Error: ")
	}
	return d.Text
}

// eval evaluates a script in the page and decodes its JSON result.
func evalJS[T any](t *chromiumTab, ctx context.Context, what, expr string) (T, error) {
	var v T
	err := t.run(ctx, t.c.cfg.CallTimeout, what, func(ctx context.Context) error {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
		return err
	})
	return v, t.hung(err)
}

func (t *chromiumTab) URL() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.url
}

func (t *chromiumTab) Network() []task.NetworkURL {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.network
	t.network = nil
	return out
}

// Navigate loads rawURL and waits for it to load and settle (bounded).
func (t *chromiumTab) Navigate(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// file:, chrome: and the like would read the server's own disk or
		// settings: only the web is browsed.
		return &NavigationError{URL: rawURL, Blocked: true, Reason: fmt.Sprintf("%q is not an http or https URL", rawURL)}
	}
	if t.avoid.Load().Match(u.Hostname()) {
		t.mu.Lock()
		t.record(rawURL, time.Now())
		t.mu.Unlock()
		return &NavigationError{URL: rawURL, Blocked: true, Reason: u.Hostname() + " is in the task's avoidDomains"}
	}
	starts := t.beginNav()
	var res page.NavigateResult
	err = t.run(ctx, t.c.cfg.NavigationTimeout, "loading "+rawURL, func(ctx context.Context) error {
		var err error
		res, err = chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: rawURL})
		return err
	})
	if err != nil {
		if errors.Is(err, errNoAnswer) {
			t.stopLoading()
			return &NavigationError{URL: rawURL, Reason: fmt.Sprintf("%s did not load within %s", rawURL, t.c.cfg.NavigationTimeout)}
		}
		return err
	}
	if res.ErrorText != "" {
		t.mu.Lock()
		if t.doc.failed == "" {
			t.doc.failed = res.ErrorText
		}
		if t.doc.url == "" {
			t.doc.url = rawURL
		}
		t.mu.Unlock()
		return t.outcome(rawURL)
	}
	if res.LoaderID == "" {
		return nil // same-document (#fragment) navigation
	}
	return t.finishLoad(ctx, rawURL, starts)
}

// finishLoad waits for a started navigation to load, then for the network
// to settle, and reports a refused or failed document.
func (t *chromiumTab) finishLoad(ctx context.Context, what string, starts uint64) error {
	loaded := t.waitFor(ctx, t.c.cfg.NavigationTimeout, func() bool { return t.starts > starts && !t.loading })
	if err := t.usable(ctx); err != nil {
		return err
	}
	if !loaded {
		if err := t.outcome(what); err != nil {
			return err
		}
		t.stopLoading()
		return &NavigationError{URL: what, Reason: fmt.Sprintf("%s did not finish loading within %s", what, t.c.cfg.NavigationTimeout)}
	}
	if err := t.outcome(what); err != nil {
		return err
	}
	t.waitSettled(ctx)
	return ctx.Err()
}

// outcome reports the main document's refusal or failure, if any.
func (t *chromiumTab) outcome(requested string) error {
	t.mu.Lock()
	d := t.doc
	t.mu.Unlock()
	target := d.url
	if target == "" {
		target = requested
	}
	if d.blocked != "" {
		return &NavigationError{URL: target, Blocked: true, Reason: "blocked: " + d.blocked}
	}
	if d.failed == "" || strings.Contains(d.failed, "ERR_ABORTED") {
		return nil
	}
	if u, err := url.Parse(target); err == nil {
		if reason, ok := t.sess.proxy.refusal(refusedHost(u.Scheme, u.Hostname(), u.Port())); ok {
			return &NavigationError{URL: target, Blocked: true, Reason: "blocked: " + reason}
		}
	}
	return &NavigationError{URL: target, Reason: fmt.Sprintf("could not load %s: %s", target, strings.TrimPrefix(d.failed, "net::"))}
}

func (t *chromiumTab) stopLoading() {
	ctx, cancel := context.WithTimeout(t.ctx, 2*time.Second)
	defer cancel()
	chromedp.Call(ctx, page.StopLoading, cdp.Empty{})
}

// settle follows up an action: when it started a navigation, wait for the
// new page like Navigate does; else for the page to settle (what the
// action set off: a fetch, a timer, a redraw).
func (t *chromiumTab) settle(ctx context.Context, starts uint64, what string) error {
	if t.waitSettledOrNav(ctx, &starts) {
		return t.finishLoad(ctx, what, starts)
	}
	return ctx.Err()
}

// beginNav is called before anything that may navigate: it forgets the
// last document and returns the count of navigations started so far.
func (t *chromiumTab) beginNav() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.doc = docState{}
	return t.starts
}

// element is what the page says about a numbered element before an action.
type element struct {
	Found bool    `json:"found"`
	Tag   string  `json:"tag"`
	X     float64 `json:"x"` // in the page's viewport, frames' offsets added
	Y     float64 `json:"y"`
	Hit   bool    `json:"hit"` // a mouse click at X,Y reaches it
	Text  string  `json:"text"`
	Now   int64   `json:"now"` // the browser's Date.now()

	frame frameRef // where the element is
}

// locate finds a numbered element, in whichever frame it is, scrolls it
// into view, and marks the start of an action (the settle wait's epoch).
func (t *chromiumTab) locate(ctx context.Context, id int, what string) (element, error) {
	missing := fmt.Errorf("there is no element [%d] on the page (observe the page again for current numbers)", id)
	f, ok := t.elementFrame(id)
	if !ok {
		return element{}, missing
	}
	el, err := evalIn[element](t, ctx, f, what, fmt.Sprintf(`window.__errandLocate && window.__errandLocate(%d) || {found:false}`, id))
	if err != nil {
		return el, err
	}
	if !el.Found {
		return el, missing
	}
	el.frame = f
	if !f.main {
		dx, dy, err := t.frameOffset(ctx, f)
		if err != nil {
			return el, fmt.Errorf("%w: %v", missing, err)
		}
		el.X, el.Y = el.X+dx, el.Y+dy
	}
	t.mu.Lock()
	t.epoch = el.Now
	t.mu.Unlock()
	return el, nil
}

// Click clicks element id with a real mouse event (scrolled into view
// first), or with a scripted click when something covers it.
func (t *chromiumTab) Click(ctx context.Context, id int) error {
	what := fmt.Sprintf("clicking [%d]", id)
	el, err := t.locate(ctx, id, what)
	if err != nil {
		return err
	}
	starts := t.beginNav()
	if el.Hit {
		err = t.mouseClick(ctx, what, el.X, el.Y)
	} else {
		_, err = evalIn[bool](t, ctx, el.frame, what, fmt.Sprintf(`window.__errandElement(%d).click(), true`, id))
	}
	if err != nil {
		return err
	}
	return t.settle(ctx, starts, what)
}

// mouseClick presses and releases the left button at x,y of the viewport;
// the browser sends it to whichever frame is there.
func (t *chromiumTab) mouseClick(ctx context.Context, what string, x, y float64) error {
	err := t.run(ctx, t.c.cfg.CallTimeout, what, func(ctx context.Context) error {
		for _, typ := range []input.DispatchMouseEventType{input.DispatchMouseEventTypeMouseMoved, input.DispatchMouseEventTypeMousePressed, input.DispatchMouseEventTypeMouseReleased} {
			p := input.DispatchMouseEventParams{Type: typ, X: x, Y: y}
			if typ != input.DispatchMouseEventTypeMouseMoved {
				p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
			}
			if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, p); err != nil {
				return err
			}
		}
		return nil
	})
	return t.hung(err)
}

// Type replaces the value of element id with text, typed as trusted input
// events (frameworks see them as a user's), then presses Enter if submit.
func (t *chromiumTab) Type(ctx context.Context, id int, text string, submit bool) error {
	what := fmt.Sprintf("typing into [%d]", id)
	el, err := t.locate(ctx, id, what)
	if err != nil {
		return err
	}
	if !el.frame.main && el.Hit {
		// A frame takes the keyboard once the user has clicked into it;
		// the field's focus() alone does not move it there.
		if err := t.mouseClick(ctx, what, el.X, el.Y); err != nil {
			return err
		}
	}
	if _, err := evalIn[bool](t, ctx, el.frame, what, fmt.Sprintf(`window.__errandClear(%d)`, id)); err != nil {
		return err
	}
	if text != "" {
		err := t.run(ctx, t.c.cfg.CallTimeout, what, func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
			return err
		})
		if err := t.hung(err); err != nil {
			return err
		}
		// Some inputs (date, number with a mask) ignore inserted text:
		// then set the value as a script would.
		if _, err := evalIn[bool](t, ctx, el.frame, what, fmt.Sprintf(`window.__errandEnsureValue(%d, %s)`, id, jsString(text))); err != nil {
			return err
		}
	}
	if !submit {
		// Typing may set off suggestions (a debounced fetch).
		t.waitSettled(ctx)
		return ctx.Err()
	}
	return t.press(ctx, kb.Enter, what+" and pressing Enter")
}

// Select picks an option of a <select> by value or visible text.
func (t *chromiumTab) Select(ctx context.Context, id int, value string) error {
	what := fmt.Sprintf("selecting %q in [%d]", value, id)
	el, err := t.locate(ctx, id, what)
	if err != nil {
		return err
	}
	starts := t.beginNav()
	if _, err := evalIn[string](t, ctx, el.frame, what, fmt.Sprintf(`window.__errandSelect(%d, %s)`, id, jsString(value))); err != nil {
		return err
	}
	// onchange handlers sometimes navigate (a sort order, a country).
	return t.settle(ctx, starts, what)
}

// keyNames maps the key names a model uses to the keys kb knows.
var keyNames = map[string]string{
	"enter": kb.Enter, "return": kb.Enter, "tab": kb.Tab, "escape": kb.Escape, "esc": kb.Escape,
	"backspace": kb.Backspace, "delete": kb.Delete, "space": " ",
	"arrowdown": kb.ArrowDown, "arrowup": kb.ArrowUp, "arrowleft": kb.ArrowLeft, "arrowright": kb.ArrowRight,
	"down": kb.ArrowDown, "up": kb.ArrowUp, "left": kb.ArrowLeft, "right": kb.ArrowRight,
	"pagedown": kb.PageDown, "pageup": kb.PageUp, "home": kb.Home, "end": kb.End,
}

// Press presses a key ("Enter", "Tab", "ArrowDown", "a") on the focused
// element.
func (t *chromiumTab) Press(ctx context.Context, key string) error {
	k, ok := keyNames[strings.ToLower(strings.TrimSpace(key))]
	if !ok {
		if r := []rune(key); len(r) == 1 {
			k = key
		} else {
			return fmt.Errorf("unknown key %q (use Enter, Tab, Escape, Backspace, Delete, ArrowDown, ArrowUp, ArrowLeft, ArrowRight, PageDown, PageUp, Home, End, Space or one character)", key)
		}
	}
	return t.press(ctx, k, "pressing "+key)
}

func (t *chromiumTab) press(ctx context.Context, keys, what string) error {
	starts := t.beginNav()
	err := t.run(ctx, t.c.cfg.CallTimeout, what, func(ctx context.Context) error {
		now, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`Date.now()`))
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.epoch = now
		t.mu.Unlock()
		return chromedp.Do(ctx, chromedp.KeyEvent(keys))
	})
	if err = t.hung(err); err != nil {
		return err
	}
	return t.settle(ctx, starts, what)
}

// Scroll scrolls the page (or, when the page itself does not scroll, its
// largest scrolling panel) by pages of the viewport's height.
func (t *chromiumTab) Scroll(ctx context.Context, direction string, pages float64) error {
	if pages <= 0 {
		pages = 1
	}
	switch strings.ToLower(direction) {
	case "down", "":
	case "up":
		pages = -pages
	default:
		return fmt.Errorf("scroll direction %q: use up or down", direction)
	}
	now, err := evalJS[int64](t, ctx, "scrolling", fmt.Sprintf(`window.__errandScroll ? window.__errandScroll(%g) : window.scrollBy(0, %g * innerHeight), Date.now()`, pages, pages))
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.epoch = now
	t.mu.Unlock()
	// Scrolling may load more (lazy images, an endless list).
	t.waitSettled(ctx)
	return ctx.Err()
}

// errNoHistory is Back on a page that has no previous one.
var errNoHistory = errors.New("there is no previous page to go back to")

// Back goes one page back in the history.
func (t *chromiumTab) Back(ctx context.Context) error {
	var hist page.GetNavigationHistoryResult
	err := t.run(ctx, t.c.cfg.CallTimeout, "going back", func(ctx context.Context) error {
		var err error
		hist, err = chromedp.Call(ctx, page.GetNavigationHistory, cdp.Empty{})
		return err
	})
	if err = t.hung(err); err != nil {
		return err
	}
	if hist.CurrentIndex <= 0 || int(hist.CurrentIndex) >= len(hist.Entries) {
		return errNoHistory
	}
	prev := hist.Entries[hist.CurrentIndex-1]
	starts := t.beginNav()
	err = t.run(ctx, t.c.cfg.CallTimeout, "going back", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: prev.ID})
		return err
	})
	if err = t.hung(err); err != nil {
		return err
	}
	// A history step taken from outside the page may not announce itself
	// in the page (settle.js): watch for it a moment.
	if t.waitFor(ctx, navStartWindow, func() bool { return t.starts > starts }) {
		return t.finishLoad(ctx, "going back to "+prev.URL, starts)
	}
	t.waitSettled(ctx)
	return ctx.Err()
}

// Wait lets the page work for d (animations, late content).
func (t *chromiumTab) Wait(ctx context.Context, d time.Duration) error {
	if err := t.usable(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.inst.lost():
		return &BrowserError{Reason: "the browser exited unexpectedly while waiting"}
	}
	return t.usable(ctx)
}

// status is the HTTP status of the main document, 0 when unknown.
func (t *chromiumTab) status() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int(t.doc.status)
}
