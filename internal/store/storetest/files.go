package storetest

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// fileTests are the suite's tests of downloaded files (task.File).
var fileTests = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"FilesStoredWithOutcome", testFilesStored},
	{"FileThatChangedIsRefused", testFileChanged},
	{"DeleteTask", testDeleteTask},
}

// newFile writes size pseudo-random bytes to a temporary file and returns
// it as a download waiting to be stored.
func newFile(t *testing.T, name, typ string, size int, seed uint64) (task.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return task.File{ID: task.NewID("file"), Name: name, Type: typ, Size: int64(size), Path: path, CreatedAt: base}, data
}

func readFile(t *testing.T, s store.Store, taskID, fileID string) (task.File, []byte) {
	t.Helper()
	f, rc, err := s.OpenFile(ctxT(t), taskID, fileID)
	noErr(t, "OpenFile", err)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	noErr(t, "reading the file", err)
	return f, data
}

// A run's files are stored with its outcome, in order, after the files of
// an earlier run of the task (before a human's answer); their bytes come
// back whole across chunks, and only from their own task.
func testFilesStored(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x", "y")
	tk, other := tasks[0], tasks[1]
	_, err := h.s.StartTask(ctx, tk.ID, runnerA, base)
	noErr(t, "StartTask", err)

	big, bigData := newFile(t, "report.pdf", "application/pdf", 2*store.FileChunk+12345, 1)
	empty, _ := newFile(t, "empty.txt", "text/plain", 0, 2)
	noErr(t, "FinishTask (guardrail)", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID,
		Outcome: task.Outcome{Question: "which one?"}, At: base, Files: []task.File{big, empty}}))
	noErr(t, "AnswerGuardrail", h.s.AnswerGuardrail(ctx, tk.ID, "the first", base))
	_, err = h.s.StartTask(ctx, tk.ID, runnerA, base)
	noErr(t, "StartTask again", err)
	small, smallData := newFile(t, "data.csv", "text/csv", store.FileChunk, 3)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID,
		Outcome: task.Outcome{Message: "done"}, At: base.Add(time.Second), Files: []task.File{small}}))

	files, err := h.s.Files(ctx, tk.ID)
	noErr(t, "Files", err)
	if len(files) != 3 {
		t.Fatalf("Files = %+v, want 3", files)
	}
	for i, want := range []task.File{big, empty, small} {
		got := files[i]
		if got.ID != want.ID || got.Name != want.Name || got.Type != want.Type || got.Size != want.Size || got.Path != "" || !got.CreatedAt.Equal(base) {
			t.Errorf("file %d = %+v, want %+v without its path", i, got, want)
		}
	}
	for _, c := range []struct {
		f    task.File
		data []byte
	}{{big, bigData}, {small, smallData}, {empty, nil}} {
		got, data := readFile(t, h.s, tk.ID, c.f.ID)
		if got.Name != c.f.Name || !bytes.Equal(data, c.data) {
			t.Errorf("%s: read %d bytes (name %q), want %d", c.f.Name, len(data), got.Name, len(c.data))
		}
	}
	_, _, err = h.s.OpenFile(ctx, other.ID, big.ID)
	wantErr(t, "a file through another task", err, store.ErrNotFound)
	_, _, err = h.s.OpenFile(ctx, tk.ID, "file_nope")
	wantErr(t, "an unknown file", err, store.ErrNotFound)
	if files, err := h.s.Files(ctx, other.ID); err != nil || len(files) != 0 {
		t.Errorf("another task's files = %v, %v", files, err)
	}
}

// A file whose bytes are not what was announced (it changed under the
// caller) fails the whole outcome: the task is still running, nothing is
// stored.
func testFileChanged(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	tk := tasks[0]
	_, err := h.s.StartTask(ctx, tk.ID, runnerA, base)
	noErr(t, "StartTask", err)
	good, _ := newFile(t, "a.bin", "application/octet-stream", 100, 4)
	bad, _ := newFile(t, "b.bin", "application/octet-stream", 100, 5)
	bad.Size = 101
	if err := h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "x"}, At: base, Files: []task.File{good, bad}}); err == nil {
		t.Fatal("FinishTask stored a file shorter than announced")
	}
	if got := mustTask(t, h.s, tk.ID); got.Status != task.StatusRunning {
		t.Errorf("status = %q, want still running", got.Status)
	}
	if files, _ := h.s.Files(ctx, tk.ID); len(files) != 0 {
		t.Errorf("files stored from a failed finish: %+v", files)
	}
}

