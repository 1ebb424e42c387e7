package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/task"
)

// tables lists the tables of the database at url, in its current schema.
func tables(t *testing.T, url string) []string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestMigrationsUpDownUp(t *testing.T) {
	ctx := context.Background()
	url := pg.NewDatabase(t)
	s := openURL(t, url)
	defer s.Close()

	up := tables(t, url)
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
	if left := tables(t, url); len(left) != 0 {
		t.Fatalf("after MigrateDown, tables remain: %v", left)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if again := tables(t, url); !slices.Equal(again, up) {
		t.Fatalf("tables after up/down/up = %v, want %v", again, up)
	}
	mustCreate() // the schema works, River's included (the task enqueues a job)

	// Reopening finds everything applied and applies nothing twice.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openURL(t, url)
	mustCreate()
}

// TestNodesMigrateAtOnce: nodes started together on an empty database take
// turns migrating instead of failing on each other's half-made schema.
func TestNodesMigrateAtOnce(t *testing.T) {
	url := pg.NewDatabase(t)
	const nodes = 4
	errs := make(chan error, nodes)
	for range nodes {
		go func() {
			s, err := openStore(url)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("Open at once: %v", err)
		}
	}
}
