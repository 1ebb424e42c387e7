package browser_test

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/trace/tracetest"
)

// The secret of the screenshot tests: an e-mail address, the kind of value
// typed into a plain text field and echoed on the next page.
const shotSecret = "alice@example.org"

// secretPage shows the secret everywhere a page may: a plain text field's
// value, a password field, echoed text, a shadow root, a same-origin frame,
// and a cross-origin frame (at frameURL); each at a fixed place.
func secretPage(frameURL string) string {
	box := func(x, y, w, h int) string {
		return fmt.Sprintf("position:absolute;left:%dpx;top:%dpx;width:%dpx;height:%dpx;margin:0;padding:0;border:0", x, y, w, h)
	}
	return `<!doctype html><html><head><style>body{margin:0;background:#fff;color:#000;font:40px/48px monospace}
	input{font:40px monospace;color:#000;background:#fff;box-sizing:border-box}</style></head><body>
	<input id="email" type="text" value="` + shotSecret + `" style="` + box(20, 20, 600, 60) + `">
	<input id="pw" type="password" value="` + shotSecret + `" style="` + box(20, 100, 600, 60) + `">
	<p id="echo" style="` + box(20, 200, 800, 48) + `;white-space:nowrap">Hi ` + strings.ToUpper(shotSecret) + `</p>
	<div id="host" style="` + box(20, 280, 800, 48) + `"></div>
	<iframe id="same" style="` + box(20, 360, 600, 80) + `" srcdoc="<body style='margin:0;font:40px monospace'>` + shotSecret + `</body>"></iframe>
	<iframe id="other" style="` + box(660, 360, 300, 200) + `" src="` + frameURL + `"></iframe>
	<p style="` + box(20, 600, 800, 48) + `">nothing secret here</p>
	<script>document.getElementById('host').attachShadow({mode:'open'}).innerHTML='<span style="font:40px monospace">` + shotSecret + `</span>';</script>
	</body></html>`
}

