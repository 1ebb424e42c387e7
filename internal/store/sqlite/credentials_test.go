package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store/storetest"
)

// Credentials stored in clear before migration 003 are sealed when a store
// with the key opens: afterwards neither the database file nor its WAL
// holds them, and the store gives them back sealed, opening to what was
// stored.
func TestMigration003SealsExistingRows(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "errand.db")
	// A store written in clear, then taken back to 002 as if it were from
	// before this migration.
	s := openAt(t, path)
	c := storetest.WriteClear(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	down, err := os.ReadFile("migrations/003_sealed_credentials.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(down), `DELETE FROM schema_migrations WHERE version = 3`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if found := inFiles(t, dir, c.Values); len(found) != len(c.Values) {
		t.Fatalf("the store written in clear shows only %v of %v: the scan cannot see them", found, c.Values)
	}

	box := seal.NewRandom()
	s = openWith(t, path, storetest.Options{Credentials: box})
	storetest.CheckSealed(t, s, box, c)
	// While the store is open (WAL included) and after it closed.
	if found := inFiles(t, dir, c.Values); len(found) > 0 {
		t.Fatalf("the store's files still hold %v in clear", found)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if found := inFiles(t, dir, c.Values); len(found) > 0 {
		t.Fatalf("the closed store's files still hold %v in clear", found)
	}
}

// inFiles lists the values found in any file of dir.
func inFiles(t *testing.T, dir string, values []string) []string {
	t.Helper()
	var all strings.Builder
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	var found []string
	for _, v := range values {
		if strings.Contains(all.String(), v) {
			found = append(found, v)
		}
	}
	return found
}
