package httpapi

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
)

func testJPEG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 32, 18)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestTraceRoutes serves a finished task's trace, its export and its
// screenshots, each answer checked against openapi.json.
func TestTraceRoutes(t *testing.T) {
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "errand.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyHash := HashKey("other-key")
	if err := st.CreateKey(t.Context(), store.Key{ID: "key_o", Name: "other", TenantID: "tenant_other", Hash: keyHash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Store: st, SessionIdle: 5 * time.Minute, Prices: engine.DefaultPrices})
	h := NewHandler(Deps{Engine: eng, Store: st, Policy: netguard.New(netguard.Config{}), BootstrapKey: "k", Metrics: metrics.New(nil)})
	d, err := libopenapi.NewDocument(openAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := validator.NewValidator(d)
	l := &liveAPI{h: h, doc: loadDoc(t, openAPIDoc), schemas: newDocSchemas(t), oas: v}

	_, m := l.call(t, "POST", "/start/run-task", "/start/run-task", `{"taskDetails":"Read the price","startingPoint":"https://shop.example/p"}`, true)
	sid, tid := m["sessionId"].(string), m["taskId"].(string)
	img := testJPEG(t)
	ctx := t.Context()
	for _, s := range []task.Step{
		{N: 1, Action: "navigate", Args: json.RawMessage(`{"url":"https://shop.example/p"}`), URL: "https://shop.example/p", DurationMs: 300,
			Screenshot: &task.Screenshot{JPEG: img, Width: 32, Height: 18}},
		{N: 2, Action: "type", Args: json.RawMessage(`{"id":3,"text":"{{password}}"}`), URL: "https://shop.example/p", InputTokens: 900, OutputTokens: 20, DurationMs: 1200,
			Screenshot: &task.Screenshot{Omitted: "not taken: the task's secrets could not be covered on this page"}},
		{N: 3, Action: "done", Args: json.RawMessage(`{"answer":"29.99"}`), URL: "https://shop.example/p", InputTokens: 1000, OutputTokens: 10, DurationMs: 800,
			Screenshot: &task.Screenshot{JPEG: img, Width: 32, Height: 18}},
	} {
		if err := st.AppendStep(ctx, tid, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.FinishTask(ctx, store.FinishParams{TaskID: tid, Outcome: task.Outcome{Message: "29.99"}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	const base = "/task/{sessionId}/{taskId}"
	p := "/task/" + sid + "/" + tid
	code, m := l.call(t, "GET", base+"/trace", p+"/trace", "", true)
	if code != 200 || m["answer"] != "29.99" || m["status"] != "completed" {
		t.Fatalf("trace: %d %v", code, m)
	}
	steps := m["steps"].([]any)
	if len(steps) != 3 {
		t.Fatalf("%d steps", len(steps))
	}
	first := steps[0].(map[string]any)["screenshot"].(map[string]any)
	if first["url"] != p+"/trace/screenshots/1" {
		t.Errorf("screenshot url = %v", first["url"])
	}
	last := steps[2].(map[string]any)
	if a := last["answer"].(map[string]any); a["text"] != "29.99" || a["valid"] != true || last["cost"].(float64) <= 0 {
		t.Errorf("last step: %v", last)
	}

	// Screenshots at their URLs (the JSON checker reads non-JSON as text).
	req := httptest.NewRequest("GET", p+"/trace/screenshots/1", nil)
	req.Header.Set("Authorization", "Bearer k")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" || !bytes.Equal(rec.Body.Bytes(), img) {
		t.Fatalf("screenshot 1: %d %q %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	if code, m := l.call(t, "GET", base+"/trace/screenshots/{index}", p+"/trace/screenshots/2", "", true); code != 404 || m["code"] != "SCREENSHOT_NOT_FOUND" {
		t.Errorf("a step without an image: %d %v", code, m)
	}
	if code, m := l.call(t, "GET", base+"/trace/screenshots/{index}", p+"/trace/screenshots/9", "", true); code != 404 || m["code"] != "SCREENSHOT_NOT_FOUND" {
		t.Errorf("no such step: %d %v", code, m)
	}
	if code, m := l.call(t, "GET", base+"/trace/screenshots/{index}", p+"/trace/screenshots/0", "", true); code != 404 || m["code"] != "SCREENSHOT_NOT_FOUND" {
		t.Errorf("step 0: %d %v", code, m)
	}
	if code, m := l.call(t, "GET", base+"/trace", "/task/"+sid+"/task_nope/trace", "", true); code != 404 || m["code"] != "TASK_NOT_FOUND" {
		t.Errorf("unknown task: %d %v", code, m)
	}
	if code, _ := l.call(t, "GET", base+"/trace", p+"/trace", "", false); code != 401 {
		t.Errorf("no key: %d", code)
	}
	// Another tenant sees neither the trace nor its images.
	for _, path := range []string{p + "/trace", p + "/trace.zip", p + "/trace/screenshots/1"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer other-key")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), "TASK_NOT_FOUND") {
			t.Errorf("another tenant's %s: %d %s", path, rec.Code, rec.Body)
		}
	}

	// The export.
	req = httptest.NewRequest("GET", p+"/trace.zip", nil)
	req.Header.Set("Authorization", "Bearer k")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/zip" || !strings.Contains(rec.Header().Get("Content-Disposition"), "trace-"+tid+".zip") {
		t.Fatalf("zip: %d %v", rec.Code, rec.Header())
	}
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var traceJSON []byte
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "trace.json" {
			rc, _ := f.Open()
			traceJSON, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	if strings.Join(names, ",") != "screenshots/001.jpg,screenshots/003.jpg,trace.json" {
		t.Errorf("zip holds %v", names)
	}
	// trace.json is the documented trace.
	if err := l.schemas.validate(t, "/components/schemas/Trace", traceJSON); err != nil {
		t.Errorf("trace.json does not match the Trace schema: %v", err)
	}
}
