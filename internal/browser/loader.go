package browser

import (
	"context"
	"crypto/rand"

	"github.com/errandhq/errand/internal/task"
)

// ChromiumLoader loads pages in Chromium for the built-in extractor, so
// that pages rendered by JavaScript work without a model. Each Fetch runs
// in a throwaway browser context: no cookies in, none kept.
type ChromiumLoader struct {
	Browser *Chromium
	// Screenshot, when set, is called with the tab once the page has
	// loaded, before it closes; its answer is the page's Screenshot (the
	// task's trace). Default: none taken.
	Screenshot func(ctx context.Context, tab Tab) *task.Screenshot
}

// Fetch loads rawURL in Chromium and returns the rendered DOM. A page that
// is refused or does not load is a *NavigationError, as with Fetcher; a
// crashed browser is a *BrowserError.
func (l ChromiumLoader) Fetch(ctx context.Context, rawURL string, opts PageOptions) (Page, error) {
	id := "fetch-" + rand.Text()
	defer l.Browser.CloseSession(id)
	tab, err := l.Browser.Tab(ctx, id, opts)
	if err != nil {
		return Page{}, err
	}
	ct := tab.(*sessionTab).top()
	err = tab.Navigate(ctx, rawURL)
	page := Page{URL: tab.URL(), Status: ct.status()}
	page.Visited = tab.Network()
	if err != nil {
		return page, err
	}
	u, html, err := tab.Page(ctx)
	page.Visited = append(page.Visited, tab.Network()...)
	if err != nil {
		return page, err
	}
	page.URL, page.HTML = u, html
	if l.Screenshot != nil {
		page.Screenshot = l.Screenshot(ctx, tab)
	}
	if page.Status == 0 {
		// Served from cache or by a service worker: the page loaded.
		page.Status = 200
	}
	return page, nil
}
