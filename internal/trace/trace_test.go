package trace_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

func TestShoot(t *testing.T) {
	big, small := make([]byte, 400<<10), make([]byte, 50<<10)
	type call struct {
		quality int
		scale   float64
	}
	cases := []struct {
		name    string
		capture trace.Capture
		images  [][]byte // what each take returns, in turn
		err     error
		want    *task.Screenshot
		calls   []call
	}{
		{"off", trace.Capture{Off: true}, nil, nil, nil, nil},
		{"fits", trace.Capture{}, [][]byte{small}, nil,
			&task.Screenshot{JPEG: small, Bytes: len(small), Width: 1280, Height: 900}, []call{{60, 1}}},
		{"quality set", trace.Capture{Quality: 80}, [][]byte{small}, nil,
			&task.Screenshot{JPEG: small, Bytes: len(small), Width: 1280, Height: 900}, []call{{80, 1}}},
		{"too large, then half size fits", trace.Capture{}, [][]byte{big, small}, nil,
			&task.Screenshot{JPEG: small, Bytes: len(small), Width: 1280, Height: 900}, []call{{60, 1}, {40, 0.5}}},
		{"too large even at half size", trace.Capture{MaxBytes: 10 << 10}, [][]byte{big, small}, nil,
			&task.Screenshot{Omitted: "not kept: the image was larger than 10 KiB even at half size"}, []call{{60, 1}, {40, 0.5}}},
		{"failed", trace.Capture{}, nil, errors.New("the secrets could not be hidden"),
			&task.Screenshot{Omitted: "not taken: the secrets could not be hidden"}, []call{{60, 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls []call
			got := c.capture.Shoot(context.Background(), func(ctx context.Context, q int, scale float64) ([]byte, int, int, error) {
				calls = append(calls, call{q, scale})
				if c.err != nil {
					return nil, 0, 0, c.err
				}
				return c.images[len(calls)-1], 1280, 900, nil
			})
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Shoot = %+v, want %+v", got, c.want)
			}
			if !reflect.DeepEqual(calls, c.calls) {
				t.Errorf("takes = %v, want %v", calls, c.calls)
			}
		})
	}
}

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func sample() (task.Task, []task.Step) {
	tk := task.Task{
		ID: "task_1", SessionID: "sess_1", Status: task.StatusCompleted, Message: `{"price":29.99}`,
		Spec:      task.Spec{TaskDetails: "Find the price", StartingPoint: "https://shop.example/", OutputType: task.OutputJSON},
		Usage:     task.Usage{InputTokens: 3000, OutputTokens: 90, ComputeTime: 4.5, Cost: 0.0035},
		CreatedAt: at, StartedAt: at.Add(time.Second), EndedAt: at.Add(6 * time.Second),
	}
	steps := []task.Step{
		{N: 1, Action: "navigate", Args: json.RawMessage(`{"url":"https://shop.example/"}`), URL: "https://shop.example/", DurationMs: 800, At: at.Add(2 * time.Second),
			Screenshot: &task.Screenshot{Bytes: 41000, Width: 1280, Height: 900}},
		{N: 2, Action: "type", Args: json.RawMessage(`{"id":4,"text":"{{password}}"}`), URL: "https://shop.example/login", InputTokens: 1000, OutputTokens: 30, DurationMs: 1200, At: at.Add(3 * time.Second),
			Screenshot: &task.Screenshot{Omitted: "not taken: the secrets could not be hidden"}},
		{N: 0, Action: "moved", Error: "the session moved", At: at.Add(3 * time.Second)},
		{N: 3, Action: "done", Args: json.RawMessage(`{"answer":"{\"price\":\"29.99\"}"}`), URL: "https://shop.example/p", InputTokens: 1000, OutputTokens: 30, DurationMs: 900, Error: "/price: must be number", At: at.Add(4 * time.Second),
			Screenshot: &task.Screenshot{Bytes: 30000, Width: 1280, Height: 900}},
		{N: 4, Action: "done", Args: json.RawMessage(`{"answer":{"price":29.99}}`), URL: "https://shop.example/p", InputTokens: 1000, OutputTokens: 30, DurationMs: 700, At: at.Add(5 * time.Second),
			Screenshot: &task.Screenshot{Bytes: 30001, Width: 1280, Height: 900}},
	}
	return tk, steps
}

