package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/errandhq/errand/internal/task"
)

// tables lists the tables of the database at path, SQLite's own aside.
func tables(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestMigrationsUpDownUp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "errand.db")
	s := openAt(t, path)
	defer s.Close()

	up := tables(t, path)
	for _, want := range []string{"api_keys", "sessions", "tasks", "steps", "deliveries", "delivery_attempts", "trace_shots", "schema_migrations", "river_job", "river_migration"} {
		if !slices.Contains(up, want) {
			t.Fatalf("after Open, table %s is missing: %v", want, up)
		}
	}
	mustCreate := func() {
		t.Helper()
		sess := task.Session{ID: task.NewID("sess"), TenantID: "ten_a", State: task.SessionActive}
		first := &task.Task{ID: task.NewID("task"), Spec: task.Spec{TaskDetails: "x"}}
		if err := s.CreateSession(ctx, sess, first); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	mustCreate()

	if err := s.MigrateDown(ctx); err != nil {
		t.Fatalf("MigrateDown: %v", err)
	}
	if left := tables(t, path); len(left) != 0 {
		t.Fatalf("after MigrateDown, tables remain: %v", left)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if again := tables(t, path); !slices.Equal(again, up) {
		t.Fatalf("tables after up/down/up = %v, want %v", again, up)
	}
	mustCreate() // the schema works, River's included (the task enqueues a job)

	// Reopening finds everything applied and applies nothing twice.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	mustCreate()
}