func TestScreenshotCoversSecrets(t *testing.T) {
	c := needChromium(t)
	other := site(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<body style="margin:0;background:#fff;font:30px monospace">`+shotSecret+`</body>`)
	}))
	ou, _ := url.Parse(other.URL)
	frameURL := "http://frame.test:" + ou.Port() + "/"
	srv := site(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, secretPage(frameURL))
	}))
	tab, err := c.Tab(t.Context(), "shot-secrets", browser.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession("shot-secrets")
	if err := tab.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatal(err)
	}

	take := func(opts browser.ScreenshotOptions) image.Image {
		t.Helper()
		shot, err := tab.Screenshot(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(shot.JPEG))
		if err != nil {
			t.Fatalf("not a JPEG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != shot.Width || b.Dy() != shot.Height {
			t.Fatalf("size %dx%d, reported %dx%d", b.Dx(), b.Dy(), shot.Width, shot.Height)
		}
		return img
	}
	save := func(name string, img image.Image) {
		if dir := os.Getenv("ERRAND_TEST_ARTIFACTS"); dir != "" {
			var b bytes.Buffer
			png.Encode(&b, img)
			os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
		}
	}

	// Where the secret shows, inset from each box so that borders and
	// JPEG blur at the edges do not count.
	secretAt := map[string][4]int{
		"text field":         {40, 30, 380, 40},
		"echoed text":        {20 + 3*24 + 8, 205, 17*24 - 16, 36},
		"shadow root":        {30, 285, 380, 36},
		"same-origin frame":  {30, 366, 380, 34},
		"cross-origin frame": {670, 370, 280, 180},
	}
	plain := take(browser.ScreenshotOptions{Quality: 80})
	save("secrets-plain.png", plain)
	for what, r := range secretAt {
		if mean, _ := tracetest.Luminance(plain, r[0], r[1], r[2], r[3]); mean < 150 {
			t.Errorf("without hiding, the %s should show (mostly white): mean luminance %.0f", what, mean)
		}
	}

	covered := take(browser.ScreenshotOptions{Quality: 80, Hide: []string{shotSecret}})
	save("secrets-covered.png", covered)
	for what, r := range secretAt {
		if mean, max := tracetest.Luminance(covered, r[0], r[1], r[2], r[3]); mean > 10 || max > 80 {
			t.Errorf("the %s shows the secret: mean luminance %.0f, max %.0f, want black", what, mean, max)
		}
	}
	// Only the secret is covered: "Hi " before it and a line without it
	// still show.
	if mean, _ := tracetest.Luminance(covered, 22, 205, 40, 36); mean < 150 {
		t.Errorf("the text before the echoed secret is covered too (mean %.0f)", mean)
	}
	if mean, _ := tracetest.Luminance(covered, 20, 600, 780, 48); mean < 150 {
		t.Errorf("a line without the secret is covered (mean %.0f)", mean)
	}

	// The boxes are gone after the shot: the page is as it was.
	again := take(browser.ScreenshotOptions{Quality: 80})
	if mean, _ := tracetest.Luminance(again, 40, 30, 380, 40); mean < 150 {
		t.Errorf("the cover stayed on the page after the screenshot (mean %.0f)", mean)
	}
	obs, err := tab.Observe(t.Context(), browser.ObserveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(obs.Text, "nothing secret here") {
		t.Errorf("the page reads differently after the screenshot: %s", obs.Text)
	}

	// Half size: half the viewport's pixels.
	half, err := tab.Screenshot(t.Context(), browser.ScreenshotOptions{Quality: 40, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if half.Width != 640 || half.Height != 450 {
		t.Errorf("half size is %dx%d, want 640x450", half.Width, half.Height)
	}
}

// TestScreenshotScrolled checks the image is the viewport where it is
// scrolled to, at both scales.
func TestScreenshotScrolled(t *testing.T) {
	c := needChromium(t)
	srv := site(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<body style="margin:0"><div style="height:2000px;background:#fff"></div><div style="height:2000px;background:#000"></div></body>`)
	}))
	tab, err := c.Tab(t.Context(), "shot-scroll", browser.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession("shot-scroll")
	if err := tab.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	for _, scale := range []float64{1, 0.5} {
		if err := tab.Scroll(t.Context(), "down", 3); err != nil {
			t.Fatal(err)
		}
		time.Sleep(0) // Scroll waits for the page itself
		shot, err := tab.Screenshot(t.Context(), browser.ScreenshotOptions{Scale: scale})
		if err != nil {
			t.Fatal(err)
		}
		img, _ := jpeg.Decode(bytes.NewReader(shot.JPEG))
		if mean, _ := tracetest.Luminance(img, 0, 0, shot.Width, shot.Height); mean > 20 {
			t.Errorf("scale %v: scrolled into the black half, the image has mean luminance %.0f", scale, mean)
		}
		if err := tab.Scroll(t.Context(), "up", 10); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkStepScreenshot measures what a step's screenshot costs on the
// production-weight corpus: time and JPEG size at the trace's default
// quality, without and with secrets to cover (BENCHMARKS.md).
func BenchmarkStepScreenshot(b *testing.B) {
	c := needChromium(b)
	srv := httptestServer(b, http.FileServer(http.Dir(corpusDir)))
	tab, err := c.Tab(b.Context(), "bench-shot", browser.PageOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseSession("bench-shot")
	for _, hide := range [][]string{nil, {"alice@example.org", "p@ss w0rd"}} {
		name := "secrets=none"
		if hide != nil {
			name = "secrets=2"
		}
		b.Run(name, func(b *testing.B) {
			var ms, kb []float64
			for b.Loop() {
				for _, path := range corpus(b, corpusDir) {
					if err := tab.Navigate(b.Context(), srv.URL+"/"+filepath.Base(path)); err != nil {
						b.Fatal(err)
					}
					for range 3 {
						start := time.Now()
						shot, err := tab.Screenshot(b.Context(), browser.ScreenshotOptions{Quality: 60, Hide: hide})
						if err != nil {
							b.Fatal(err)
						}
						ms = append(ms, float64(time.Since(start).Microseconds())/1000)
						kb = append(kb, float64(len(shot.JPEG))/1024)
					}
				}
			}
			b.ReportMetric(median(ms), "median-ms")
			b.ReportMetric(percentile(ms, 0.9), "p90-ms")
			b.ReportMetric(median(kb), "median-KiB")
			b.ReportMetric(percentile(kb, 0.9), "p90-KiB")
		})
	}
}