func TestBuild(t *testing.T) {
	tk, steps := sample()
	v := trace.Build(tk, steps, trace.BuildParams{
		Cost:    func(u task.Usage) float64 { return float64(u.InputTokens)/1e6 + u.ComputeTime/100 },
		ShotURL: func(i int) string { return fmt.Sprintf("/shots/%d", i) },
	})
	if v.Answer != tk.Message || v.Status != task.StatusCompleted || v.TaskDetails != "Find the price" || v.Usage.Cost != 0.0035 {
		t.Fatalf("trace head: %+v", v)
	}
	if len(v.Steps) != 5 {
		t.Fatalf("%d steps, want 5", len(v.Steps))
	}
	s := v.Steps
	if s[0].Index != 1 || s[0].Screenshot.URL != "/shots/1" || s[0].Screenshot.Bytes != 41000 || s[0].Cost != 0.008 {
		t.Errorf("step 1: %+v %+v", s[0], s[0].Screenshot)
	}
	if s[1].Screenshot.URL != "" || !strings.Contains(s[1].Screenshot.Omitted, "secrets") || string(s[1].Args) != `{"id":4,"text":"{{password}}"}` {
		t.Errorf("step 2 (secret typed): %+v %+v", s[1], s[1].Screenshot)
	}
	if s[2].Screenshot != nil || s[2].Answer != nil {
		t.Errorf("the engine's note has no screenshot or answer: %+v", s[2])
	}
	if a := s[3].Answer; a == nil || a.Valid || a.Text != `{"price":"29.99"}` || a.Problem != "/price: must be number" {
		t.Errorf("the invalid answer: %+v", a)
	}
	if a := s[4].Answer; a == nil || !a.Valid || a.Text != `{"price":29.99}` || s[4].Screenshot.URL != "/shots/5" {
		t.Errorf("the final answer: %+v", a)
	}
	if _, err := json.Marshal(v); err != nil {
		t.Fatal(err)
	}

	// A failed task: no answer on the last step beyond what it said.
	tk.Status, tk.Message, tk.ErrorCode, tk.ErrorMessage = task.StatusFailed, "", task.CodeOutputInvalid, "no valid answer"
	v = trace.Build(tk, steps[:4], trace.BuildParams{ShotURL: func(int) string { return "x" }})
	if v.Answer != "" || v.ErrorCode != task.CodeOutputInvalid || v.Steps[3].Answer.Valid {
		t.Errorf("failed task: %+v", v)
	}
	// The built-in extractor's last step carries the answer.
	tk, _ = sample()
	v = trace.Build(tk, []task.Step{{N: 1, Action: "navigate"}, {N: 2, Action: "extract"}}, trace.BuildParams{ShotURL: func(int) string { return "x" }})
	if a := v.Steps[1].Answer; a == nil || a.Text != tk.Message || !a.Valid || v.Steps[0].Answer != nil {
		t.Errorf("the extractor's answer: %+v", v.Steps)
	}
}

