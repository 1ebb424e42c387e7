// Package postgres is errand's shared store: sessions, tasks, deliveries and
// the River job queue in one PostgreSQL database, through pgx. Unlike the
// SQLite store it is meant to be shared: any number of errand nodes may open
// the same database at once, and every change that must not interleave
// between nodes (the head task of a session, a task's status) is guarded by
// row locks and conditional updates rather than by a process lock.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/queue"
)

// Config opens a store.
type Config struct {
	// URL is the database, e.g. postgres://user:pass@host:5432/errand.
	// Required.
	URL string
	// Now is the clock for times the caller does not give. Default
	// time.Now.
	Now func() time.Time
	// Logger receives River's warnings and errors. Default: stderr, warnings
	// and above.
	Logger *slog.Logger
	// MaxConns caps this node's connections to the database; River keeps
	// one of them for LISTEN and the rest serve fetches, completions and the
	// handlers' queries. Values below 4 are raised to 4. Default 20.
	MaxConns int32
	// Credentials is the nodes' key for webhook credentials: with it, the
	// store seals on opening whatever credentials it still holds in clear
	// (written before migration 003, or by a node without the key).
	// Default nil: they are left as they are.
	Credentials *seal.Box
}

// Default and least pool sizes (see Config.MaxConns).
const (
	DefaultMaxConns = 20
	minMaxConns     = 4
)

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	q      *queue.Queue[pgx.Tx]
	now    func() time.Time
	logger *slog.Logger
	creds  *seal.Box

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// closeStopTimeout bounds the stop of a queue left running at Close.
const closeStopTimeout = 5 * time.Second

// Open connects to the database at cfg.URL and applies pending migrations
// (errand's and River's). It leaves tasks and jobs marked running alone,
// unlike the SQLite store: here they may be running on another node right
// now. The tasks of dead nodes come back through RescueTasks, called by
// every node's reaper once their heartbeats go stale; their River jobs,
// later, through River's rescuer (store.QueueConfig's RescueAfter), and then
// find their task done or running elsewhere.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: empty URL")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Migrate holds one connection for its lock while River's migrator
	// takes another, and River's listener keeps one for good: fewer than
	// four starves the queue.
	poolCfg.MaxConns = max(cfg.MaxConns, minMaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, now: cfg.Now, logger: cfg.Logger, creds: cfg.Credentials}
	if err := s.open(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	if s.creds != nil {
		if err := s.sealClearCredentials(ctx); err != nil {
			return err
		}
	}
	// Not PollOnly: River LISTENs, so a job inserted on any node wakes the
	// workers of every node at once.
	q, err := queue.New(riverpgxv5.New(s.pool), queue.Config{Logger: s.logger, PollOnly: false})
	if err != nil {
		return err
	}
	s.q = q
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Close closes the pool. Call StopQueue first to choose how long running
// jobs may take; a queue still running is stopped here, briefly, so that it
// never works on a closed pool. Close may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.q != nil {
			ctx, cancel := context.WithTimeout(context.Background(), closeStopTimeout)
			defer cancel()
			if err := s.q.StopQueue(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				s.closeErr = err
			}
		}
		s.pool.Close()
	})
	return s.closeErr
}

// StartQueue starts working jobs with h until StopQueue.
func (s *Store) StartQueue(ctx context.Context, h store.Handlers, cfg store.QueueConfig) error {
	return s.q.StartQueue(ctx, h, cfg)
}

// StopQueue stops working jobs; see store.Store.
func (s *Store) StopQueue(ctx context.Context) error {
	return s.q.StopQueue(ctx)
}

// inTx runs fn in a transaction, committed if fn returns nil. The isolation
// level is PostgreSQL's default, read committed: what must not interleave
// takes row locks explicitly (lockSession) or is one conditional statement.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// querier is what the pool and a transaction share, so reads work in and
// out of a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// rowTo makes a row scanner usable by pgx.CollectRows.
func rowTo[T any](scan func(pgx.Row) (T, error)) pgx.RowToFunc[T] {
	return func(row pgx.CollectableRow) (T, error) { return scan(row) }
}

// ts stores a time to the millisecond, the precision the SQLite store keeps,
// so that both stores answer the same times; the zero time as NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Truncate(time.Millisecond)
}

// fromTS reads a time stored by ts, in UTC as the SQLite store answers it
// (pgx answers times in the local zone).
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// isConstraint reports an integrity constraint violation (SQLSTATE class
// 23: unique, foreign key, not null, check).
func isConstraint(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "23"
}

// notFound turns pgx.ErrNoRows into store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
