package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// The trace and dashboard tests: steps with screenshots (package trace),
// their retention, and the listings the dashboard pages show.
var traceTests = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"TraceScreenshots", testTraceScreenshots},
	{"TraceRetentionByAge", testTraceRetentionByAge},
	{"TraceRetentionBySize", testTraceRetentionBySize},
	{"ListTasks", testListTasks},
	{"ListSessions", testListSessions},
}

// image is a stand-in JPEG of n bytes, distinct per seed: the store keeps
// bytes, it does not decode them.
func image(seed byte, n int) []byte {
	b := bytes.Repeat([]byte{seed}, n)
	b[0], b[1] = 0xFF, 0xD8
	return b
}

func testTraceScreenshots(t *testing.T, h *harness) {
	ctx := ctxT(t)
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	_, others := mustSession(t, h.s, "ten_a", "y")
	tk := tasks[0]
	shot1 := image(1, 3000)
	steps := []task.Step{
		{N: 1, Action: "navigate", Args: json.RawMessage(`{"url":"https://example.com"}`), URL: "https://example.com", At: base,
			Screenshot: &task.Screenshot{JPEG: shot1, Width: 1280, Height: 900}},
		{N: 0, Action: "moved", Error: "the session moved", At: base.Add(time.Second)},
		{N: 2, Action: "type", Args: json.RawMessage(`{"id":3,"text":"{{password}}"}`), URL: "https://example.com/login", At: base.Add(2 * time.Second),
			Screenshot: &task.Screenshot{Omitted: "not taken: a secret could not be hidden on this page"}},
		{N: 3, Action: "done", Args: json.RawMessage(`{"answer":"42"}`), URL: "https://example.com/end", At: base.Add(3 * time.Second),
			Screenshot: &task.Screenshot{JPEG: image(3, 500), Width: 640, Height: 450}},
	}
	for _, st := range steps {
		noErr(t, "AppendStep", h.s.AppendStep(ctx, tk.ID, st))
	}
	// Another task's steps do not shift this task's numbering.
	noErr(t, "AppendStep", h.s.AppendStep(ctx, others[0].ID, task.Step{N: 1, Action: "navigate", At: base,
		Screenshot: &task.Screenshot{JPEG: image(9, 100), Width: 10, Height: 10}}))

	got, err := h.s.Steps(ctx, tk.ID)
	noErr(t, "Steps", err)
	want := slices.Clone(steps)
	want[0].Screenshot = &task.Screenshot{Bytes: 3000, Width: 1280, Height: 900}
	want[2].Screenshot = &task.Screenshot{Omitted: "not taken: a secret could not be hidden on this page"}
	want[3].Screenshot = &task.Screenshot{Bytes: 500, Width: 640, Height: 450}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("steps:\n got %+v\nwant %+v", got, want)
	}

	img, err := h.s.Screenshot(ctx, tk.ID, 1)
	noErr(t, "Screenshot 1", err)
	if !bytes.Equal(img, shot1) {
		t.Fatalf("screenshot 1: got %d bytes, not the image stored", len(img))
	}
	img, err = h.s.Screenshot(ctx, tk.ID, 4)
	noErr(t, "Screenshot 4", err)
	if !bytes.Equal(img, image(3, 500)) {
		t.Fatal("screenshot 4 is not the image stored with the fourth step")
	}
	for _, n := range []int{0, 2, 3, 5, -1} {
		_, err := h.s.Screenshot(ctx, tk.ID, n)
		wantErr(t, fmt.Sprintf("screenshot of step %d", n), err, store.ErrNotFound)
	}
	_, err = h.s.Screenshot(ctx, "task_missing", 1)
	wantErr(t, "screenshot of an unknown task", err, store.ErrNotFound)

	// A step of an unknown task stores nothing, its screenshot included.
	err = h.s.AppendStep(ctx, "task_missing", task.Step{N: 1, Action: "navigate", Screenshot: &task.Screenshot{JPEG: image(7, 10)}})
	wantErr(t, "step of an unknown task", err, store.ErrNotFound)
	p, err := h.s.PruneScreenshots(ctx, store.PruneParams{})
	noErr(t, "PruneScreenshots", err)
	if p.Removed != 0 || p.KeptBytes != 3000+500+100 {
		t.Fatalf("with no limits, prune = %+v; want nothing removed and %d bytes kept", p, 3600)
	}
}

