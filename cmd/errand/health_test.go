package main

import (
	"strings"
	"testing"
)

// The health routes of a served node: /healthz and /readyz need no key;
// readiness covers the browser when one is configured.
func TestHealthRoutesServed(t *testing.T) {
	t.Run("plain HTTP", func(t *testing.T) {
		srv := startServer(t, "")
		for _, path := range []string{"/healthz", "/readyz", "/start/health"} {
			if code, m := srv.callKey(t, "", "GET", path, nil); code != 200 || m["success"] != true {
				t.Errorf("%s: %d %v", path, code, m)
			}
		}
		code, m := srv.callKey(t, "", "GET", "/readyz", nil)
		checks := m["checks"].(map[string]any)
		if code != 200 || checks["store"] != "ok" || checks["browser"] != nil {
			t.Errorf("readyz without a browser: %d %v", code, m)
		}
	})
	t.Run("Chromium", func(t *testing.T) {
		needChromium(t)
		srv := startServer(t, "", "--browser", "auto")
		code, m := srv.callKey(t, "", "GET", "/readyz", nil)
		if code != 200 || m["checks"].(map[string]any)["browser"] != "ok" {
			t.Errorf("readyz with Chromium: %d %v", code, m)
		}
	})
	t.Run("a browser that does not start", func(t *testing.T) {
		// An existing binary that is no browser: the server starts (the
		// browser is launched on first use) but is not ready.
		srv := startServer(t, "", "--browser", "/bin/true")
		code, m := srv.callKey(t, "", "GET", "/readyz", nil)
		browser, _ := m["checks"].(map[string]any)["browser"].(string)
		if code != 503 || m["code"] != "UNAVAILABLE" || !strings.Contains(browser, "did not start") {
			t.Errorf("readyz with a broken browser: %d %v", code, m)
		}
		if code, m := srv.callKey(t, "", "GET", "/healthz", nil); code != 200 {
			t.Errorf("healthz with a broken browser: %d %v", code, m)
		}
	})
}
