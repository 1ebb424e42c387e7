package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image"
	"image/jpeg"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/task"
)

// fakeSite is an in-memory web for the loop's unit tests: pages by URL,
// with links, inputs and a submit handler. Real Chromium is exercised by
// the end-to-end tests; this double lets the loop's decisions be tested
// fast and exactly.
type fakeSite struct {
	mu      sync.Mutex
	pages   map[string]*fakePage
	blocked map[string]bool // host → refused
	tabs    map[string]*fakeTab
	// clickErr, when set, is what every click returns (a crashed browser).
	clickErr error
}

type fakePage struct {
	title string
	text  string
	elems []fakeElem
	// submit is called when a submit button is clicked or an input typed
	// into with submit; it returns the URL to go to.
	submit func(values map[string]string) string
}

type fakeElem struct {
	kind   string // "link", "input", "button"
	label  string
	href   string // link target (absolute)
	name   string // input name
	submit bool   // the button submits the form
}

func newFakeSite() *fakeSite {
	return &fakeSite{pages: map[string]*fakePage{}, blocked: map[string]bool{}, tabs: map[string]*fakeTab{}}
}

func (s *fakeSite) add(u string, p *fakePage) { s.pages[u] = p }

func (s *fakeSite) Tab(ctx context.Context, sessionID string, opts agent.PageOptions) (agent.Tab, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tabs[sessionID]
	if t == nil {
		t = &fakeTab{site: s, url: "about:blank", values: map[string]string{}}
		s.tabs[sessionID] = t
	}
	t.avoid = opts.AvoidDomains
	return t, nil
}

func (s *fakeSite) CloseSession(sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tabs, sessionID)
}

type fakeTab struct {
	site    *fakeSite
	url     string
	history []string
	values  map[string]string
	network []task.NetworkURL
	avoid   []string
	// typed logs every text the page received, as typed (real values).
	typed []string
	// shots logs every screenshot asked for, with the URL shown.
	shots []fakeShot
}

type fakeShot struct {
	url  string
	opts browser.ScreenshotOptions
}

// Screenshot answers a small real JPEG and logs what was asked.
func (t *fakeTab) Screenshot(ctx context.Context, opts browser.ScreenshotOptions) (browser.Screenshot, error) {
	t.shots = append(t.shots, fakeShot{t.url, opts})
	img := image.NewGray(image.Rect(0, 0, 16, 9))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: opts.Quality}); err != nil {
		return browser.Screenshot{}, err
	}
	return browser.Screenshot{JPEG: b.Bytes(), Width: 16, Height: 9}, nil
}

func (t *fakeTab) page() *fakePage {
	if p := t.site.pages[t.url]; p != nil {
		return p
	}
	return &fakePage{title: "Not found", text: "404: there is no page at " + t.url}
}

func (t *fakeTab) Navigate(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	for _, d := range t.avoid {
		if u.Hostname() == d || strings.HasSuffix(u.Hostname(), "."+d) {
			return &agent.NavigationError{URL: raw, Blocked: true, Reason: "navigation to " + u.Hostname() + " is blocked by avoidDomains"}
		}
	}
	if t.site.blocked[u.Hostname()] {
		return &agent.NavigationError{URL: raw, Blocked: true, Reason: "navigation to " + u.Hostname() + " is refused by the network policy"}
	}
	if t.url != "about:blank" {
		t.history = append(t.history, t.url)
	}
	t.url = raw
	t.values = map[string]string{}
	t.network = append(t.network, task.NetworkURL{URL: raw, Timestamp: time.Unix(1700000000, 0).UTC()})
	return nil
}

func (t *fakeTab) Observe(ctx context.Context, opts agent.ObserveOptions) (agent.Observation, error) {
	p := t.page()
	var b strings.Builder
	b.WriteString(p.text)
	for i, e := range p.elems {
		b.WriteString("\n")
		switch e.kind {
		case "link":
			fmt.Fprintf(&b, "[%d]<a href=%s>%s</a>", i+1, e.href, e.label)
		case "input":
			// The current value is shown, as a real observation does: after
			// typing a secret, the agent must mask it.
			fmt.Fprintf(&b, "[%d]<input name=%s value=%q> %s", i+1, e.name, t.values[e.name], e.label)
		case "button":
			fmt.Fprintf(&b, "[%d]<button>%s</button>", i+1, e.label)
		}
	}
	return agent.Observation{URL: t.url, Title: p.title, Text: b.String()}, nil
}

func (t *fakeTab) elem(id int) (fakeElem, error) {
	p := t.page()
	if id < 1 || id > len(p.elems) {
		return fakeElem{}, fmt.Errorf("there is no element %d on this page", id)
	}
	return p.elems[id-1], nil
}

func (t *fakeTab) Click(ctx context.Context, id int) error {
	if t.site.clickErr != nil {
		return t.site.clickErr
	}
	e, err := t.elem(id)
	if err != nil {
		return err
	}
	switch {
	case e.kind == "link":
		return t.Navigate(ctx, e.href)
	case e.kind == "button" && e.submit:
		return t.submit(ctx)
	}
	return nil
}

func (t *fakeTab) submit(ctx context.Context) error {
	p := t.page()
	if p.submit == nil {
		return nil
	}
	return t.Navigate(ctx, p.submit(t.values))
}

func (t *fakeTab) Type(ctx context.Context, id int, text string, submit bool) error {
	e, err := t.elem(id)
	if err != nil {
		return err
	}
	if e.kind != "input" {
		return fmt.Errorf("element %d is not an input", id)
	}
	t.values[e.name] = text
	t.typed = append(t.typed, text)
	if submit {
		return t.submit(ctx)
	}
	return nil
}

func (t *fakeTab) Select(ctx context.Context, id int, value string) error { return nil }
func (t *fakeTab) Downloads(ctx context.Context) []agent.Download         { return nil }
func (t *fakeTab) Press(ctx context.Context, key string) error {
	if key == "Enter" {
		return t.submit(ctx)
	}
	return nil
}
func (t *fakeTab) Scroll(ctx context.Context, direction string, pages float64) error { return nil }
func (t *fakeTab) Back(ctx context.Context) error {
	if len(t.history) == 0 {
		return fmt.Errorf("there is no previous page")
	}
	t.url = t.history[len(t.history)-1]
	t.history = t.history[:len(t.history)-1]
	return nil
}
func (t *fakeTab) Wait(ctx context.Context, d time.Duration) error { return nil }

func (t *fakeTab) Page(ctx context.Context) (string, []byte, error) {
	p := t.page()
	var b strings.Builder
	fmt.Fprintf(&b, "<html><head><title>%s</title></head><body><main><h1>%s</h1>", html.EscapeString(p.title), html.EscapeString(p.title))
	for _, para := range strings.Split(p.text, "\n") {
		fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(para))
	}
	b.WriteString("</main></body></html>")
	return t.url, []byte(b.String()), nil
}

func (t *fakeTab) URL() string { return t.url }

func (t *fakeTab) ElementURL(int) string { return t.url }

func (t *fakeTab) Events() []agent.PageEvent { return nil }

func (t *fakeTab) Network() []task.NetworkURL {
	n := t.network
	t.network = nil
	return n
}