// DeleteTask removes a final task with its step log, deliveries, attempts
// and files; never a task still running or owing a webhook, nor another
// tenant's.
func testDeleteTask(t *testing.T, h *harness) {
	ctx := ctxT(t)
	sess, tasks := mustSession(t, h.s, "ten_a", "x", "y")
	tk, keep := tasks[0], tasks[1]
	_, err := h.s.StartTask(ctx, tk.ID, runnerA, base)
	noErr(t, "StartTask", err)
	noErr(t, "AppendStep", h.s.AppendStep(ctx, tk.ID, task.Step{N: 1, Action: "navigate", At: base}))
	wantErr(t, "deleting a running task", h.s.DeleteTask(ctx, "ten_a", sess.ID, tk.ID), store.ErrConflict)

	f, _ := newFile(t, "invoice.pdf", "application/pdf", 3000, 6)
	d := delivery(tk, task.EventCompleted, "https://a.example/hook", 1)
	noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "x"}, At: base, Deliveries: []task.Delivery{d}, Files: []task.File{f}}))
	wantErr(t, "deleting a task that owes a webhook", h.s.DeleteTask(ctx, "ten_a", sess.ID, tk.ID), store.ErrConflict)
	claimed, err := h.s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "n", Now: base, Until: base.Add(time.Minute), Limit: 5})
	noErr(t, "ClaimDeliveries", err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d deliveries", len(claimed))
	}
	a := task.Attempt{DeliveryID: d.ID, TaskID: tk.ID, Event: d.Event, Attempt: 1, URL: d.URL, StatusCode: 200, At: base}
	noErr(t, "RecordAttempts", h.s.RecordAttempts(ctx, []task.AttemptRecord{{Attempt: a, State: task.DeliveryDelivered}}))

	wantErr(t, "deleting another tenant's task", h.s.DeleteTask(ctx, "ten_b", sess.ID, tk.ID), store.ErrNotFound)
	wantErr(t, "deleting through another session", h.s.DeleteTask(ctx, "ten_a", "sess_other", tk.ID), store.ErrNotFound)
	noErr(t, "DeleteTask", h.s.DeleteTask(ctx, "ten_a", sess.ID, tk.ID))

	_, err = h.s.Task(ctx, "ten_a", sess.ID, tk.ID)
	wantErr(t, "the deleted task", err, store.ErrNotFound)
	_, _, err = h.s.OpenFile(ctx, tk.ID, f.ID)
	wantErr(t, "the deleted task's file", err, store.ErrNotFound)
	if files, _ := h.s.Files(ctx, tk.ID); len(files) != 0 {
		t.Errorf("files left: %+v", files)
	}
	if steps, _ := h.s.Steps(ctx, tk.ID); len(steps) != 0 {
		t.Errorf("steps left: %+v", steps)
	}
	if atts, _ := h.s.Attempts(ctx, tk.ID); len(atts) != 0 {
		t.Errorf("attempts left: %+v", atts)
	}
	if ds, _ := h.s.TaskDeliveries(ctx, tk.ID); len(ds) != 0 {
		t.Errorf("deliveries left: %+v", ds)
	}
	_, err = h.s.Delivery(ctx, d.ID)
	wantErr(t, "the deleted task's delivery", err, store.ErrNotFound)
	wantErr(t, "deleting it again", h.s.DeleteTask(ctx, "ten_a", sess.ID, tk.ID), store.ErrNotFound)
	// The session and its other task are untouched.
	if got := mustTask(t, h.s, keep.ID); got.ID != keep.ID {
		t.Errorf("the session's other task: %+v", got)
	}
	if _, err := h.s.Session(ctx, "ten_a", sess.ID); err != nil {
		t.Errorf("the session: %v", err)
	}
}
