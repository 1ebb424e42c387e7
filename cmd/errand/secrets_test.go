package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Secrets (the API key, webhook auth, signing secrets, credentials in URLs)
// never appear in anything errand logs or answers, even when a receiver
// echoes the request back or a request is refused.
func TestSecretsNeverLeak(t *testing.T) {
	site := newSite(t)
	const (
		auth    = "Bearer leak-auth-7f3a9c"
		secret  = "whsec_bGVhay1zZWNyZXQtNzE5YmMtcGFkZGluZy1wYWQ="
		badSec  = "whsec_leak-bad-secret-55d1"
		urlPass = "leak-urlpass-91e2"
	)
	markers := []string{testKey, "leak-auth-7f3a9c", "bGVhay1zZWNyZXQtNzE5YmMtcGFkZGluZy1wYWQ", "leak-bad-secret-55d1", urlPass,
		// The Basic header net/http makes from the URL's userinfo, as an echo shows it.
		base64.StdEncoding.EncodeToString([]byte("user:" + urlPass))}

	// Receivers that echo everything they got, fail with it, or hang.
	echo := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(r.Header)
		w.WriteHeader(500)
		w.Write(b)
	})
	ok := newReceiver(t, nil)
	srv := startServer(t, "", "--webhook-timeout", "1s")
	var answers []string
	call := func(method, path string, body any) map[string]any {
		code, m := srv.call(t, method, path, body)
		b, _ := json.Marshal(m)
		answers = append(answers, string(b))
		_ = code
		return m
	}
	hook := func(url string) map[string]any {
		return map[string]any{"name": "s", "url": url, "auth": auth, "secret": secret, "submittedData": "full_response",
			"events": []string{"task_completed", "task_failed"}, "maxAttempts": 2}
	}
	var tasks [][2]string
	// An echo of a request whose URL carries the password: it comes back
	// as a Basic header.
	first := call("POST", "/start/run-task", map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news", "webhook": map[string]any{
		"name": "s", "url": strings.Replace(echo.URL, "http://", "http://user:"+urlPass+"@", 1) + "/echo-userinfo", "submittedData": "just_ping"}})
	tasks = append(tasks, [2]string{first["sessionId"].(string), first["taskId"].(string)})
	for _, url := range []string{
		echo.URL + "/echo",
		ok.URL + "/ok",
		strings.Replace(ok.URL, "http://", "http://user:"+urlPass+"@", 1) + "/userinfo",
		"http://127.0.0.1:1/refused",
	} {
		m := call("POST", "/start/run-task", map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news", "webhook": hook(url)})
		tasks = append(tasks, [2]string{m["sessionId"].(string), m["taskId"].(string)})
	}
	// Refused requests that carry secrets.
	call("POST", "/start/run-task", map[string]any{"taskDetails": "x", "webhook": map[string]any{"name": "s", "url": "https://10.1.2.3/x", "auth": auth, "secret": badSec, "submittedData": "just_ping"}})
	call("POST", "/start/run-task", map[string]any{"taskDetails": "x", "webhook": map[string]any{"name": "s", "url": "https://user:" + urlPass + "@10.0.0.1/", "auth": auth + "\n", "submittedData": "just_ping"}})
	call("POST", "/start/run-task", map[string]any{"taskDetails": "x", "webhook": map[string]any{"name": "s", "url": "ftp://user:" + urlPass + "@example.com/", "submittedData": "just_ping"}})
	code, m := srv.callKey(t, testKey+"x", "GET", "/task/a/b", nil)
	b, _ := json.Marshal(m)
	answers = append(answers, string(b))
	_ = code

	for _, tk := range tasks {
		srv.waitTask(t, tk[0], tk[1])
	}
	// Let every attempt (and the retries) happen.
	time.Sleep(2500 * time.Millisecond)
	for _, tk := range tasks {
		call("GET", "/task/"+tk[0]+"/"+tk[1], nil)
		d := call("GET", "/task/"+tk[0]+"/"+tk[1]+"/deliveries", nil)
		if list, _ := d["deliveries"].([]any); len(list) == 0 {
			t.Errorf("task %s has no recorded attempt", tk[1])
		}
		call("POST", "/task/"+tk[0]+"/"+tk[1]+"/deliveries/redeliver", map[string]any{})
	}
	if len(echo.deliveries()) == 0 {
		t.Fatal("the echoing receiver got nothing")
	}
	everything := strings.Join(answers, "\n") + "\n" + srv.logs.String()
	for _, mk := range markers {
		if i := strings.Index(everything, mk); i >= 0 {
			lo := max(0, i-150)
			t.Errorf("secret %q leaked: …%s…", mk, everything[lo:min(len(everything), i+100)])
		}
	}
}
