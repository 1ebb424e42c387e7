package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/errandhq/errand/internal/task"
)

// A task's screenshots go with it: deleting its steps and the task (what
// a deletion of the task does) leaves no image behind.
func TestScreenshotsGoWithTheTask(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "errand.db")
	s := openAt(t, path)
	defer s.Close()
	sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
	tk := &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "x"}}
	if err := s.CreateSession(ctx, sess, tk); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.AppendStep(ctx, tk.ID, task.Step{N: i + 1, Action: "click", Screenshot: &task.Screenshot{JPEG: []byte{0xff, 0xd8, byte(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func() (n int) {
		t.Helper()
		if err := db.QueryRow(`SELECT count(*) FROM trace_shots WHERE task_id = ?`, tk.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d screenshots stored, want 3", n)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM steps WHERE task_id = ?`, `DELETE FROM tasks WHERE id = ?`} {
		if _, err := tx.Exec(q, tk.ID); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d screenshots outlive their task", n)
	}
}
