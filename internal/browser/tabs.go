package browser

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/task"
)

// PageEvent is something that happened to a Tab besides what an action did
// to its page: a page the action opened (a link with target=_blank,
// window.open) became the page, or the page closed and the one that
// opened it is back.
type PageEvent struct {
	Opened bool   // a new page opened; else the page closed
	URL    string // the page shown now
}

// String says what happened, as the model is told.
func (e PageEvent) String() string {
	if e.Opened {
		return "a new tab opened and is now the page: " + e.URL + " (the page before it is kept: back closes this tab and returns to it)"
	}
	return "the tab closed; back on the page that opened it: " + e.URL
}

// sessionTab is a session's Tab: the session's page, and the pages opened
// from it stacked over it, each opened by the one below. Everything acts
// on the top page; a page an action opens becomes the top, and when the
// top page closes the one below is the page again.
type sessionTab struct {
	c    *Chromium
	inst *instance
	sess *session

	mu      sync.Mutex
	pages   []*chromiumTab
	opening map[target.ID]*opening // pages opened from the tab's, being attached to
	opts    PageOptions
	events  []PageEvent
	network []task.NetworkURL // of pages closed since the last Network
	closed  bool
}

// opening is a page being attached to as soon as it was opened.
type opening struct {
	done chan struct{}
	page *chromiumTab // when done, nil if it could not be attached to
}

// newSessionTab makes a session's Tab of its first page.
func newSessionTab(c *Chromium, inst *instance, sess *session, first *chromiumTab) *sessionTab {
	s := &sessionTab{c: c, inst: inst, sess: sess, opening: map[target.ID]*opening{}}
	s.push(first)
	return s
}

// push puts a page on top; the pages it opens are attached to at once.
// s.mu is held, or s is not shared yet.
func (s *sessionTab) push(p *chromiumTab) {
	p.mu.Lock()
	p.onOpened = s.attach
	p.mu.Unlock()
	s.pages = append(s.pages, p)
}

