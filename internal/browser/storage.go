package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// StorageState is a session's browser storage: its cookies and the local
// storage of the origins it visited. A monitor saves it after each run and
// restores it before the next, so a login survives the run's browser
// context (closed after each run), a restart, and a move to another node.
// The JSON form is what ExportStorage gives and ImportStorage takes.
type StorageState struct {
	Cookies []*network.CookieParam `json:"cookies,omitempty"`
	// LocalStorage maps an origin (https://example.com) to its items.
	LocalStorage map[string]map[string]string `json:"localStorage,omitempty"`
}

// sessionOf finds a session's browser context, if the browser has one.
func (c *Chromium) sessionOf(sessionID string) (*instance, *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil {
		return nil, nil
	}
	return c.inst, c.inst.sessions[sessionID]
}

// ImportStorage restores state (ExportStorage's JSON) into the session's
// browser context, creating the context: its cookies at once, and each
// origin's local storage when a page of that origin first loads in the
// session's tab (before the page's own scripts run; keys the page has
// already set are left alone).
func (c *Chromium) ImportStorage(ctx context.Context, sessionID string, state []byte) error {
	var st StorageState
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("browser: storage state: %w", err)
	}
	tab, err := c.Tab(ctx, sessionID, PageOptions{})
	if err != nil {
		return err
	}
	t := tab.(*sessionTab).top()
	if len(st.Cookies) > 0 {
		err := within(ctx, c.cfg.CallTimeout, func() error {
			_, err := cdp.Call(t.inst.ctx, t.inst.browser, storage.SetCookies,
				storage.SetCookiesParams{Cookies: st.Cookies, BrowserContextID: t.sess.context})
			return err
		})
		if err != nil {
			return fmt.Errorf("browser: restoring cookies: %w", err)
		}
	}
	if len(st.LocalStorage) == 0 {
		return nil
	}
	script, err := restoreScript(st.LocalStorage)
	if err != nil {
		return err
	}
	return t.run(ctx, c.cfg.CallTimeout, "restoring local storage", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	})
}

// restoreScript sets each origin's stored items when a document of that
// origin starts, once per origin and tab (a sessionStorage mark), without
// overwriting what the page set itself.
func restoreScript(items map[string]map[string]string) (string, error) {
	data, err := json.Marshal(items)
	if err != nil {
		return "", err
	}
	return `(() => {
  const all = ` + string(data) + `;
  try {
    const items = all[location.origin];
    if (!items || sessionStorage.getItem("__errand_storage_restored") !== null) return;
    for (const [k, v] of Object.entries(items)) {
      if (localStorage.getItem(k) === null) localStorage.setItem(k, v);
    }
    sessionStorage.setItem("__errand_storage_restored", "1");
  } catch (e) {}
})();`, nil
}

// ExportStorage returns the session's browser storage as JSON (see
// StorageState): all the context's cookies, and the local storage of the
// origin of the page on top (the one the run ended on) merged over previous (ExportStorage's JSON from an earlier
// run; origins this run did not show keep their stored items). previous is
// returned as it is when the session has no browser context here.
func (c *Chromium) ExportStorage(ctx context.Context, sessionID string, previous []byte) ([]byte, error) {
	inst, s := c.sessionOf(sessionID)
	if s == nil || !inst.alive() {
		return previous, nil
	}
	var st StorageState
	if len(previous) > 0 {
		if err := json.Unmarshal(previous, &st); err != nil {
			st = StorageState{}
		}
	}
	var got storage.GetCookiesResult
	err := within(ctx, c.cfg.CallTimeout, func() error {
		var err error
		got, err = cdp.Call(inst.ctx, inst.browser, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: s.context})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("browser: reading cookies: %w", err)
	}
	st.Cookies = st.Cookies[:0]
	for _, ck := range got.Cookies {
		st.Cookies = append(st.Cookies, cookieParam(ck))
	}
	var t *chromiumTab
	if s.tab != nil && !s.tab.isBroken() {
		t = s.tab.top()
	}
	if t != nil && (strings.HasPrefix(t.URL(), "http://") || strings.HasPrefix(t.URL(), "https://")) {
		type local struct {
			Origin string            `json:"origin"`
			Items  map[string]string `json:"items"`
		}
		l, err := evalJS[local](t, ctx, "reading local storage", `(() => {
  const items = {};
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      items[k] = localStorage.getItem(k);
    }
  } catch (e) {}
  return {origin: location.origin, items};
})()`)
		if err != nil {
			return nil, err
		}
		if l.Origin != "" && l.Origin != "null" {
			if st.LocalStorage == nil {
				st.LocalStorage = map[string]map[string]string{}
			}
			if len(l.Items) == 0 {
				delete(st.LocalStorage, l.Origin)
			} else {
				st.LocalStorage[l.Origin] = l.Items
			}
		}
	}
	if len(st.Cookies) == 0 && len(st.LocalStorage) == 0 {
		return nil, nil
	}
	return json.Marshal(st)
}

// cookieParam is the cookie as Storage.setCookies takes it back.
func cookieParam(ck *network.Cookie) *network.CookieParam {
	p := &network.CookieParam{
		Name: ck.Name, Value: ck.Value, Domain: ck.Domain, Path: ck.Path,
		Secure: ck.Secure, HTTPOnly: ck.HTTPOnly, SameSite: ck.SameSite, Priority: ck.Priority,
		SourceScheme: ck.SourceScheme, SourcePort: ck.SourcePort, PartitionKey: ck.PartitionKey,
	}
	if !ck.Session && ck.Expires > 0 && !math.IsInf(ck.Expires, 0) {
		p.Expires = cdp.TimeSinceEpoch(ck.Expires)
	}
	return p
}
