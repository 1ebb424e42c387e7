package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/model/modeltest"
)

// ordersSite is a sign-in in front of a table of orders.
func ordersSite(t *testing.T, password string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Sign in</title></head><body><h1>Sign in</h1><form method=post action=/login>
<label>Email <input name=email type=email></label><label>Password <input name=password type=password></label>
<button type=submit>Sign in</button></form></body></html>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("password") != password {
			http.Redirect(w, r, "/login?error=1", http.StatusSeeOther)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "ok", Path: "/"})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Account</title></head><body><h1>Your account</h1><a href=/orders>Orders</a></body></html>`)
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err != nil || c.Value != "ok" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		fmt.Fprint(w, `<html><head><title>Orders</title></head><body><h1>Orders</h1><table><tbody>
<tr><td>A-1001</td><td>$12.50</td></tr><tr><td>A-1002</td><td>$7.00</td></tr></tbody></table></body></html>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Learned tasks through the whole server: a first run records the recipe,
// the second replays it without a model call and its full_response says
// so (replayed steps, model steps, what was saved); another API key can
// neither use, list nor delete it; /metrics counts the runs; and the
// password typed on both runs is nowhere in the data folder.
func TestRecipesThroughAPI(t *testing.T) {
	needChromium(t)
	const password = "Tr0ub4dor&3-orders"
	site := ordersSite(t, password)
	fake := modeltest.New(t,
		signIn(t, 0, 0),
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elemID(t, r.Body.Last(), `<a href=/orders>Orders`)}}}}
		},
		modeltest.ToolCall("done", map[string]any{"answer": `[{"order":"A-1001","total":12.5},{"order":"A-1002","total":7}]`}),
	)
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	srv.stop(t)
	var out, errOut syncBuffer
	if err := run(t.Context(), []string{"keys", "create", "--name", "other", "--data", srv.Data}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("keys create: %v %s", err, errOut.String())
	}
	otherKey := strings.TrimSpace(out.String())
	srv = startServer(t, srv.Data, "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")

	rc := newReceiver(t, nil)
	taskBody := func(extra map[string]any) map[string]any {
		b := map[string]any{
			"taskDetails": "Sign in and list my orders.", "startingPoint": site.URL + "/login", "recipe": "my-orders",
			"outputType": "structured_json", "outputSchema": map[string]any{"type": "array", "items": map[string]any{"type": "object",
				"properties": map[string]any{"order": map[string]any{"type": "string"}, "total": map[string]any{"type": "number"}}}},
			"secrets": []map[string]any{{"match": "127.0.0.1", "fields": map[string]string{"email": "ada@shop.example", "password": password}}},
			"webhook": map[string]any{"name": "w", "url": rc.URL, "submittedData": "full_response", "events": []string{"task_completed", "task_failed"}},
		}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	runTask := func(key string, body map[string]any) map[string]any {
		t.Helper()
		code, m := srv.callKey(t, key, "POST", "/start/run-task", body)
		if code != 200 {
			t.Fatalf("run-task: %d %v", code, m)
		}
		sid, tid := m["sessionId"].(string), m["taskId"].(string)
		deadline := time.Now().Add(40 * time.Second)
		for {
			_, p := srv.callKey(t, key, "GET", "/task/"+sid+"/"+tid, nil)
			if st, _ := p["status"].(string); st != "queued" && st != "running" {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("task did not end: %v", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// 1. The first run: the model does it (3 calls), it is recorded.
	p := runTask(testKey, taskBody(nil))
	if p["type"] != "task_completed" || len(fake.Requests()) != 3 {
		t.Fatalf("first run: %v after %d model calls", p, len(fake.Requests()))
	}
	first := rc.waitN(t, 1, 20*time.Second)[0].JSON(t)
	if u := first["usage"].(map[string]any); u["modelSteps"] != 3.0 || u["replayedSteps"] != 0.0 {
		t.Errorf("first run's usage: %v", u)
	}
	if r := first["replay"].(map[string]any); r["recipe"] != "my-orders" || r["mode"] != "recorded" || r["recorded"] != 1.0 {
		t.Errorf("first run's replay: %v", r)
	}

	// 2. Another key's task of the same recipe does not see it.
	p = runTask(otherKey, taskBody(map[string]any{"replay": "require", "webhook": nil}))
	if p["status"] != "failed" || p["code"] != "REPLAY_UNAVAILABLE" || p["error"] == nil || !strings.Contains(p["error"].(string), "none has been recorded") {
		t.Errorf("another key's required replay: %v", p)
	}

	// 3. The second run replays: no model call.
	p = runTask(testKey, taskBody(nil))
	if p["type"] != "task_completed" || len(fake.Requests()) != 3 {
		t.Fatalf("second run: %v (model calls now %d)", p, len(fake.Requests()))
	}
	second := rc.waitN(t, 2, 20*time.Second)[1].JSON(t)
	u := second["usage"].(map[string]any)
	if u["modelSteps"] != 0.0 || u["replayedSteps"] != 4.0 || u["inputTokens"] != 0.0 || u["savedInputTokens"].(float64) <= 0 || u["savedCost"].(float64) <= 0 {
		t.Errorf("second run's usage: %v", u)
	}
	if r := second["replay"].(map[string]any); r["mode"] != "replayed" || r["version"] != 1.0 || r["recorded"] != nil {
		t.Errorf("second run's replay: %v", r)
	}
	if msg := second["data"].(map[string]any)["message"]; msg != `[{"order":"A-1001","total":12.5},{"order":"A-1002","total":7}]` {
		t.Errorf("replayed answer: %v", msg)
	}

	// 4. Listing and deleting are per key.
	code, m := srv.call(t, "GET", "/recipes", nil)
	list, _ := m["recipes"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("GET /recipes: %d %v", code, m)
	}
	if r := list[0].(map[string]any); r["name"] != "my-orders" || r["uses"] != 1.0 || r["replayed"] != 1.0 || r["successRate"] != 1.0 || len(r["versions"].([]any)) != 1 || r["lastUsedAt"] == nil {
		t.Errorf("the recipe: %v", r)
	}
	if code, m = srv.callKey(t, otherKey, "GET", "/recipes", nil); code != 200 || len(m["recipes"].([]any)) != 0 {
		t.Errorf("another key lists %d %v", code, m)
	}
	if code, m = srv.callKey(t, otherKey, "DELETE", "/recipes/my-orders", nil); code != 404 {
		t.Errorf("another key deletes: %d %v", code, m)
	}

	// 5. The runs are counted (right after each run's end is stored).
	wantLines := []string{`errand_recipe_runs_total{mode="recorded"} 1`, `errand_recipe_runs_total{mode="replayed"} 1`,
		`errand_recipe_runs_total{mode="failed"} 1`, `errand_recipe_runs_total{mode="healed"} 0`}
	deadline := time.Now().Add(10 * time.Second)
	for {
		text := srv.metricsText(t)
		missing := ""
		for _, want := range wantLines {
			if !bytes.Contains(text, []byte(want)) {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/metrics lacks %s", missing)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	if code, m = srv.call(t, "DELETE", "/recipes/my-orders", nil); code != 200 {
		t.Errorf("delete: %d %v", code, m)
	}

	// 6. The password was typed twice and stored nowhere.
	srv.stop(t)
	err := filepath.Walk(srv.Data, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(password)) {
			t.Errorf("%s holds the password", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Bad recipe and replay fields are refused when the task is submitted.
func TestRecipeFieldsRefused(t *testing.T) {
	srv := startServer(t, "")
	for _, c := range []struct {
		field string
		value any
	}{
		{"recipe", "Daily Prices"},
		{"recipe", strings.Repeat("a", 101)},
		{"replay", "sometimes"},
	} {
		code, m := srv.call(t, "POST", "/start/run-task", map[string]any{"taskDetails": "x", "startingPoint": "http://127.0.0.1:1/", c.field: c.value})
		details, _ := m["details"].(map[string]any)
		if code != 400 || details["/"+c.field] == nil {
			t.Errorf("%s=%v: %d %v", c.field, c.value, code, m)
		}
	}
}
