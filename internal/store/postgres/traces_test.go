package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/task"
)

// A task's screenshots go with it: deleting its steps and the task (what
// a deletion of the task does) leaves no image behind.
func TestScreenshotsGoWithTheTask(t *testing.T) {
	ctx := context.Background()
	url := pg.NewDatabase(t)
	s := openURL(t, url)
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
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func() (n int) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM trace_shots WHERE task_id = $1`, tk.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d screenshots stored, want 3", n)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM steps WHERE task_id = $1`, tk.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM tasks WHERE id = $1`, tk.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d screenshots outlive their task", n)
	}
}
