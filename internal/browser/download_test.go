package browser_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/browser"
)

// downloadSite serves the pages and files of the download tests.
func downloadSite(t *testing.T, refused string) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", html(`<a href="/orders.csv" download>csv link</a>
<a href="/invoice">invoice</a>
<a href="/invoice" target="_blank">invoice in a new tab</a>
<a href="/framed">framed</a>
<a href="/redirect" download>redirected</a>
<button onclick="const b = new Blob(['made by a script\n'], {type: 'text/plain'}); const a = document.createElement('a'); a.href = window.URL.createObjectURL(b); a.download = 'notes.txt'; a.click()">blob</button>`))
	mux.HandleFunc("GET /orders.csv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		fmt.Fprint(w, "id,total\n1,9.99\n")
	})
	mux.HandleFunc("GET /invoice", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `attachment; filename="invoice 2024/01.pdf"`)
		w.Write(invoicePDF)
	})
	mux.HandleFunc("GET /framed", html(`<h1>An invoice in a frame</h1><iframe src="/invoice"></iframe>`))
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, refused+"/orders.csv", http.StatusFound)
	})
	return mux
}

var invoicePDF = []byte("%PDF-1.4\n% an invoice\n" + strings.Repeat("0123456789", 300) + "\n%%EOF\n")

// clickDownload clicks the element matching pattern and returns what
// downloaded.
func clickDownload(t *testing.T, tb browser.Tab, pattern string) ([]browser.Download, error) {
	t.Helper()
	err := tb.Click(t.Context(), idOf(t, observe(t, tb), pattern))
	if err != nil {
		return nil, err
	}
	return downloaded(t, tb), nil
}

// downloaded returns the tab's downloads once there are some: a download
// that a page begins on its own (a frame's) may start after the load has
// settled, and the agent picks it up after its next action.
func downloaded(t *testing.T, tb browser.Tab) []browser.Download {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		if got := tb.Downloads(ctx); len(got) > 0 || ctx.Err() != nil {
			return got
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A file a page downloads — a download link, an attachment, one opened in
// a new tab or inside a frame, a blob a script made — is handed over with
// its name, type, size and bytes; the browser keeps no copy.
func TestDownloads(t *testing.T) {
	c := needChromium(t)
	refused, hits := refusedSite(t)
	srv := site(t, downloadSite(t, refused.URL))
	tb := tab(t, c, "downloads")
	cases := []struct {
		pattern       string
		name, typ     string
		data          []byte
		fromURLSuffix string
	}{
		{`<a href=/orders.csv>csv link`, "orders.csv", "text/csv; charset=utf-8", []byte("id,total\n1,9.99\n"), "/orders.csv"},
		{`<a href=/invoice>invoice<`, "invoice 2024_01.pdf", "application/pdf", invoicePDF, "/invoice"},
		{`<a href=/invoice>invoice in a new tab`, "invoice 2024_01.pdf", "application/pdf", invoicePDF, "/invoice"},
		{`<button>blob`, "notes.txt", "text/plain; charset=utf-8", []byte("made by a script\n"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			if err := tb.Navigate(t.Context(), srv.URL+"/"); err != nil {
				t.Fatal(err)
			}
			got, err := clickDownload(t, tb, tc.pattern)
			if err != nil {
				t.Fatalf("click: %v", err)
			}
			checkDownload(t, got, tc.name, tc.typ, tc.data)
			if tc.fromURLSuffix != "" && !strings.HasSuffix(got[0].URL, tc.fromURLSuffix) {
				t.Errorf("URL = %q", got[0].URL)
			}
			if tb.URL() != srv.URL+"/" {
				t.Errorf("the page moved to %s", tb.URL())
			}
		})
	}
	t.Run("in a frame", func(t *testing.T) {
		err := tb.Navigate(t.Context(), srv.URL+"/framed")
		if err != nil {
			t.Fatal(err)
		}
		checkDownload(t, downloaded(t, tb), "invoice 2024_01.pdf", "application/pdf", invoicePDF)
	})
	t.Run("redirected to a refused address", func(t *testing.T) {
		if err := tb.Navigate(t.Context(), srv.URL+"/"); err != nil {
			t.Fatal(err)
		}
		err := tb.Click(t.Context(), idOf(t, observe(t, tb), `<a href=/redirect>`))
		got := tb.Downloads(t.Context())
		var nav *browser.NavigationError
		if !errors.As(err, &nav) || !nav.Blocked {
			t.Errorf("click = %v, want a blocked navigation", err)
		}
		if len(got) != 0 || hits.Load() != 0 {
			t.Errorf("downloads %+v, refused site hit %d times", got, hits.Load())
		}
	})
	// Another session sees none of this session's downloads.
	other := tab(t, c, "downloads-other")
	if got := other.Downloads(t.Context()); len(got) != 0 {
		t.Errorf("another session got %+v", got)
	}
}

func checkDownload(t *testing.T, got []browser.Download, name, typ string, data []byte) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("downloads = %+v, want one", got)
	}
	d := got[0]
	if d.Err != nil || d.Name != name || d.Type != typ || d.Size != int64(len(data)) {
		t.Fatalf("download = %+v (err %v), want %s %s %d bytes", d, d.Err, name, typ, len(data))
	}
	b, err := os.ReadFile(d.Path)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the file holds %q (%v)", b, err)
	}
	if strings.Contains(d.Path, "errand-downloads-") {
		t.Errorf("the file was not handed over out of the browser's folder: %s", d.Path)
	}
	os.Remove(d.Path)
}

// A download over the limit is cancelled as it arrives, whether the site
// announces its size or not, and reported with its URL; nothing of it is
// handed over.
func TestDownloadOverTheLimit(t *testing.T) {
	needChromium(t)
	c, err := browser.NewChromium(context.Background(), browser.ChromiumConfig{Policy: testPolicy(), MaxDownload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", html(`<a href="/big-announced">announced</a> <a href="/big-streamed">streamed</a> <a href="/small" download>small</a>`))
	serve := func(announce bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Disposition", `attachment; filename="dump.bin"`)
			if announce {
				w.Header().Set("Content-Length", fmt.Sprint(3<<20))
			}
			for i := 0; i < 3<<20/len(chunk); i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}
	mux.HandleFunc("GET /big-announced", serve(true))
	mux.HandleFunc("GET /big-streamed", serve(false))
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, r *http.Request) { w.Write(chunk) })
	srv := site(t, mux)
	tb := tab(t, c, "limit")
	for _, which := range []string{"announced", "streamed"} {
		t.Run(which, func(t *testing.T) {
			if err := tb.Navigate(t.Context(), srv.URL+"/"); err != nil {
				t.Fatal(err)
			}
			got, err := clickDownload(t, tb, `<a href=/big-`+which)
			if err != nil {
				t.Fatalf("click: %v", err)
			}
			if len(got) != 1 || got[0].Err == nil || !got[0].Err.TooLarge || got[0].Path != "" {
				t.Fatalf("downloads = %+v, want one refused as too large", got)
			}
			msg := got[0].Err.Error()
			if !strings.Contains(msg, srv.URL+"/big-"+which) || !strings.Contains(msg, "1 MiB") {
				t.Errorf("message %q does not name the URL and the limit", msg)
			}
		})
	}
	// Below the limit still works.
	if err := tb.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	got, err := clickDownload(t, tb, `<a href=/small>`)
	if err != nil {
		t.Fatal(err)
	}
	checkDownload(t, got, "small.txt", "text/plain; charset=utf-8", chunk)
}
