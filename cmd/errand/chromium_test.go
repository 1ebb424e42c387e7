package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// With Chromium available (--browser auto), the built-in extractor answers
// from the rendered page: content that only JavaScript writes is found.
func TestBuiltinExtractorOnJavaScriptPage(t *testing.T) {
	needChromium(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><title>Loading…</title></head><body><main id="app">Loading…</main>
<script>
setTimeout(function () {
  document.title = "Rocket Skates";
  document.getElementById("app").innerHTML =
    '<h1>Rocket Skates</h1><p class="price">$149.00</p><p>Fast. Very fast.</p>';
  var ld = document.createElement("script");
  ld.type = "application/ld+json";
  ld.text = JSON.stringify({"@type": "Product", "name": "Rocket Skates",
    "offers": {"price": "149.00", "availability": "https://schema.org/InStock"}});
  document.head.appendChild(ld);
}, 50);
</script></body></html>`)
	}))
	defer site.Close()
	rc := newReceiver(t, nil)
	srv := startServer(t, "", "--browser", "auto")
	srv.runTask(t, map[string]any{
		"taskDetails": "Extract the product", "startingPoint": site.URL + "/",
		"outputType": "structured_json",
		"outputSchema": map[string]any{"type": "object", "required": []string{"title", "price"},
			"properties": map[string]any{"title": map[string]any{"type": "string"}, "price": map[string]any{"type": "number"}, "inStock": map[string]any{"type": "boolean"}}},
		"webhook": map[string]any{"name": "js", "url": rc.URL, "submittedData": "ai_response", "events": []string{"task_completed", "task_failed"}},
	})
	d := rc.waitN(t, 1, 60*time.Second)[0]
	want := map[string]any{"title": "Rocket Skates", "price": 149.0, "inStock": true}
	if got := d.JSON(t); mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("ai_response from a JavaScript page = %s", d.Body)
	}
	if !strings.Contains(srv.logs.String(), "pages are loaded in Chromium") {
		t.Errorf("--browser auto did not pick Chromium")
	}
}
