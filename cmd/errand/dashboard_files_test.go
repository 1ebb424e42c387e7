package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/errandhq/errand/internal/model/modeltest"
)

// The dashboard's task page lists the files a task downloaded, each a link
// the logged-in person downloads through the dashboard, byte for byte,
// with the API's headers; another tenant's login and a request without a
// login get nothing. In real Chromium, pages saved at 1280 and 390 px.
func TestDashboardFiles(t *testing.T) {
	needChromium(t)
	data := t.TempDir()
	otherKey := storedKey(t, data)
	invoice := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("invoice line 0123456789\n"), 60_000)...)
	site := invoiceSite(t, invoice)
	fake := modeltest.New(t, clickDownload(t),
		modeltest.ToolCall("done", map[string]string{"answer": "Downloaded the January invoice."}))
	srv := startServer(t, data, "--browser", "auto", "--model-url", fake.URL, "--model", "fake-model")
	sid, tid := srv.runTask(t, map[string]any{"taskDetails": "Download the January invoice.", "startingPoint": site.URL + "/account"})
	p := srv.waitTask(t, sid, tid)
	files, _ := p["data"].(map[string]any)["files"].([]any)
	if p["type"] != "task_completed" || len(files) != 1 {
		t.Fatalf("poll = %v, want a completed task with one file", p)
	}
	fileID := fmt.Sprint(files[0].(map[string]any)["id"])
	href := "/ui/tasks/" + sid + "/" + tid + "/files/" + fileID

	b, watch := newPilot(t)
	dir := artifactsDir(t)
	login := func(key string) {
		t.Helper()
		b.do("open", chromedp.Navigate(srv.URL+"/ui/tasks/"+sid+"/"+tid), chromedp.WaitVisible(chromedp.ID("key")))
		b.do("log in", chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Submit(chromedp.ID("key")))
	}
	login(testKey)
	b.waitURL("/ui/tasks/" + sid + "/" + tid)
	watch.set(true)
	b.do("task page", chromedp.WaitVisible(chromedp.CSS("table.files")))
	row := eval[string](b, `Array.from(document.querySelectorAll('table.files tbody tr')).map((tr) => tr.innerText.replace(/\s+/g, ' ')).join(' / ')`)
	if want := fmt.Sprintf("invoice-2024-01.pdf application/pdf %.1f MiB", float64(len(invoice))/(1<<20)); row != want {
		t.Errorf("the files table shows %q, want %q", row, want)
	}
	if got := eval[string](b, `document.querySelector('table.files a').getAttribute('href')`); got != href {
		t.Errorf("the file's link is %q, want %q", got, href)
	}
	b.shoot(dir, "task-files")

	// The link downloads the file with the login's cookie.
	type fetched struct {
		Status      int    `json:"status"`
		Type        string `json:"type"`
		Disposition string `json:"disposition"`
		Nosniff     string `json:"nosniff"`
		Size        int    `json:"size"`
		SHA256      string `json:"sha256"`
	}
	get := func() fetched {
		t.Helper()
		return eval[fetched](b, `(async () => {
			const res = await fetch(`+"`"+href+"`"+`, { credentials: 'same-origin' });
			const body = await res.arrayBuffer();
			const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
			return { status: res.status, type: res.headers.get('Content-Type'), disposition: res.headers.get('Content-Disposition') || '',
				nosniff: res.headers.get('X-Content-Type-Options') || '', size: body.byteLength,
				sha256: Array.from(sum).map((b) => b.toString(16).padStart(2, '0')).join('') };
		})()`)
	}
	sum := sha256.Sum256(invoice)
	got := get()
	if got.Status != 200 || got.Size != len(invoice) || got.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("downloading through the dashboard: status %d, %d bytes (sha256 %s), want 200 and the %d bytes of the invoice", got.Status, got.Size, got.SHA256, len(invoice))
	}
	if got.Type != "application/pdf" || !strings.HasPrefix(got.Disposition, "attachment") || !strings.Contains(got.Disposition, "invoice-2024-01.pdf") || got.Nosniff != "nosniff" {
		t.Errorf("the file's headers: %+v", got)
	}
	if errs := watch.take(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	watch.set(false)

	// Without a login: nothing.
	resp, err := http.Get(srv.URL + href)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the file without a login: %d, want 401", resp.StatusCode)
	}

	// Another tenant's login: no such task, no such file.
	b.do("log out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("key")))
	login(otherKey)
	b.waitURL("/ui/tasks/" + sid + "/" + tid) // logged in: the login page's address has it escaped
	b.do("their view", chromedp.WaitVisible(chromedp.CSS("main")))
	if page := b.text(); strings.Contains(page, "invoice-2024-01.pdf") {
		t.Errorf("another tenant sees the task's files: %s", page)
	}
	if got := get(); got.Status != http.StatusNotFound || got.Size == len(invoice) {
		t.Errorf("another tenant downloading the file: status %d, %d bytes", got.Status, got.Size)
	}
}
