package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/model/modeltest"
)

// invoiceSite serves a page with a download link to an invoice of size
// bytes (Content-Disposition: attachment).
func invoiceSite(t *testing.T, invoice []byte) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>Invoices</title></head><body><h1>Invoices</h1><ul><li>January <a href="/invoice/2024-01">Download PDF</a></li></ul></body></html>`)
	})
	mux.HandleFunc("GET /invoice/2024-01", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="invoice-2024-01.pdf"`)
		w.Write(invoice)
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site
}

// clickDownload is the fake model's turn that clicks the download link.
func clickDownload(t *testing.T) modeltest.Step {
	return func(r modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elemID(t, r.Body.Last(), `<a href=/invoice/2024-01>`)}}}}
	}
}

// A file the page downloads is in the task's files, in the full_response
// webhook, fetched with the API key byte for byte, and deleted with the
// task.
func TestDownloadedFile(t *testing.T) {
	needChromium(t)
	invoice := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("invoice line 0123456789\n"), 60_000)...) // 1.4 MB: several chunks
	site := invoiceSite(t, invoice)
	fake := modeltest.New(t,
		clickDownload(t),
		func(r modeltest.Request) modeltest.Reply {
			if !strings.Contains(r.Body.Last(), `A file was downloaded: "invoice-2024-01.pdf" (application/pdf, `+fmt.Sprint(len(invoice))+` bytes)`) {
				t.Errorf("the model was not told of the download:\n%s", r.Body.Last())
			}
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "Downloaded the January invoice."}}}}
		},
	)
	rc := newReceiver(t, nil)
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	sid, tid := srv.runTask(t, map[string]any{
		"taskDetails": "Download the January invoice.", "startingPoint": site.URL + "/account",
		"webhook": map[string]any{"name": "f", "url": rc.URL, "submittedData": "full_response"},
	})
	p := srv.waitTask(t, sid, tid)
	files, _ := p["data"].(map[string]any)["files"].([]any)
	if p["type"] != "task_completed" || len(files) != 1 {
		t.Fatalf("poll = %v, want a completed task with one file", p)
	}
	f := files[0].(map[string]any)
	url := fmt.Sprint(f["url"])
	if f["name"] != "invoice-2024-01.pdf" || f["type"] != "application/pdf" || f["size"] != float64(len(invoice)) ||
		url != "/task/"+sid+"/"+tid+"/files/"+fmt.Sprint(f["id"]) {
		t.Errorf("file = %v", f)
	}
	code, h, body := srv.fetch(t, url)
	if code != 200 || !bytes.Equal(body, invoice) {
		t.Fatalf("GET %s: %d, %d bytes, want %d", url, code, len(body), len(invoice))
	}
	if h.Get("Content-Type") != "application/pdf" || !strings.Contains(h.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(h.Get("Content-Disposition"), "invoice-2024-01.pdf") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers = %v", h)
	}
	// Only with the task's API key.
	if code, _ := srv.callKey(t, "", "GET", url, nil); code != 401 {
		t.Errorf("without a key: %d", code)
	}
	if code, m := srv.call(t, "GET", "/task/"+sid+"/"+tid+"/files/file_nope", nil); code != 404 || m["code"] != "FILE_NOT_FOUND" {
		t.Errorf("an unknown file: %d %v", code, m)
	}
	// The full_response webhook lists it the same way.
	hook := rc.waitN(t, 1, 20*time.Second)[0].JSON(t)
	hf, _ := hook["data"].(map[string]any)["files"].([]any)
	if len(hf) != 1 || mustJSON(t, hf[0]) != mustJSON(t, f) {
		t.Errorf("webhook files = %v, want %v", hf, f)
	}
	// The step log records it.
	_, _, events := srv.fetch(t, "/task/"+sid+"/"+tid+"/events")
	if !strings.Contains(string(events), `"action":"download"`) || !strings.Contains(string(events), `"name":"invoice-2024-01.pdf"`) {
		t.Errorf("the step log has no download step:\n%s", events)
	}

	// Deleted with the task (once its webhook is delivered).
	var code2 int
	var m map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		code2, m = srv.call(t, "DELETE", "/task/"+sid+"/"+tid, nil)
		if code2 != 409 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code2 != 200 || m["deleted"] != true {
		t.Fatalf("DELETE: %d %v", code2, m)
	}
	if code, _, _ := srv.fetch(t, url); code != 404 {
		t.Errorf("the file after the task was deleted: %d", code)
	}
	if code, m := srv.call(t, "GET", "/task/"+sid+"/"+tid, nil); code != 404 || m["code"] != "TASK_NOT_FOUND" {
		t.Errorf("the task after it was deleted: %d %v", code, m)
	}
}

// A download over --download-max-mib fails the task with
// DOWNLOAD_TOO_LARGE and a message naming its URL; nothing is kept and
// the model is not asked again.
func TestDownloadOverTheLimit(t *testing.T) {
	needChromium(t)
	site := invoiceSite(t, bytes.Repeat([]byte("x"), 3<<20))
	fake := modeltest.New(t, clickDownload(t))
	rc := newReceiver(t, nil)
	srv := startServer(t, "", "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model", "--download-max-mib", "1")
	sid, tid := srv.runTask(t, map[string]any{
		"taskDetails": "Download the January invoice.", "startingPoint": site.URL + "/account",
		"webhook": map[string]any{"name": "f", "url": rc.URL, "submittedData": "full_response", "events": []string{"task_completed", "task_failed"}},
	})
	p := srv.waitTask(t, sid, tid)
	msg := fmt.Sprint(p["error"])
	if p["code"] != "DOWNLOAD_TOO_LARGE" || !strings.Contains(msg, site.URL+"/invoice/2024-01") || !strings.Contains(msg, "1 MiB") {
		t.Fatalf("poll = %v, want DOWNLOAD_TOO_LARGE naming the URL and the limit", p)
	}
	if _, ok := p["data"]; ok {
		t.Errorf("a failed task shows data: %v", p)
	}
	hook := rc.waitN(t, 1, 20*time.Second)[0].JSON(t)
	if hook["type"] != "task_failed" || hook["code"] != "DOWNLOAD_TOO_LARGE" {
		t.Errorf("webhook = %v", hook)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("the model was asked %d times, want once (the task ended with the download)", n)
	}
}