// shotsAt stores one step with an image of size bytes at each time, for a
// new task, and returns the task.
func shotsAt(t *testing.T, h *harness, size int, times ...time.Time) *task.Task {
	t.Helper()
	_, tasks := mustSession(t, h.s, "ten_a", "x")
	for i, at := range times {
		noErr(t, "AppendStep", h.s.AppendStep(ctxT(t), tasks[0].ID, task.Step{N: i + 1, Action: "click", At: at,
			Screenshot: &task.Screenshot{JPEG: image(byte(i), size), Width: 100, Height: 100}}))
	}
	return tasks[0]
}

// kept lists, per step of a task, its screenshot's size (0: none).
func kept(t *testing.T, h *harness, taskID string) []int {
	t.Helper()
	steps, err := h.s.Steps(ctxT(t), taskID)
	noErr(t, "Steps", err)
	var out []int
	for i, st := range steps {
		if st.Screenshot == nil {
			t.Fatalf("step %d lost its screenshot record", i+1)
		}
		out = append(out, st.Screenshot.Bytes)
		_, err := h.s.Screenshot(ctxT(t), taskID, i+1)
		if (st.Screenshot.Bytes > 0) != (err == nil) {
			t.Fatalf("step %d: size %d but Screenshot answers %v", i+1, st.Screenshot.Bytes, err)
		}
	}
	return out
}

func testTraceRetentionByAge(t *testing.T, h *harness) {
	ctx := ctxT(t)
	day := 24 * time.Hour
	old := shotsAt(t, h, 1000, base, base.Add(time.Hour), base.Add(3*day))
	recent := shotsAt(t, h, 2000, base.Add(5*day))
	const reason = "removed: older than the trace retention (7 days)"

	p, err := h.s.PruneScreenshots(ctx, store.PruneParams{Before: base.Add(2 * day), Reason: reason})
	noErr(t, "PruneScreenshots", err)
	if p.Removed != 2 || p.RemovedBytes != 2000 || p.KeptBytes != 3000 {
		t.Fatalf("prune = %+v, want 2 images (2000 bytes) removed, 3000 bytes kept", p)
	}
	if got := kept(t, h, old.ID); !slices.Equal(got, []int{0, 0, 1000}) {
		t.Fatalf("old task's images after the prune: %v, want [0 0 1000]", got)
	}
	if got := kept(t, h, recent.ID); !slices.Equal(got, []int{2000}) {
		t.Fatalf("recent task's images: %v", got)
	}
	steps, _ := h.s.Steps(ctx, old.ID)
	if len(steps) != 3 || steps[0].Screenshot.Omitted != reason || steps[0].Action != "click" {
		t.Fatalf("a pruned step keeps its record and says why its image went: %+v", steps[0])
	}
	p, err = h.s.PruneScreenshots(ctx, store.PruneParams{Before: base.Add(2 * day), Reason: reason})
	noErr(t, "PruneScreenshots again", err)
	if p.Removed != 0 {
		t.Fatalf("a second prune removed %d more", p.Removed)
	}
}

func testTraceRetentionBySize(t *testing.T, h *harness) {
	ctx := ctxT(t)
	a := shotsAt(t, h, 1000, base, base.Add(2*time.Second))
	b := shotsAt(t, h, 1000, base.Add(time.Second), base.Add(3*time.Second))
	// 4000 bytes stored; 2500 allowed: the two oldest go (base, base+1s).
	p, err := h.s.PruneScreenshots(ctx, store.PruneParams{MaxBytes: 2500, Reason: "removed: the traces reached their size limit"})
	noErr(t, "PruneScreenshots", err)
	if p.Removed != 2 || p.KeptBytes != 2000 {
		t.Fatalf("prune = %+v, want 2 removed, 2000 kept", p)
	}
	if ga, gb := kept(t, h, a.ID), kept(t, h, b.ID); !slices.Equal(ga, []int{0, 1000}) || !slices.Equal(gb, []int{0, 1000}) {
		t.Fatalf("kept a=%v b=%v, want the newest image of each", ga, gb)
	}
	// Many images: removed in batches until the budget holds.
	many := make([]time.Time, 450)
	for i := range many {
		many[i] = base.Add(time.Hour + time.Duration(i)*time.Second)
	}
	c := shotsAt(t, h, 100, many...)
	p, err = h.s.PruneScreenshots(ctx, store.PruneParams{MaxBytes: 1000})
	noErr(t, "PruneScreenshots", err)
	if p.KeptBytes > 1000 || p.Removed != 2+440 {
		t.Fatalf("prune of many = %+v, want the 10 newest kept", p)
	}
	got := kept(t, h, c.ID)
	if slices.Index(got, 100) != 440 || got[449] != 100 || got[439] != 0 {
		t.Fatalf("the newest images must be the ones kept: %v", got[430:])
	}
}

