package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/errandhq/errand/internal/store/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations reads migrations/NNN_name.{up,down}.sql, in version order.
func migrations() ([]migration.Migration, error) {
	return migration.Load(migrationFS, "migrations")
}

// Migrate applies the migrations not applied yet, errand's and River's.
// Open calls it; it is exported for the migration tests.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		// Each migration in its own transaction, recorded in it: a
		// failing one leaves the schema at the previous version.
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.Up); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, s.now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %03d_%s: %w", m.Version, m.Name, err)
		}
	}
	migrator, err := s.riverMigrator()
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("sqlite: river migrations: %w", err)
	}
	return nil
}

// MigrateDown reverts every migration, errand's and River's, leaving an
// empty database. For tests of the migrations; the store is unusable until
// Migrate runs again.
func (s *Store) MigrateDown(ctx context.Context) error {
	migrator, err := s.riverMigrator()
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
		return fmt.Errorf("sqlite: river migrations down: %w", err)
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = ?`, m.Version)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			_, err = tx.ExecContext(ctx, m.Down)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %03d_%s down: %w", m.Version, m.Name, err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `DROP TABLE schema_migrations`); err != nil {
		return fmt.Errorf("sqlite: migrate down: %w", err)
	}
	return nil
}

func (s *Store) riverMigrator() (*rivermigrate.Migrator[*sql.Tx], error) {
	m, err := rivermigrate.New(riversqlite.New(s.db), &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return nil, fmt.Errorf("sqlite: river migrator: %w", err)
	}
	return m, nil
}

// MigrationsCurrent implements store.Store.
func (s *Store) MigrationsCurrent(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	applied, err := queryAll(ctx, s.db, scanValue[int], `SELECT version FROM schema_migrations`)
	// No bookkeeping table: nothing is applied.
	if err != nil && !strings.Contains(err.Error(), "no such table") {
		return fmt.Errorf("sqlite: read the applied migrations: %w", err)
	}
	migrator, err := s.riverMigrator()
	if err != nil {
		return err
	}
	res, err := migrator.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: check River's migrations: %w", err)
	}
	return migration.Check(ms, applied, res.Messages)
}
