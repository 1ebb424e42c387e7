package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/errandhq/errand/internal/model/modeltest"
)

// A sign-in that asks for an authenticator code: the task's secret holds
// the TOTP seed, the model types {{otp}}, and the site checks the code it
// got with its own TOTP verification. Neither the seed nor the code reaches
// the model, the logs, the step log, the webhook or the API's answers.
func TestTOTPSignIn(t *testing.T) {
	needChromium(t)
	const (
		email, password = "ada@shop.example", "s3cret-Pa55-word"
		seed            = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU" // base32 of "TestSecretTestSecret"
	)
	var mu sync.Mutex
	var codes []string // the codes the site got, and whether they verified
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Sign in</title></head><body><h1>Sign in</h1>
<form method=post action=/login><label>Email <input name=email type=email></label>
<label>Password <input name=password type=password></label><button type=submit>Sign in</button></form></body></html>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("email") != email || r.PostForm.Get("password") != password {
			http.Error(w, "wrong password", http.StatusForbidden)
			return
		}
		http.Redirect(w, r, "/2fa", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /2fa", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Two-factor</title></head><body><h1>Enter the code from your authenticator app</h1>
<form method=post action=/2fa><label>Code <input name=code inputmode=numeric autocomplete=one-time-code></label><button type=submit>Verify</button></form></body></html>`)
	})
	mux.HandleFunc("POST /2fa", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		code := r.PostForm.Get("code")
		ok := totp.Validate(code, seed)
		mu.Lock()
		codes = append(codes, code)
		mu.Unlock()
		if !ok {
			fmt.Fprint(w, `<html><head><title>Two-factor</title></head><body><h1>Wrong code</h1></body></html>`)
			return
		}
		fmt.Fprint(w, `<html><head><title>Account</title></head><body><h1>Account</h1><p>Balance: 42.17 EUR</p></body></html>`)
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	fake := modeltest.New(t,
		signIn(t, 900, 40),
		func(r modeltest.Request) modeltest.Reply {
			obs := r.Body.Last()
			if !strings.Contains(obs, "authenticator") {
				t.Errorf("the second turn does not show the code page:\n%s", obs)
			}
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "type", Args: map[string]any{"id": elemID(t, obs, `<input type=text label="Code"`), "text": "{{otp}}", "submit": true}},
			}}
		},
		func(r modeltest.Request) modeltest.Reply {
			obs := r.Body.Last()
			answer := "not signed in"
			if i := strings.Index(obs, "Balance: "); i >= 0 {
				answer = strings.Fields(obs[i+len("Balance: "):])[0]
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": answer}}}}
		},
	)
	rc := newReceiver(t, nil)
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	uri := "otpauth://totp/Shop:ada?secret=" + seed + "&issuer=Shop"
	sid, tid := srv.runTask(t, map[string]any{
		"taskDetails": "Sign in and read the balance.", "startingPoint": site.URL + "/login",
		"secrets": []map[string]any{{"match": "127.0.0.1", "fields": map[string]string{"email": email, "password": password, "otp": uri}}},
		"webhook": map[string]any{"name": "m", "url": rc.URL, "submittedData": "full_response", "events": []string{"task_completed", "task_failed"}},
	})
	p := srv.waitTask(t, sid, tid)
	if p["type"] != "task_completed" || p["data"].(map[string]any)["message"] != "42.17" {
		t.Fatalf("poll = %v, want the balance read after the code was accepted (codes sent: %v)", p, codes)
	}
	mu.Lock()
	got := append([]string(nil), codes...)
	mu.Unlock()
	if len(got) != 1 || len(got[0]) != 6 {
		t.Fatalf("the site got codes %q, want one 6-digit code", got)
	}
	hook := rc.waitN(t, 1, 20*time.Second)[0]

	// The system prompt tells the model what {{otp}} is.
	reqs := fake.Requests()
	if !strings.Contains(reqs[0].Body.Text(), "{{otp}} type the one-time code") {
		t.Errorf("the model was not told {{otp}} is a one-time code:\n%s", reqs[0].Body.Text())
	}
	var everything strings.Builder
	for _, r := range reqs {
		everything.Write(r.Raw)
	}
	everything.WriteString(srv.logs.String())
	everything.Write(hook.Body)
	everything.WriteString(mustJSON(t, p))
	_, _, raw := srv.fetch(t, "/task/"+sid+"/"+tid+"/events")
	steps := string(raw)
	if !strings.Contains(steps, `"text":"{{otp}}"`) {
		t.Errorf("the step log does not show the placeholder typed:\n%s", steps)
	}
	everything.WriteString(steps)
	for _, secret := range []string{seed, "otpauth://", got[0], password} {
		if strings.Contains(everything.String(), secret) {
			t.Errorf("%q leaked to the model, logs, webhook or answers", secret)
		}
	}
}

// A TOTP secret that does not parse is refused at submission with a 400
// naming the field, without quoting the seed; nothing is queued.
func TestTOTPRefusedAtSubmission(t *testing.T) {
	needChromium(t)
	fake := modeltest.New(t)
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	cases := []struct{ name, value, pointer, why string }{
		{"not base32", "otpauth://totp/Shop:ada?secret=SEED-0189-XYZ&issuer=Shop", "/secrets/0/fields/otp", "not base32"},
		{"hotp", "otpauth://hotp/Shop:ada?secret=JBSWY3DPEHPK3PXP&counter=3", "/secrets/0/fields/otp", "hotp"},
		{"digits", "otpauth://totp/Shop:ada?secret=JBSWY3DPEHPK3PXP&digits=12", "/secrets/0/fields/otp", "digits"},
		{"short form", "totp:SEED-0189-XYZ", "/secrets/0/fields/otp", "not base32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/start/run-task", "/start/start-session"} {
				tk := map[string]any{"taskDetails": "Sign in", "startingPoint": "https://shop.example/login",
					"secrets": []map[string]any{{"match": "shop.example", "fields": map[string]string{"password": "pw", "otp": tc.value}}}}
				body, pointer := any(tk), tc.pointer
				if path == "/start/start-session" {
					body, pointer = map[string]any{"initialTask": tk}, "/initialTask"+tc.pointer
				}
				code, m := srv.call(t, "POST", path, body)
				if code != 400 || !strings.Contains(mustJSON(t, m), pointer) || !strings.Contains(mustJSON(t, m), tc.why) {
					t.Fatalf("%s: %d %v, want 400 naming %s (%s)", path, code, m, pointer, tc.why)
				}
				if strings.Contains(mustJSON(t, m), "SEED-0189") || strings.Contains(mustJSON(t, m), "JBSWY3DP") {
					t.Errorf("the answer quotes the seed: %v", m)
				}
				if _, ok := m["taskId"]; ok {
					t.Errorf("a task id came back: %v", m)
				}
			}
		})
	}
	if q := metric(t, srv, "errand_tasks_queued", ""); q != 0 {
		t.Errorf("%v tasks queued after refused submissions", q)
	}
	if n := metric(t, srv, "errand_tasks_started_total", ""); n != 0 {
		t.Errorf("%v tasks started after refused submissions", n)
	}
	if strings.Contains(srv.logs.String(), "SEED-0189") {
		t.Error("the seed was logged")
	}
}

// fetch GETs path with the test key and returns the answer as it came.
func (s *server) fetch(t *testing.T, path string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, body
}