func TestWriteZip(t *testing.T) {
	tk, steps := sample()
	v := trace.Build(tk, steps, trace.BuildParams{ShotURL: func(i int) string { return fmt.Sprintf("/shots/%d", i) }})
	images := map[int][]byte{1: []byte("\xff\xd8one"), 5: []byte("\xff\xd8five")}
	var buf bytes.Buffer
	err := trace.WriteZip(context.Background(), &buf, v, func(ctx context.Context, i int) ([]byte, error) {
		if img, ok := images[i]; ok {
			return img, nil
		}
		return nil, errors.New("removed meanwhile")
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.Steps[0].Screenshot.URL != "/shots/1" {
		t.Fatal("WriteZip changed the caller's view")
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = b
	}
	if !bytes.Equal(files["screenshots/001.jpg"], images[1]) || !bytes.Equal(files["screenshots/005.jpg"], images[5]) || len(files) != 3 {
		t.Fatalf("zip files: %v", keys(files))
	}
	var got trace.View
	if err := json.Unmarshal(files["trace.json"], &got); err != nil {
		t.Fatal(err)
	}
	if got.Steps[0].Screenshot.URL != "screenshots/001.jpg" || got.Steps[4].Screenshot.URL != "screenshots/005.jpg" {
		t.Errorf("trace.json names the files: %+v %+v", got.Steps[0].Screenshot, got.Steps[4].Screenshot)
	}
	if s := got.Steps[3].Screenshot; s.URL != "" || !strings.Contains(s.Omitted, "removed meanwhile") {
		t.Errorf("a screenshot gone meanwhile: %+v", s)
	}
	if got.Answer != tk.Message || len(got.Steps) != 5 {
		t.Errorf("trace.json: %+v", got)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRetentionParams(t *testing.T) {
	now := at
	p := trace.Retention{}.Params(now)
	if !p.Before.Equal(now.Add(-7*24*time.Hour)) || p.MaxBytes != 2<<30 || p.Reason != "removed by the trace retention (screenshots are kept for 7 days, up to 2 GiB in all)" {
		t.Errorf("defaults: %+v", p)
	}
	p = trace.Retention{MaxAge: -1, MaxBytes: 500 << 20}.Params(now)
	if !p.Before.IsZero() || p.MaxBytes != 500<<20 || !strings.Contains(p.Reason, "up to 500 MiB in all") {
		t.Errorf("no age limit: %+v", p)
	}
	p = trace.Retention{MaxAge: 36 * time.Hour, MaxBytes: -1}.Params(now)
	if !p.Before.Equal(now.Add(-36*time.Hour)) || p.MaxBytes > 0 {
		t.Errorf("no size limit: %+v", p)
	}
}

// TestJanitor runs the retention against a real store.
func TestJanitor(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "errand.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sess := task.Session{ID: "sess_j", TenantID: "ten", State: task.SessionActive, CreatedAt: at, LastActive: at}
	tk := &task.Task{ID: "task_j", Spec: task.Spec{TaskDetails: "x"}}
	if err := st.CreateSession(ctx, sess, tk); err != nil {
		t.Fatal(err)
	}
	for i, when := range []time.Time{at.Add(-10 * 24 * time.Hour), at.Add(-time.Hour)} {
		err := st.AppendStep(ctx, tk.ID, task.Step{N: i + 1, Action: "click", At: when,
			Screenshot: &task.Screenshot{JPEG: bytes.Repeat([]byte{1}, 100), Width: 1, Height: 1}})
		if err != nil {
			t.Fatal(err)
		}
	}
	j := &trace.Janitor{Store: st, Now: func() time.Time { return at }}
	p, err := j.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Removed != 1 || p.KeptBytes != 100 {
		t.Fatalf("prune = %+v", p)
	}
	steps, _ := st.Steps(ctx, tk.ID)
	if steps[0].Screenshot.Bytes != 0 || !strings.Contains(steps[0].Screenshot.Omitted, "7 days") || steps[1].Screenshot.Bytes != 100 {
		t.Fatalf("after the retention: %+v %+v", steps[0].Screenshot, steps[1].Screenshot)
	}
	// Run prunes at once, then stops with its context.
	if err := st.AppendStep(ctx, tk.ID, task.Step{N: 3, Action: "click", At: at.Add(-8 * 24 * time.Hour),
		Screenshot: &task.Screenshot{JPEG: []byte{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { j.Run(rctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := st.Screenshot(ctx, tk.ID, 3); errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not prune")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
