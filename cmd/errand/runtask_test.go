package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestErrandRun(t *testing.T) {
	site := newSite(t)
	rc := newReceiver(t, nil)
	env := func(string) string { return "" }
	base := []string{"run", "--browser", "http", "--allow-networks", "127.0.0.0/8"}

	t.Run("completes", func(t *testing.T) {
		var out, errOut syncBuffer
		err := run(t.Context(), append(base, "--url", site.URL+"/news", "--webhook", rc.URL+"/run", "Read the headline"), env, strings.NewReader(""), &out, &errOut)
		if err != nil {
			t.Fatalf("errand run: %v\n%s", err, errOut.String())
		}
		printed := out.String()
		if !strings.Contains(printed, "step 1  navigate") || !strings.Contains(printed, "step 2  extract") {
			t.Errorf("steps not printed:\n%s", printed)
		}
		i := strings.Index(printed, "{")
		var answer map[string]any
		if err := json.Unmarshal([]byte(printed[i:]), &answer); err != nil {
			t.Fatalf("result is not the API's JSON: %v\n%s", err, printed)
		}
		if answer["type"] != "task_completed" || !strings.Contains(answer["data"].(map[string]any)["message"].(string), "Errand ships") {
			t.Errorf("result = %v", answer)
		}
		if d := rc.deliveries(); len(d) != 1 || d[0].JSON(t)["type"] != "task_completed" {
			t.Errorf("--webhook got %d deliveries", len(d))
		}
	})
	t.Run("fails with its code", func(t *testing.T) {
		schema := filepath.Join(t.TempDir(), "cols.json")
		os.WriteFile(schema, []byte(`["sku","price"]`), 0o600)
		var out, errOut syncBuffer
		err := run(t.Context(), append(base, "--url", site.URL+"/missing", "--output-type", "structured_csv", "--schema", schema, "List the products"), env, strings.NewReader(""), &out, &errOut)
		if code, ok := err.(exitCode); !ok || code != 1 {
			t.Fatalf("exit = %v, want status 1", err)
		}
		if !strings.Contains(errOut.String(), "OUTPUT_INVALID") || !strings.Contains(out.String(), `"code": "OUTPUT_INVALID"`) {
			t.Errorf("failure not reported with its code:\n%s\n%s", out.String(), errOut.String())
		}
	})
	t.Run("what the extractor cannot run is refused", func(t *testing.T) {
		var out, errOut syncBuffer
		err := run(t.Context(), append(base, "Find the contact page"), env, strings.NewReader(""), &out, &errOut)
		if code, ok := err.(exitCode); !ok || code != 2 || !strings.Contains(errOut.String(), "--url: is required: the built-in extractor") {
			t.Errorf("exit %v, stderr %q", err, errOut.String())
		}
	})
	t.Run("bad flags name the flag", func(t *testing.T) {
		var out, errOut syncBuffer
		err := run(t.Context(), append(base, "--url", "not a url", "x"), env, strings.NewReader(""), &out, &errOut)
		if code, ok := err.(exitCode); !ok || code != 2 || !strings.Contains(errOut.String(), "--url: must be an absolute http or https URL") {
			t.Errorf("exit %v, stderr %q", err, errOut.String())
		}
	})
}
