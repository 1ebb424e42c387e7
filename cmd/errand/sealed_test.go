package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/model/modeltest"
)

// A task's secrets wait in the store sealed, so the task can run after its
// node restarted (SQLite, key file in the data folder) or on another node
// (PostgreSQL, the same ERRAND_SECRETS_KEY on every node): the site still
// gets the real values, and the store never holds them in clear.
func TestSecretsSurviveRestartAndNodeChange(t *testing.T) {
	needChromium(t)
	const email, password = "grace@shop.example", "Sealed-Pa55-8c1f"
	key := map[string]string{"ERRAND_SECRETS_KEY": "q2Vb0mUe0V1x8yqgk8yq3h2bq1hQ3oQm5n3lX5C2mJk="}
	for _, tc := range []struct {
		name string
		// nodes returns the two nodes' data folders and extra arguments.
		nodes func(t *testing.T) (string, string, []string)
		env   map[string]string
	}{
		{"sqlite-restart", func(t *testing.T) (string, string, []string) {
			d := t.TempDir()
			return d, d, nil
		}, nil},
		{"postgres-other-node", func(t *testing.T) (string, string, []string) {
			return t.TempDir(), t.TempDir(), []string{"--database-url", pg.NewDatabase(t)}
		}, key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			posted := make(chan url.Values, 1)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `<html><head><title>Sign in</title></head><body><form method=post action=/login>
<label>Email <input name=email type=email></label><label>Password <input name=password type=password></label>
<button type=submit>Sign in</button></form></body></html>`)
			})
			mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				posted <- r.PostForm
				fmt.Fprint(w, `<html><head><title>Welcome</title></head><body><h1>Welcome back</h1></body></html>`)
			})
			site := httptest.NewServer(mux)
			defer site.Close()
			fake := modeltest.New(t,
				signIn(t, 0, 0),
				func(r modeltest.Request) modeltest.Reply {
					return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "signed in"}}}}
				},
			)
			data1, data2, extra := tc.nodes(t)
			args := append([]string{"--browser", "auto", "--model-url", fake.URL, "--model", "fake-model"}, extra...)

			first := startServerEnv(t, data1, tc.env, args...)
			_, s := first.call(t, "POST", "/start/start-session", map[string]any{})
			sid := s["sessionId"].(string)
			// Paused, the session keeps its new task queued.
			if code, m := first.call(t, "POST", "/start/send-message", map[string]any{"sessionId": sid,
				"message": map[string]any{"actionType": "state", "newState": "pause"}}); code != 200 {
				t.Fatalf("pause: %d %v", code, m)
			}
			code, m := first.call(t, "POST", "/start/send-message", map[string]any{"sessionId": sid, "message": map[string]any{
				"actionType": "newTask", "taskDetails": "Sign in.", "startingPoint": site.URL + "/login",
				"secrets": []map[string]any{{"match": "127.0.0.1", "fields": map[string]string{"email": email, "password": password}}},
			}})
			if code != 200 {
				t.Fatalf("newTask: %d %v", code, m)
			}
			tid := m["taskId"].(string)
			if _, p := first.call(t, "GET", "/task/"+sid+"/"+tid, nil); p["status"] != "queued" {
				t.Fatalf("the task in a paused session is %v, want queued", p["status"])
			}
			first.stop(t)
			// At rest, nothing holds the values in clear.
			if tc.env == nil {
				filepath.WalkDir(data1, func(path string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						b, _ := os.ReadFile(path)
						if strings.Contains(string(b), password) || strings.Contains(string(b), email) {
							t.Errorf("%s holds a secret in clear", path)
						}
					}
					return nil
				})
			}

			second := startServerEnv(t, data2, tc.env, args...)
			if code, m := second.call(t, "POST", "/start/send-message", map[string]any{"sessionId": sid,
				"message": map[string]any{"actionType": "state", "newState": "resume"}}); code != 200 {
				t.Fatalf("resume: %d %v", code, m)
			}
			p := second.waitTask(t, sid, tid)
			if p["type"] != "task_completed" {
				t.Fatalf("after the move: %v\n%s", p, second.logs.String())
			}
			select {
			case form := <-posted:
				if form.Get("email") != email || form.Get("password") != password {
					t.Errorf("the site got %v, want the task's secrets", form)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the site never got the form")
			}
			if strings.Contains(second.logs.String(), "cannot be used on this node") {
				t.Errorf("the secrets did not open:\n%s", second.logs.String())
			}
		})
	}
}

// A malformed ERRAND_SECRETS_KEY stops errand at start with an error that
// names the variable and never quotes the value.
func TestBadSecretsKeyRefused(t *testing.T) {
	const bad = "my-secret-passphrase-9f2"
	var out, errOut strings.Builder
	err := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--browser", "http"},
		func(k string) string {
			return map[string]string{"ERRAND_API_KEY": testKey, "ERRAND_SECRETS_KEY": bad}[k]
		}, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "ERRAND_SECRETS_KEY") {
		t.Fatalf("run = %v, want an error naming ERRAND_SECRETS_KEY", err)
	}
	if all := err.Error() + out.String() + errOut.String(); strings.Contains(all, bad) {
		t.Fatalf("the key leaked: %s", all)
	}
}
