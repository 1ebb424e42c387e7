package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// MigrationsCurrent is what readiness asks: current after Open, not after
// a migration was reverted behind the store's back, current again after
// Migrate.
func TestMigrationsCurrent(t *testing.T) {
	ctx := context.Background()
	url := pg.NewDatabase(t)
	s := openURL(t, url)
	defer s.Close()
	if err := s.MigrationsCurrent(ctx); err != nil {
		t.Fatalf("after Open: %v", err)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM schema_migrations WHERE version = 2`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	err = s.MigrationsCurrent(ctx)
	if err == nil || !strings.Contains(err.Error(), "unapplied migrations 002") {
		t.Fatalf("with 002 missing: %v", err)
	}

	if err := s.MigrateDown(ctx); err != nil {
		t.Fatal(err)
	}
	err = s.MigrationsCurrent(ctx)
	if err == nil || !strings.Contains(err.Error(), "001") || !strings.Contains(err.Error(), "River") {
		t.Fatalf("after MigrateDown: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.MigrationsCurrent(ctx); err != nil {
		t.Fatalf("after Migrate: %v", err)
	}
}
