package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/seal"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps is what the dashboard needs.
type Deps struct {
	// Engine is where tasks are read and redelivered. Required.
	Engine *engine.Engine
	// Keys resolves the pasted API key to its tenant, the API's way (share
	// the API's). Required.
	Keys *httpapi.Keys
	// API serves the task event stream a running task's page follows
	// (the API's handler). Required.
	API http.Handler
	// Monitors, when set, gives the monitors pages (the same Runner the
	// API's /monitors routes call). Default: none, no monitors pages.
	Monitors *runner.Runner
	// Box seals the login cookie. Every node that serves the dashboard
	// needs the same key (errand uses the secrets key). Default: a random
	// key, so logins last as long as this process.
	Box *seal.Box
	// SessionTTL is how long a login lasts. Default 12h.
	SessionTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger reports failures. Default: discard.
	Logger *slog.Logger
}

type ui struct {
	eng   *engine.Engine
	keys  *httpapi.Keys
	api   http.Handler
	mons  *runner.Runner
	box   *seal.Box
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger
	pages map[string]*template.Template
}

// contentSecurityPolicy allows this server's own scripts, styles and
// images, nothing inline, nothing from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// New returns the dashboard's handler, for the paths under /ui/.
func New(d Deps) (http.Handler, error) {
	if d.Engine == nil || d.Keys == nil || d.API == nil {
		return nil, errors.New("ui: Engine, Keys and API are required")
	}
	u := &ui{eng: d.Engine, keys: d.Keys, api: d.API, mons: d.Monitors, box: d.Box, ttl: d.SessionTTL, now: d.Now, log: d.Logger}
	if u.box == nil {
		u.box = seal.NewRandom()
	}
	if u.ttl <= 0 {
		u.ttl = 12 * time.Hour
	}
	if u.now == nil {
		u.now = time.Now
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	u.pages = pages

	mux := http.NewServeMux()
	u.routes(mux)
	cop := http.NewCrossOriginProtection()
	return securityHeaders(cop.Handler(mux)), nil
}

// parsePages parses each page template with the layout and the parts.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("ui: templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/page-*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{"parts": base}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", n, err)
		}
		pages[n[len("templates/page-"):len(n)-len(".html")]] = t
	}
	return pages, nil
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// render writes a page (layout and content) or a part, buffered so that a
// template error becomes a clean 500.
func (u *ui) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t := u.pages[name]
	tmpl := "layout"
	if t == nil {
		t, tmpl = u.pages["parts"], name
	}
	p.Monitors = u.mons != nil
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, tmpl, p); err != nil {
		u.log.ErrorContext(r.Context(), "ui: rendering failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
