// Package sqlite is errand's embedded store: sessions, tasks, deliveries and
// the River job queue in one SQLite file, in pure Go (modernc.org/sqlite, no
// cgo). One store belongs to exactly one process, which an exclusive lock
// file next to the database enforces.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/queue"
)

// ErrLocked: the store is held by another process (or another Open in this
// one).
var ErrLocked = errors.New("sqlite: store locked")

// Config opens a store.
type Config struct {
	// Path is the database file, e.g. <data>/errand.db. Its folder must
	// exist. Required.
	Path string
	// Now is the clock for times the caller does not give. Default
	// time.Now.
	Now func() time.Time
	// Logger receives River's warnings and errors. Default: stderr, warnings
	// and above.
	Logger *slog.Logger
	// Credentials is the nodes' key for webhook credentials: with it, the
	// store seals on opening whatever credentials it still holds in clear
	// (written before migration 003, or while no key was given). Default
	// nil: they are left as they are.
	Credentials *seal.Box
}

// Store is a store.Store on SQLite.
type Store struct {
	db     *sql.DB
	lock   *os.File
	q      *queue.Queue[*sql.Tx]
	now    func() time.Time
	logger *slog.Logger
	creds  *seal.Box

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// closeStopTimeout bounds the stop of a queue left running at Close.
const closeStopTimeout = 5 * time.Second

// busyTimeout is how long a connection waits for another writer. With one
// connection in this process and the lock file keeping other processes out,
// only outside tools (a backup, the sqlite3 shell) can hold the lock.
const busyTimeout = 10 * time.Second

// Open opens (creating if needed) the store at cfg.Path, takes its lock,
// applies pending migrations (errand's and River's) and hands jobs left
// running by a crashed process back to the queue.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	lock, err := lockFile(cfg.Path + ".lock")
	if err != nil {
		return nil, err
	}
	s := &Store{lock: lock, now: cfg.Now, logger: cfg.Logger, creds: cfg.Credentials}
	if err := s.open(ctx, cfg.Path); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, path string) error {
	// WAL lets readers (the API) proceed while a writer commits;
	// synchronous=NORMAL is durable across process crashes in WAL mode and
	// only risks the last commits on power loss, in exchange for not
	// fsyncing every commit. _txlock=immediate takes the write lock at BEGIN,
	// so a transaction never fails half-way upgrading a read lock.
	dsn := path + "?_pragma=journal_mode(WAL)" +
		fmt.Sprintf("&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()) +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	// Prepared statements are cached per connection (see stmtcache.go).
	db := sql.OpenDB(cachingConnector{dsn: dsn, drv: &sqlite.Driver{}})
	s.db = db
	// One connection, as River advises for SQLite: River runs fetches,
	// completions and maintenance in parallel and SQLite has one writer, so
	// more connections only trade queueing in database/sql (FIFO, no
	// sleeping) for SQLite's busy handler (sleep and retry), which measured
	// slower (see BenchmarkRunTasks). It also rules out SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	if s.creds != nil {
		if err := s.sealClearCredentials(ctx); err != nil {
			return err
		}
	}
	// The queue comes before recover, which may enqueue run jobs.
	q, err := queue.New(riversqlite.New(db), queue.Config{Logger: s.logger, PollOnly: true})
	if err != nil {
		return err
	}
	s.q = q
	return s.recover(ctx)
}

// recover hands back what a killed process left behind. The lock file
// guarantees no other process uses this database, so a job still marked
// running was running in a process that is gone: making it available now
// resumes the work at once, where River's rescuer would wait RescueAfter
// (plus the task's maxDuration). Likewise the dead process's leadership is
// dropped so that this process leads (schedules retries, rescues) at once
// rather than after the old lease expires.
//
// The run jobs offered to one node (queue.NodeQueue) are moved to the
// shared queue: the node they waited for was this database's previous
// process, gone with its browser contexts, and this process may run under
// another node id, whose queue would never take them. Left there, such a job
// would still count as the live job of its task below, and the task would
// wait for it forever.
//
// For the same reason a task still marked running has no runner any more:
// it is queued again now rather than after its heartbeat goes stale
// (RescueTasks). Its run job is normally among those just made available;
// one is enqueued only for a task that has none left to run it (its job
// ended while the task was running), so that the session's head is never
// queued without a job.
func (s *Store) recover(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE river_job SET state = 'available' WHERE state = 'running'`); err != nil {
			return fmt.Errorf("sqlite: recover jobs: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE river_job SET queue = ?
			WHERE kind = ? AND queue <> ?
				AND state IN ('available', 'pending', 'retryable', 'scheduled')`,
			queue.QueueTasks, queue.KindRunTask, queue.QueueTasks); err != nil {
			return fmt.Errorf("sqlite: recover node jobs: %w", err)
		}
		if _, err := s.requeueRunning(ctx, tx, math.MaxInt64, false); err != nil {
			return fmt.Errorf("sqlite: recover tasks: %w", err)
		}
		// Deliveries leased by the dead process are due again now.
		if _, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET lease_owner = '', lease_until = 0 WHERE lease_owner <> ''`); err != nil {
			return fmt.Errorf("sqlite: recover deliveries: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM river_leader`); err != nil {
			return fmt.Errorf("sqlite: recover leader: %w", err)
		}
		return nil
	})
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.PingContext(ctx)
}

// Close closes the database and releases the lock. Call StopQueue first to
// choose how long running jobs may take; a queue still running is stopped
// here, briefly, so that it never works on a closed database. Close may be
// called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.q != nil {
			ctx, cancel := context.WithTimeout(context.Background(), closeStopTimeout)
			defer cancel()
			if err := s.q.StopQueue(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, err)
			}
		}
		if s.db != nil {
			errs = append(errs, s.db.Close())
		}
		if s.lock != nil {
			errs = append(errs, unlockFile(s.lock))
		}
		s.closeErr = errors.Join(errs...)
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

// inTx runs fn in a transaction, committed if fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// ms stores a time as unix milliseconds; the zero time as NULL.
func ms(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromMS reads a time stored by ms.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// isConstraint reports a UNIQUE / PRIMARY KEY / FOREIGN KEY violation.
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// notFound turns sql.ErrNoRows into store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
