package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// MigrationsCurrent is what readiness asks: current after Open, not after
// a migration was reverted behind the store's back, current again after
// Migrate.
func TestMigrationsCurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "errand.db")
	s := openAt(t, path)
	defer s.Close()
	if err := s.MigrationsCurrent(ctx); err != nil {
		t.Fatalf("after Open: %v", err)
	}

	// Another process forgets migration 002 (an old backup restored, say).
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
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
