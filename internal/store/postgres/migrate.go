package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
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
// Open calls it; it is exported for the migration tests. Several nodes may
// call it at once: they take turns, and the later ones find nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	changed := false
	err := s.withMigrateLock(ctx, func() error {
		if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		ms, err := migrations()
		if err != nil {
			return err
		}
		for _, m := range ms {
			// Each migration in its own transaction, recorded in it: a
			// failing one leaves the schema at the previous version.
			err := s.inTx(ctx, func(tx pgx.Tx) error {
				var n int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					return nil
				}
				if _, err := tx.Exec(ctx, m.Up); err != nil {
					return err
				}
				changed = true
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
					m.Version, ts(s.now()))
				return err
			})
			if err != nil {
				return fmt.Errorf("postgres: migration %03d_%s: %w", m.Version, m.Name, err)
			}
		}
		migrator, err := s.riverMigrator()
		if err != nil {
			return err
		}
		res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err != nil {
			return fmt.Errorf("postgres: river migrations: %w", err)
		}
		if len(res.Versions) > 0 {
			changed = true
		}
		return nil
	})
	if changed {
		s.forgetPlans()
	}
	return err
}

// forgetPlans drops the pool's connections after a schema change: pgx
// caches prepared statements per connection, and a statement prepared
// against a table that has since been dropped and made again fails
// ("cached plan must not change result type") instead of being re-planned.
func (s *Store) forgetPlans() {
	s.pool.Reset()
}

// MigrateDown reverts every migration, errand's and River's, leaving an
// empty database. For tests of the migrations; the store is unusable until
// Migrate runs again.
func (s *Store) MigrateDown(ctx context.Context) error {
	err := s.withMigrateLock(ctx, func() error {
		migrator, err := s.riverMigrator()
		if err != nil {
			return err
		}
		if _, err := migrator.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
			return fmt.Errorf("postgres: river migrations down: %w", err)
		}
		ms, err := migrations()
		if err != nil {
			return err
		}
		for i := len(ms) - 1; i >= 0; i-- {
			m := ms[i]
			err := s.inTx(ctx, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, m.Version)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return nil
				}
				_, err = tx.Exec(ctx, m.Down)
				return err
			})
			if err != nil {
				return fmt.Errorf("postgres: migration %03d_%s down: %w", m.Version, m.Name, err)
			}
		}
		if _, err := s.pool.Exec(ctx, `DROP TABLE schema_migrations`); err != nil {
			return fmt.Errorf("postgres: migrate down: %w", err)
		}
		return nil
	})
	s.forgetPlans()
	return err
}

func (s *Store) riverMigrator() (*rivermigrate.Migrator[pgx.Tx], error) {
	m, err := rivermigrate.New(riverpgxv5.New(s.pool), &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return nil, fmt.Errorf("postgres: river migrator: %w", err)
	}
	return m, nil
}

// migrateLockKey is the advisory lock that serializes migrations: nodes
// started together would otherwise race to apply the same step. The value
// is arbitrary, only unique among the advisory locks used on the database.
const migrateLockKey int64 = 0x65727261_6e64 // "errand"

// withMigrateLock runs fn while holding the migration lock on a connection
// of its own. fn's statements run on other connections of the pool: the
// lock is about who migrates, not about what the statements see.
func (s *Store) withMigrateLock(ctx context.Context, fn func() error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("postgres: migrate lock: %w", err)
	}
	// The lock is the session's: release it even if fn failed, or the
	// pooled connection would keep it and stall every later node.
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	}()
	return fn()
}

// MigrationsCurrent implements store.Store.
func (s *Store) MigrationsCurrent(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT version FROM schema_migrations`)
	var applied []int
	if err == nil {
		applied, err = pgx.CollectRows(rows, pgx.RowTo[int])
	}
	// No bookkeeping table (undefined_table): nothing is applied.
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P01") {
		return fmt.Errorf("postgres: read the applied migrations: %w", err)
	}
	migrator, err := s.riverMigrator()
	if err != nil {
		return err
	}
	res, err := migrator.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: check River's migrations: %w", err)
	}
	return migration.Check(ms, applied, res.Messages)
}
