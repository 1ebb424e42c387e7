package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// CreateSession stores a session and, if first is not nil, its first task,
// queued and enqueued to run, in one transaction. first's SessionID,
// TenantID, Seq, Status and CreatedAt are set.
func (s *Store) CreateSession(ctx context.Context, sess task.Session, first *task.Task) error {
	now := s.now()
	if sess.State == "" {
		sess.State = task.SessionActive
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now
	}
	if sess.LastActive.IsZero() {
		sess.LastActive = sess.CreatedAt
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO sessions (id, tenant_id, state, created_at, last_active) VALUES ($1, $2, $3, $4, $5)`,
			sess.ID, sess.TenantID, sess.State, ts(sess.CreatedAt), ts(sess.LastActive))
		if isConstraint(err) {
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("postgres: create session: %w", err)
		}
		if first == nil {
			return nil
		}
		first.SessionID, first.TenantID = sess.ID, sess.TenantID
		return s.addTask(ctx, tx, first, now)
	})
}

// Session loads a session of a tenant.
func (s *Store) Session(ctx context.Context, tenantID, sessionID string) (store.SessionInfo, error) {
	var (
		info              store.SessionInfo
		created, lastSeen *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT id, tenant_id, state, created_at, last_active,
		       EXISTS (SELECT 1 FROM tasks t WHERE t.session_id = sessions.id AND t.status IN ($1, $2, $3))
		FROM sessions WHERE id = $4 AND tenant_id = $5`,
		task.StatusQueued, task.StatusRunning, task.StatusGuardrail, sessionID, tenantID,
	).Scan(&info.ID, &info.TenantID, &info.State, &created, &lastSeen, &info.Busy)
	if err != nil {
		return store.SessionInfo{}, notFound(err)
	}
	info.CreatedAt, info.LastActive = fromTS(created), fromTS(lastSeen)
	return info, nil
}

// lockSession reads a session's state and head inside tx and locks its row
// until tx ends. Every change to a session's head, its state or the status
// of one of its tasks that hands the run on takes this lock first, so two
// nodes acting on one session take turns, and always in the same order
// (session, then task), which rules out deadlocks between them.
func lockSession(ctx context.Context, tx pgx.Tx, sessionID string) (task.SessionState, *string, error) {
	var (
		state task.SessionState
		head  *string
	)
	err := tx.QueryRow(ctx, `SELECT state, head_task_id FROM sessions WHERE id = $1 FOR UPDATE`, sessionID).Scan(&state, &head)
	return state, head, notFound(err)
}

// SetSessionState pauses (task.SessionPaused) or resumes
// (task.SessionActive) a session. ErrConflict if it is terminated.
func (s *Store) SetSessionState(ctx context.Context, sessionID string, state task.SessionState, at time.Time) error {
	if state != task.SessionActive && state != task.SessionPaused {
		return fmt.Errorf("postgres: set session state %q: use TerminateSession to terminate", state)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		cur, _, err := lockSession(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if cur == task.SessionTerminated {
			return store.ErrConflict
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET state = $1, last_active = $2 WHERE id = $3`, state, ts(at), sessionID)
		return err
	})
}

// TouchSession records activity on a session.
func (s *Store) TouchSession(ctx context.Context, sessionID string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_active = $1 WHERE id = $2`, ts(at), sessionID)
	if err != nil {
		return fmt.Errorf("postgres: touch session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// TerminateSession marks a session terminated and returns its tasks that are
// not final, in order, for the caller to cancel. Its head, if any, keeps its
// run job: the runner finds the session terminated and cancels it (with the
// notification it owes), which in turn hands the run to the next task.
func (s *Store) TerminateSession(ctx context.Context, sessionID string, at time.Time) ([]task.Task, error) {
	var tasks []task.Task
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, _, err := lockSession(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if cur == task.SessionTerminated {
			return store.ErrConflict
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET state = $1, last_active = $2 WHERE id = $3`,
			task.SessionTerminated, ts(at), sessionID); err != nil {
			return err
		}
		tasks, err = activeTasks(ctx, tx, sessionID)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: terminate session: %w", err)
	}
	return tasks, nil
}