// attach starts attaching to a page opened from one of the tab's, called
// from that page's event goroutine: the sooner the settle tracker is in
// it, the less of its start it misses.
func (s *sessionTab) attach(id target.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.opening[id] != nil {
		return
	}
	o := &opening{done: make(chan struct{})}
	s.opening[id] = o
	go func() {
		defer close(o.done)
		ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.CallTimeout)
		defer cancel()
		if err := s.c.earlyTracker(ctx, s.inst, id); err != nil {
			s.c.log.Debug("browser: installing the settle tracker in a new page", "err", err)
		}
		for range 3 {
			// A page can be attached to once its first document has a
			// context.
			p, err := s.c.newTab(ctx, s.inst, s.sess, id)
			if err == nil {
				s.mu.Lock()
				closed := s.closed
				o.page = p
				s.mu.Unlock()
				if closed {
					p.close()
				}
				return
			}
			s.c.log.Debug("browser: attaching to a new page", "err", err)
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

func (s *sessionTab) setOptions(opts PageOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = opts
	for _, p := range s.pages {
		p.setOptions(opts)
	}
}

func (s *sessionTab) isBroken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pages[0].isBroken()
}

func (s *sessionTab) close() {
	s.mu.Lock()
	s.closed = true
	pages := s.pages
	for _, o := range s.opening {
		select {
		case <-o.done:
			if o.page != nil {
				pages = append(pages, o.page)
			}
		default: // closed by attach when it ends
		}
	}
	s.mu.Unlock()
	for _, p := range pages {
		p.close()
	}
}

// top returns the page actions go to, dropping the pages that closed.
func (s *sessionTab) top() *chromiumTab {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topLocked()
}

func (s *sessionTab) topLocked() *chromiumTab {
	for len(s.pages) > 1 {
		p := s.pages[len(s.pages)-1]
		if !p.closed.Load() && !p.isBroken() {
			break
		}
		s.pages = s.pages[:len(s.pages)-1]
		s.network = append(s.network, p.Network()...)
		p.close()
		s.events = append(s.events, PageEvent{URL: s.pages[len(s.pages)-1].URL()})
	}
	return s.pages[len(s.pages)-1]
}

// act runs an action on the top page, then follows what it did to the
// stack: a page it opened becomes the top one (once loaded and settled);
// the top page closing (a popup that closes itself once done) is not an
// error, and the page below is the page again once settled.
func (s *sessionTab) act(ctx context.Context, f func(t *chromiumTab) error) error {
	t := s.top()
	err := f(t)
	if t.closed.Load() && s.opener(t) != nil {
		s.top()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.top().waitSettled(ctx)
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	return s.follow(ctx, t)
}

// opener is the page below t, nil for the session's own page.
func (s *sessionTab) opener(t *chromiumTab) *chromiumTab {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.pages {
		if p == t && i > 0 {
			return s.pages[i-1]
		}
	}
	return nil
}

// follow makes the latest page that t opened the top one, once loaded and
// settled. A page that could not be attached to (it closed at once, a
// download) is left alone.
func (s *sessionTab) follow(ctx context.Context, t *chromiumTab) error {
	t.mu.Lock()
	opened := t.opened
	t.opened = nil
	t.mu.Unlock()
	if len(opened) == 0 {
		return nil
	}
	s.mu.Lock()
	var o *opening
	for _, id := range opened {
		if x := s.opening[id]; x != nil {
			o = x
		}
		delete(s.opening, id)
	}
	s.mu.Unlock()
	if o == nil {
		return nil
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	p := o.page
	if p == nil {
		return nil
	}
	s.mu.Lock()
	p.setOptions(s.opts)
	s.push(p)
	s.mu.Unlock()
	p.waitFirstLoad(ctx)
	p.waitSettled(ctx)
	u := p.URL()
	p.mu.Lock()
	if !slices.ContainsFunc(p.network, func(n task.NetworkURL) bool { return n.URL == u }) {
		// Requested before the page was attached to.
		p.record(u, time.Now())
	}
	p.mu.Unlock()
	s.mu.Lock()
	s.events = append(s.events, PageEvent{Opened: true, URL: u})
	s.mu.Unlock()
	return ctx.Err()
}

// waitFirstLoad waits for a page attached while it was opening to have
// loaded its first document (a page left blank on purpose is ready once
// its about:blank has loaded and a second has passed without another).
func (t *chromiumTab) waitFirstLoad(ctx context.Context) {
	type state struct {
		Href  string `json:"href"`
		Ready string `json:"ready"`
	}
	began := time.Now()
	for time.Since(began) < t.c.cfg.NavigationTimeout {
		st, err := evalJS[state](t, ctx, "waiting for the new page", `({href: location.href, ready: document.readyState})`)
		if err == nil && st.Ready == "complete" && (st.Href != "about:blank" || time.Since(began) > time.Second) {
			t.mu.Lock()
			if t.url == "" || t.url == "about:blank" {
				t.url = st.Href
			}
			t.mu.Unlock()
			return
		}
		if ctx.Err() != nil || t.usable(ctx) != nil {
			return
		}
		timer := time.NewTimer(50 * time.Millisecond)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

func (s *sessionTab) Navigate(ctx context.Context, url string) error {
	return s.act(ctx, func(t *chromiumTab) error { return t.Navigate(ctx, url) })
}

func (s *sessionTab) Observe(ctx context.Context, opts ObserveOptions) (Observation, error) {
	return s.top().Observe(ctx, opts)
}

func (s *sessionTab) Click(ctx context.Context, id int) error {
	return s.act(ctx, func(t *chromiumTab) error { return t.Click(ctx, id) })
}

func (s *sessionTab) Type(ctx context.Context, id int, text string, submit bool) error {
	return s.act(ctx, func(t *chromiumTab) error { return t.Type(ctx, id, text, submit) })
}

func (s *sessionTab) Select(ctx context.Context, id int, value string) error {
	return s.act(ctx, func(t *chromiumTab) error { return t.Select(ctx, id, value) })
}

func (s *sessionTab) Press(ctx context.Context, key string) error {
	return s.act(ctx, func(t *chromiumTab) error { return t.Press(ctx, key) })
}

func (s *sessionTab) Scroll(ctx context.Context, direction string, pages float64) error {
	return s.act(ctx, func(t *chromiumTab) error { return t.Scroll(ctx, direction, pages) })
}

// Back goes one page back in the top page's history; on a page opened
// from another with nothing to go back to, it closes that page and
// returns to the one that opened it.
func (s *sessionTab) Back(ctx context.Context) error {
	return s.act(ctx, func(t *chromiumTab) error {
		err := t.Back(ctx)
		if !errors.Is(err, errNoHistory) || s.opener(t) == nil {
			return err
		}
		err = t.run(ctx, t.c.cfg.CallTimeout, "closing the tab", func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, page.Close, cdp.Empty{})
			return err
		})
		if err != nil && !t.closed.Load() {
			return err
		}
		t.closed.Store(true)
		return nil
	})
}

func (s *sessionTab) Wait(ctx context.Context, d time.Duration) error {
	return s.top().Wait(ctx, d)
}

func (s *sessionTab) Page(ctx context.Context) (string, []byte, error) {
	return s.top().Page(ctx)
}

func (s *sessionTab) Screenshot(ctx context.Context, opts ScreenshotOptions) (Screenshot, error) {
	return s.top().Screenshot(ctx, opts)
}

func (s *sessionTab) URL() string { return s.top().URL() }

func (s *sessionTab) ElementURL(id int) string { return s.top().ElementURL(id) }

// Network lists the URLs every page of the tab loaded since the last call.
func (s *sessionTab) Network() []task.NetworkURL {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.network
	s.network = nil
	for _, p := range s.pages {
		out = append(out, p.Network()...)
	}
	return out
}

// Events lists what happened to the tab's pages since the last call.
func (s *sessionTab) Events() []PageEvent {
	s.top()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.events
	s.events = nil
	return out
}

func (s *sessionTab) Describe(ctx context.Context, id int) (recipe.Element, error) {
	return s.top().Describe(ctx, id)
}

func (s *sessionTab) Candidates(ctx context.Context) ([]recipe.Candidate, error) {
	return s.top().Candidates(ctx)
}

func (s *sessionTab) State(ctx context.Context, texts bool) (recipe.PageState, error) {
	return s.top().State(ctx, texts)
}

func (s *sessionTab) Quiet(ctx context.Context) bool { return s.top().Quiet(ctx) }

// The tab agents get is a session's; without the Inspector methods it
// would silently record and replay nothing.
var _ Inspector = (*sessionTab)(nil)