// listed is the ids of tasks.
func listed(ts []task.Task) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	return ids
}

func testListTasks(t *testing.T, h *harness) {
	ctx := ctxT(t)
	// Five tasks of tenant a over two sessions, created a second apart;
	// one of tenant b.
	var ids []string
	sessA := newSession("ten_a")
	noErr(t, "CreateSession", h.s.CreateSession(ctx, sessA, nil))
	sessB := newSession("ten_a")
	noErr(t, "CreateSession", h.s.CreateSession(ctx, sessB, nil))
	for i := range 5 {
		tk := newTask(fmt.Sprint(i))
		tk.SessionID, tk.TenantID = sessA.ID, "ten_a"
		if i%2 == 1 {
			tk.SessionID = sessB.ID
		}
		tk.CreatedAt = base.Add(time.Duration(i) * time.Second)
		noErr(t, "AddTask", h.s.AddTask(ctx, tk))
		ids = append(ids, tk.ID)
	}
	_, other := mustSession(t, h.s, "ten_b", "theirs")
	noErr(t, "finish", completeWith(ctx, h.s, ids[0], "done"))
	noErr(t, "finish", h.s.FinishTask(ctx, store.FinishParams{TaskID: ids[3], Outcome: task.Outcome{Code: task.CodeTaskTimeout}, At: base}))

	list := func(f store.TaskFilter) []string {
		t.Helper()
		if f.TenantID == "" {
			f.TenantID = "ten_a"
		}
		got, err := h.s.ListTasks(ctx, f)
		noErr(t, "ListTasks", err)
		for _, tk := range got {
			if tk.TenantID != f.TenantID {
				t.Fatalf("ListTasks for %s answered a task of %s", f.TenantID, tk.TenantID)
			}
		}
		return listed(got)
	}
	rev := func(xs ...string) []string { xs = slices.Clone(xs); slices.Reverse(xs); return xs }
	cases := []struct {
		name string
		f    store.TaskFilter
		want []string
	}{
		{"all, newest first", store.TaskFilter{}, rev(ids...)},
		{"completed", store.TaskFilter{Status: task.StatusCompleted}, []string{ids[0]}},
		{"failed", store.TaskFilter{Status: task.StatusFailed}, []string{ids[3]}},
		{"queued", store.TaskFilter{Status: task.StatusQueued}, []string{ids[4], ids[2], ids[1]}},
		{"one session", store.TaskFilter{SessionID: sessB.ID}, []string{ids[3], ids[1]}},
		{"by task id", store.TaskFilter{Query: ids[2]}, []string{ids[2]}},
		{"by task id prefix", store.TaskFilter{Query: ids[2][:len(ids[2])-3]}, []string{ids[2]}},
		{"by session id", store.TaskFilter{Query: sessB.ID}, []string{ids[3], ids[1]}},
		{"query and status", store.TaskFilter{Query: sessB.ID, Status: task.StatusQueued}, []string{ids[1]}},
		{"a like pattern is not one", store.TaskFilter{Query: "task%"}, nil},
		{"another tenant's task by id", store.TaskFilter{Query: other[0].ID}, nil},
		{"the other tenant", store.TaskFilter{TenantID: "ten_b"}, []string{other[0].ID}},
		{"first page", store.TaskFilter{Page: store.Page{Limit: 2}}, []string{ids[4], ids[3]}},
		{"next page", store.TaskFilter{Page: store.Page{Limit: 2, AfterAt: base.Add(3 * time.Second), AfterID: ids[3]}}, []string{ids[2], ids[1]}},
		{"last page", store.TaskFilter{Page: store.Page{Limit: 2, AfterAt: base.Add(time.Second), AfterID: ids[1]}}, []string{ids[0]}},
	}
	for _, c := range cases {
		if got := list(c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// Tasks created in the same millisecond page by id.
	same := make([]string, 0, 3)
	for i := range 3 {
		tk := newTask(fmt.Sprint("same", i))
		tk.SessionID, tk.TenantID, tk.CreatedAt = sessA.ID, "ten_a", base.Add(time.Minute)
		noErr(t, "AddTask", h.s.AddTask(ctx, tk))
		same = append(same, tk.ID)
	}
	slices.Sort(same)
	first := list(store.TaskFilter{Page: store.Page{Limit: 2}})
	rest := list(store.TaskFilter{Page: store.Page{Limit: 2, AfterAt: base.Add(time.Minute), AfterID: first[1]}})
	if !slices.Equal(append(first, rest[0]), rev(same...)) {
		t.Fatalf("tasks of one instant: pages %v then %v, want %v", first, rest, rev(same...))
	}
}

func testListSessions(t *testing.T, h *harness) {
	ctx := ctxT(t)
	var sess []task.Session
	var tasks [][]*task.Task
	for i := range 3 {
		s := newSession("ten_a")
		s.CreatedAt = base.Add(time.Duration(i) * time.Second)
		var first *task.Task
		if i > 0 {
			first = newTask("first")
		}
		noErr(t, "CreateSession", h.s.CreateSession(ctx, s, first))
		sess = append(sess, s)
		var tks []*task.Task
		if first != nil {
			tks = append(tks, first)
		}
		tasks = append(tasks, tks)
	}
	second := newTask("second")
	second.SessionID, second.TenantID = sess[2].ID, "ten_a"
	noErr(t, "AddTask", h.s.AddTask(ctx, second))
	noErr(t, "finish", completeWith(ctx, h.s, tasks[1][0].ID, "ok"))
	_, err := h.s.TerminateSession(ctx, sess[1].ID, base)
	noErr(t, "TerminateSession", err)
	theirs, _ := mustSession(t, h.s, "ten_b", "theirs")

	list := func(f store.SessionFilter) []store.SessionSummary {
		t.Helper()
		if f.TenantID == "" {
			f.TenantID = "ten_a"
		}
		got, err := h.s.ListSessions(ctx, f)
		noErr(t, "ListSessions", err)
		return got
	}
	ids := func(ss []store.SessionSummary) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return out
	}
	all := list(store.SessionFilter{})
	if got := ids(all); !slices.Equal(got, []string{sess[2].ID, sess[1].ID, sess[0].ID}) {
		t.Fatalf("sessions newest first: %v", got)
	}
	want := []struct {
		tasks int
		last  task.Status
		busy  bool
		state task.SessionState
	}{
		{2, task.StatusQueued, true, task.SessionActive},
		{1, task.StatusCompleted, false, task.SessionTerminated},
		{0, "", false, task.SessionActive},
	}
	for i, w := range want {
		s := all[i]
		if s.Tasks != w.tasks || s.LastStatus != w.last || s.Busy != w.busy || s.State != w.state || s.TenantID != "ten_a" {
			t.Errorf("session %d: %+v, want %+v", i, s, w)
		}
	}
	if !all[2].CreatedAt.Equal(base) {
		t.Errorf("session created at %v, want %v", all[2].CreatedAt, base)
	}
	cases := []struct {
		name string
		f    store.SessionFilter
		want []string
	}{
		{"terminated", store.SessionFilter{State: task.SessionTerminated}, []string{sess[1].ID}},
		{"by session id prefix", store.SessionFilter{Query: sess[0].ID[:len(sess[0].ID)-2]}, []string{sess[0].ID}},
		{"by one of its task ids", store.SessionFilter{Query: second.ID}, []string{sess[2].ID}},
		{"another tenant's session", store.SessionFilter{Query: theirs.ID}, nil},
		{"page", store.SessionFilter{Page: store.Page{Limit: 1, AfterAt: sess[2].CreatedAt, AfterID: sess[2].ID}}, []string{sess[1].ID}},
	}
	for _, c := range cases {
		if got := ids(list(c.f)); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
