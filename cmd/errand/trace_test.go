package main

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/trace/tracetest"
)

// The sign-in site of the trace test: the e-mail goes into a plain text
// field (drawn in clear, unlike a password field) and the next page
// echoes it; both at fixed places, so that the screenshots can be checked
// pixel by pixel.
func traceSite(t *testing.T) *httptest.Server {
	// Block layout at fixed heights: the e-mail field spans y 100-150,
	// the password field y 200-250; the welcome line y 100-140.
	const style = `<style>body{margin:0;padding:0 20px;background:#fff;font:32px/40px monospace}
input{display:block;font:32px monospace;width:700px;height:50px;margin:0;box-sizing:border-box;background:#fff;color:#000}
.gap{height:50px}.top{height:100px}p{margin:0;white-space:nowrap}</style>`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Sign in</title>`+style+`</head><body><div class=top></div>
<form method=post action=/login><input name=email type=text aria-label=Email><div class=gap></div>
<input name=password type=password aria-label=Password><div class=gap></div><button type=submit>Sign in</button></form></body></html>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		http.Redirect(w, r, "/welcome?who="+r.PostForm.Get("email"), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /welcome", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><head><title>Welcome</title>`+style+`</head><body><div class=top></div>
<p>Signed in as %s</p><div class=top></div><p>3 orders</p></body></html>`, html.EscapeString(r.URL.Query().Get("who")))
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site
}

// getRaw fetches a path with the test key.
func (s *server) getRaw(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// A task signs in with secrets in real Chromium; its trace has a
// screenshot after every step, and none of them shows the e-mail address
// typed into a plain text field nor echoed on the next page.
func TestTraceScreenshotsHideSecrets(t *testing.T) {
	needChromium(t)
	const email, password = "ada.lovelace@shop.example", "s3cret-Pa55"
	site := traceSite(t)
	fake := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			obs := r.Body.Last()
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "type", Args: map[string]any{"id": elemID(t, obs, `<input [^>]*Email`), "text": "{{email}}"}},
				{Name: "type", Args: map[string]any{"id": elemID(t, obs, `<input type=password`), "text": "{{password}}", "submit": true}},
			}, PromptTokens: 900, CompletionTokens: 40}
		},
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "3 orders"}}}, PromptTokens: 700, CompletionTokens: 10}
		},
	)
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	sid, tid := srv.runTask(t, map[string]any{
		"taskDetails": "Sign in and count my orders.", "startingPoint": site.URL + "/login",
		"secrets": []map[string]any{{"match": "127.0.0.1", "fields": map[string]string{"email": email, "password": password}}},
	})
	if p := srv.waitTask(t, sid, tid); p["type"] != "task_completed" {
		t.Fatalf("task: %v", p)
	}
	code, tr := srv.call(t, "GET", "/task/"+sid+"/"+tid+"/trace", nil)
	if code != 200 {
		t.Fatalf("trace: %d %v", code, tr)
	}
	steps := tr["steps"].([]any)
	var actions []string
	shots := map[int]image.Image{}
	for _, s := range steps {
		st := s.(map[string]any)
		actions = append(actions, st["action"].(string))
		if strings.Contains(fmt.Sprint(st), email) || strings.Contains(fmt.Sprint(st), password) {
			t.Errorf("step %v shows a secret", st)
		}
		sh, ok := st["screenshot"].(map[string]any)
		if !ok || sh["url"] == nil {
			t.Errorf("step %v has no screenshot", st["action"])
			continue
		}
		resp, body := srv.getRaw(t, sh["url"].(string))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || len(body) != int(sh["bytes"].(float64)) {
			t.Fatalf("screenshot %v: %d %q %d bytes", sh["url"], resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
			t.Errorf("screenshot is %v, want the 1280×900 viewport", b)
		}
		shots[int(st["index"].(float64))] = img
	}
	if got := strings.Join(actions, ","); got != "navigate,type,type,done" {
		t.Fatalf("steps = %s", got)
	}
	// Step 1, before anything was typed: the empty field shows (white).
	if mean, _ := tracetest.Luminance(shots[1], 30, 110, 500, 30); mean < 200 {
		t.Errorf("the empty e-mail field is dark before typing (mean %.0f)", mean)
	}
	// Step 2: the e-mail typed in the text field is covered.
	if mean, max := tracetest.Luminance(shots[2], 30, 110, 500, 30); mean > 10 || max > 80 {
		t.Errorf("after typing, the e-mail field shows its value (mean %.0f, max %.0f)", mean, max)
	}
	// Step 4: the next page echoes the address; covered, the rest shows.
	if mean, max := tracetest.Luminance(shots[4], 20+15*19+10, 105, 300, 30); mean > 10 || max > 80 {
		t.Errorf("the echoed e-mail shows on the last page (mean %.0f, max %.0f)", mean, max)
	}
	if mean, _ := tracetest.Luminance(shots[4], 20, 240, 200, 40); mean > 250 {
		t.Errorf("the last page's other text is not in the screenshot (mean %.0f)", mean)
	}

	// The export holds the same images.
	resp, body := srv.getRaw(t, "/task/"+sid+"/"+tid+"/trace.zip")
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("PK")) || bytes.Contains(body, []byte(email)) {
		t.Errorf("trace.zip: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// The built-in extractor in Chromium keeps a screenshot of the page it read.
func TestBuiltinTraceScreenshot(t *testing.T) {
	needChromium(t)
	site := newSite(t)
	srv := startServer(t, "", "--browser", "auto")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "Extract the product", "startingPoint": site.URL + "/product"})
	if p := srv.waitTask(t, sid, tid); p["type"] != "task_completed" {
		t.Fatalf("task: %v", p)
	}
	_, tr := srv.call(t, "GET", "/task/"+sid+"/"+tid+"/trace", nil)
	steps := tr["steps"].([]any)
	if len(steps) != 2 {
		t.Fatalf("steps: %v", steps)
	}
	nav, extract := steps[0].(map[string]any), steps[1].(map[string]any)
	sh, ok := nav["screenshot"].(map[string]any)
	if !ok || sh["url"] == nil {
		t.Fatalf("the navigate step has no screenshot: %v", nav)
	}
	resp, body := srv.getRaw(t, sh["url"].(string))
	img, err := jpeg.Decode(bytes.NewReader(body))
	if resp.StatusCode != 200 || err != nil || img.Bounds().Dx() != 1280 {
		t.Fatalf("screenshot: %d %v", resp.StatusCode, err)
	}
	// The page is not blank: its heading is dark on white.
	if _, max := tracetest.Luminance(img, 0, 0, 1280, 900); max < 200 {
		t.Errorf("the screenshot is dark all over")
	}
	if mean, _ := tracetest.Luminance(img, 0, 0, 1280, 900); mean > 254.5 {
		t.Errorf("the screenshot is blank")
	}
	if a, _ := extract["answer"].(map[string]any); a == nil || a["valid"] != true || !strings.Contains(a["text"].(string), "Acme Anvil") {
		t.Errorf("the extract step's answer: %v", extract)
	}
	if extract["screenshot"] != nil {
		t.Errorf("extracting does not act on the page, it has no screenshot: %v", extract["screenshot"])
	}
}
