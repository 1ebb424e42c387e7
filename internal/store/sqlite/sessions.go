package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO sessions (id, tenant_id, state, created_at, last_active) VALUES (?, ?, ?, ?, ?)`,
			sess.ID, sess.TenantID, sess.State, ms(sess.CreatedAt), ms(sess.LastActive))
		if isConstraint(err) {
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: create session: %w", err)
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
		created, lastSeen sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT id, tenant_id, state, created_at, last_active,
		       EXISTS (SELECT 1 FROM tasks t WHERE t.session_id = sessions.id AND t.status IN (?, ?, ?))
		FROM sessions WHERE id = ? AND tenant_id = ?`,
		task.StatusQueued, task.StatusRunning, task.StatusGuardrail, sessionID, tenantID,
	).Scan(&info.ID, &info.TenantID, &info.State, &created, &lastSeen, &info.Busy)
	if err != nil {
		return store.SessionInfo{}, notFound(err)
	}
	info.CreatedAt, info.LastActive = fromMS(created), fromMS(lastSeen)
	return info, nil
}

// sessionState reads a session's state and head inside tx.
func sessionState(ctx context.Context, tx *sql.Tx, sessionID string) (task.SessionState, sql.NullString, error) {
	var (
		state task.SessionState
		head  sql.NullString
	)
	err := tx.QueryRowContext(ctx, `SELECT state, head_task_id FROM sessions WHERE id = ?`, sessionID).Scan(&state, &head)
	return state, head, notFound(err)
}

// SetSessionState pauses (task.SessionPaused) or resumes
// (task.SessionActive) a session. ErrConflict if it is terminated.
func (s *Store) SetSessionState(ctx context.Context, sessionID string, state task.SessionState, at time.Time) error {
	if state != task.SessionActive && state != task.SessionPaused {
		return fmt.Errorf("sqlite: set session state %q: use TerminateSession to terminate", state)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		cur, _, err := sessionState(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if cur == task.SessionTerminated {
			return store.ErrConflict
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET state = ?, last_active = ? WHERE id = ?`, state, ms(at), sessionID)
		return err
	})
}

// TouchSession records activity on a session.
func (s *Store) TouchSession(ctx context.Context, sessionID string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_active = ? WHERE id = ?`, ms(at), sessionID)
	if err != nil {
		return fmt.Errorf("sqlite: touch session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, _, err := sessionState(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if cur == task.SessionTerminated {
			return store.ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET state = ?, last_active = ? WHERE id = ?`,
			task.SessionTerminated, ms(at), sessionID); err != nil {
			return err
		}
		tasks, err = activeTasks(ctx, tx, sessionID)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: terminate session: %w", err)
	}
	return tasks, nil
}
