package postgres_test

import (
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store/pgtest"
	"github.com/errandhq/errand/internal/store/storetest"
)

// Credentials stored in clear before migration 003 are sealed when a node
// with the key opens the database: afterwards no table holds them, and the
// store gives them back sealed, opening to what was stored.
func TestMigration003SealsExistingRows(t *testing.T) {
	ctx := t.Context()
	url := pg.NewDatabase(t)
	// A database written in clear, then taken back to 002 as if it were
	// from before this migration.
	s := openURL(t, url)
	c := storetest.WriteClear(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	down, err := os.ReadFile("migrations/003_sealed_credentials.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{string(down), `DELETE FROM schema_migrations WHERE version = 3`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if found := found(pgtest.Dump(t, url), c.Values); len(found) != len(c.Values) {
		t.Fatalf("the database written in clear shows only %v of %v: the scan cannot see them", found, c.Values)
	}

	box := seal.NewRandom()
	s = openURLWith(t, url, storetest.Options{Credentials: box})
	defer s.Close()
	storetest.CheckSealed(t, s, box, c)
	if found := found(pgtest.Dump(t, url), c.Values); len(found) > 0 {
		t.Fatalf("the tables still hold %v in clear", found)
	}
}

// found lists the values that text holds.
func found(text string, values []string) []string {
	var out []string
	for _, v := range values {
		if strings.Contains(text, v) {
			out = append(out, v)
		}
	}
	return out
}
