package httpapi

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store/sqlite"
)

// The three health routes, each answer checked against openapi.json:
// /healthz only says the process serves; /readyz says whether the node can
// take work and why not; /start/health is the hosted service's store check.
func TestHealthRoutes(t *testing.T) {
	browserErr := errors.New("the browser did not start: exec: no such file")
	var browser error
	var st *sqlite.Store
	l := newLiveAPIWith(t, func(d *Deps) {
		st = d.Store.(*sqlite.Store)
		d.ReadyTimeout = 500 * time.Millisecond
		d.Ready = []ReadyCheck{{Name: "browser", Check: func(ctx context.Context) error { return browser }}}
	})

	code, m := l.call(t, "GET", "/healthz", "/healthz", "", false)
	if code != 200 || m["status"] != "alive" {
		t.Errorf("healthz: %d %v", code, m)
	}
	code, m = l.call(t, "GET", "/readyz", "/readyz", "", false)
	if code != 200 || m["status"] != "ready" || m["checks"].(map[string]any)["browser"] != "ok" || m["checks"].(map[string]any)["store"] != "ok" {
		t.Errorf("readyz: %d %v", code, m)
	}

	browser = browserErr
	code, m = l.call(t, "GET", "/readyz", "/readyz", "", false)
	if code != 503 || m["checks"].(map[string]any)["browser"] != browserErr.Error() || m["checks"].(map[string]any)["store"] != "ok" ||
		m["error"] != "not ready: browser: "+browserErr.Error() {
		t.Errorf("readyz with the browser failing: %d %v", code, m)
	}
	browser = nil

	// A migration reverted behind the node's back (an old backup restored).
	db, err := sql.Open("sqlite", l.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = 2`); err != nil {
		t.Fatal(err)
	}
	code, m = l.call(t, "GET", "/readyz", "/readyz", "", false)
	if code != 503 || !strings.Contains(m["checks"].(map[string]any)["store"].(string), "unapplied migrations 002") {
		t.Errorf("readyz with a migration missing: %d %v", code, m)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (2, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, m = l.call(t, "GET", "/readyz", "/readyz", "", false); code != 200 {
		t.Errorf("readyz with the migration back: %d %v", code, m)
	}

	// A check that hangs is cut off at ReadyTimeout.
	hang := make(chan struct{})
	defer close(hang)
	l2 := newLiveAPIWith(t, func(d *Deps) {
		d.ReadyTimeout = 50 * time.Millisecond
		d.Ready = []ReadyCheck{{Name: "browser", Check: func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-hang:
				return nil
			}
		}}}
	})
	code, m = l2.call(t, "GET", "/readyz", "/readyz", "", false)
	if code != 503 || m["checks"].(map[string]any)["browser"] != "no answer within 50ms" {
		t.Errorf("readyz with a hanging check: %d %v", code, m)
	}

	// The store gone: not ready, unhealthy for the hosted service's route,
	// and still alive (a restart would not bring the store back).
	st.Close()
	code, m = l.call(t, "GET", "/readyz", "/readyz", "", false)
	if code != 503 || m["checks"].(map[string]any)["store"] != "the store does not answer" {
		t.Errorf("readyz without a store: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", "/start/health", "/start/health", "", false); code != 503 || m["status"] != "unhealthy" {
		t.Errorf("health without a store: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", "/healthz", "/healthz", "", false); code != 200 {
		t.Errorf("healthz without a store: %d %v", code, m)
	}
}
