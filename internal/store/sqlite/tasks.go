package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/queue"
	"github.com/errandhq/errand/internal/task"
)

// querier is what *sql.DB and *sql.Tx share, so reads work in and out of a
// transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const taskColumns = `id, session_id, tenant_id, seq, spec, status, message, network,
	input_tokens, output_tokens, compute_time, cost, error_code, error_message,
	question, answer, cancel_requested, attempts, created_at, started_at, ended_at`

// scanTask reads one row of taskColumns.
func scanTask(row interface{ Scan(...any) error }) (task.Task, error) {
	var (
		t                       task.Task
		spec, network           string
		created, started, ended sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.SessionID, &t.TenantID, &t.Seq, &spec, &t.Status, &t.Message, &network,
		&t.Usage.InputTokens, &t.Usage.OutputTokens, &t.Usage.ComputeTime, &t.Usage.Cost,
		&t.ErrorCode, &t.ErrorMessage, &t.Question, &t.Answer, &t.CancelRequested, &t.Attempts,
		&created, &started, &ended)
	if err != nil {
		return task.Task{}, notFound(err)
	}
	if err := json.Unmarshal([]byte(spec), &t.Spec); err != nil {
		return task.Task{}, fmt.Errorf("sqlite: task %s spec: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(network), &t.Network); err != nil {
		return task.Task{}, fmt.Errorf("sqlite: task %s network: %w", t.ID, err)
	}
	t.CreatedAt, t.StartedAt, t.EndedAt = fromMS(created), fromMS(started), fromMS(ended)
	return t, nil
}

func loadTask(ctx context.Context, q querier, taskID string) (task.Task, error) {
	return scanTask(q.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ?`, taskID))
}

// AddTask queues t at the end of its session; see store.Store. t's Seq,
// Status (and CreatedAt if zero) are set.
func (s *Store) AddTask(ctx context.Context, t *task.Task) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return s.addTask(ctx, tx, t, s.now())
	})
}

func (s *Store) addTask(ctx context.Context, tx *sql.Tx, t *task.Task, now time.Time) error {
	state, head, err := sessionState(ctx, tx, t.SessionID)
	if err != nil {
		return err
	}
	if state == task.SessionTerminated {
		return store.ErrConflict
	}
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM tasks WHERE session_id = ?`,
		t.SessionID).Scan(&t.Seq); err != nil {
		return fmt.Errorf("sqlite: add task: %w", err)
	}
	t.Status = task.StatusQueued
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	spec, err := json.Marshal(t.Spec)
	if err != nil {
		return fmt.Errorf("sqlite: add task: spec: %w", err)
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO tasks (id, session_id, tenant_id, seq, spec, status, created_at)
		SELECT ?, id, tenant_id, ?, ?, ?, ? FROM sessions WHERE id = ?`,
		t.ID, t.Seq, string(spec), t.Status, ms(t.CreatedAt), t.SessionID)
	if isConstraint(err) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: add task: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_active = max(last_active, ?) WHERE id = ?`,
		ms(t.CreatedAt), t.SessionID); err != nil {
		return fmt.Errorf("sqlite: add task: %w", err)
	}
	if head.Valid {
		return nil // the head's end hands the run on, in seq order
	}
	return s.advance(ctx, tx, t.SessionID)
}

// advance makes the session's first queued task its head and enqueues its
// run, or leaves the session without a head when nothing is queued. It is
// the only place a run job is enqueued for a new head, always in the
// transaction that changed the session, so "one run job per session, in
// seq order" survives crashes.
func (s *Store) advance(ctx context.Context, tx *sql.Tx, sessionID string) error {
	var (
		next        sql.NullString
		maxDuration int64
	)
	err := tx.QueryRowContext(ctx, `
		SELECT id, coalesce(json_extract(spec, '$.maxDuration'), 0) FROM tasks
		WHERE session_id = ? AND status = ? ORDER BY seq LIMIT 1`,
		sessionID, task.StatusQueued).Scan(&next, &maxDuration)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: next task: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET head_task_id = ? WHERE id = ?`, next, sessionID); err != nil {
		return fmt.Errorf("sqlite: set head: %w", err)
	}
	if !next.Valid {
		return nil
	}
	return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{TaskID: next.String, MaxDuration: time.Duration(maxDuration)})
}

// Task loads a task of a tenant's session.
func (s *Store) Task(ctx context.Context, tenantID, sessionID, taskID string) (task.Task, error) {
	return scanTask(s.db.QueryRowContext(ctx,
		`SELECT `+taskColumns+` FROM tasks WHERE id = ? AND session_id = ? AND tenant_id = ?`,
		taskID, sessionID, tenantID))
}

// TaskByID loads a task whatever its tenant.
func (s *Store) TaskByID(ctx context.Context, taskID string) (task.Task, error) {
	return loadTask(ctx, s.db, taskID)
}

// ActiveTasks lists a session's tasks that are not final, in order.
func (s *Store) ActiveTasks(ctx context.Context, sessionID string) ([]task.Task, error) {
	return activeTasks(ctx, s.db, sessionID)
}

func activeTasks(ctx context.Context, q querier, sessionID string) ([]task.Task, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE session_id = ? AND status IN (?, ?, ?) ORDER BY seq`,
		sessionID, task.StatusQueued, task.StatusRunning, task.StatusGuardrail)
	if err != nil {
		return nil, fmt.Errorf("sqlite: active tasks: %w", err)
	}
	defer rows.Close()
	var out []task.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// StartTask moves a queued task to running, or counts one more run of a task
// whose previous runner died; see store.Store. A queued task of a terminated
// session does not start (ErrConflict).
func (s *Store) StartTask(ctx context.Context, taskID string, at time.Time) (task.Task, error) {
	var t task.Task
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			status task.Status
			state  task.SessionState
		)
		err := tx.QueryRowContext(ctx, `
			SELECT t.status, s.state FROM tasks t JOIN sessions s ON s.id = t.session_id WHERE t.id = ?`,
			taskID).Scan(&status, &state)
		if err != nil {
			return notFound(err)
		}
		switch {
		case status == task.StatusQueued && state != task.SessionTerminated:
			_, err = tx.ExecContext(ctx, `UPDATE tasks SET status = ?, attempts = attempts + 1,
				started_at = coalesce(started_at, ?) WHERE id = ?`, task.StatusRunning, ms(at), taskID)
		case status == task.StatusRunning:
			_, err = tx.ExecContext(ctx, `UPDATE tasks SET attempts = attempts + 1 WHERE id = ?`, taskID)
		default:
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: start task: %w", err)
		}
		t, err = loadTask(ctx, tx, taskID)
		return err
	})
	return t, err
}

// RequestCancel flags a task so its runner stops it.
func (s *Store) RequestCancel(ctx context.Context, taskID string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE tasks SET cancel_requested = 1 WHERE id = ?`, taskID)
	if err != nil {
		return fmt.Errorf("sqlite: request cancel: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// FinishTask ends a run of a task; see store.FinishParams. In one
// transaction: the task's new state, its deliveries and their jobs, and, when
// the task was its session's head and is now final, the run of the next
// queued task.
func (s *Store) FinishTask(ctx context.Context, p store.FinishParams) error {
	if p.At.IsZero() {
		p.At = s.now()
	}
	status := p.Outcome.Status()
	network := p.Outcome.Network
	if network == nil {
		network = []task.NetworkURL{}
	}
	networkJSON, err := json.Marshal(network)
	if err != nil {
		return fmt.Errorf("sqlite: finish task: network: %w", err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			cur       task.Status
			sessionID string
			tenantID  string
			head      sql.NullString
		)
		err := tx.QueryRowContext(ctx, `
			SELECT t.status, t.session_id, t.tenant_id, s.head_task_id
			FROM tasks t JOIN sessions s ON s.id = t.session_id WHERE t.id = ?`,
			p.TaskID).Scan(&cur, &sessionID, &tenantID, &head)
		if err != nil {
			return notFound(err)
		}
		if cur.Final() {
			return store.ErrConflict
		}
		var ended sql.NullInt64
		if status.Final() {
			ended = ms(p.At)
		}
		u := p.Outcome.Usage
		// A new question clears the answer to the previous one; a final
		// outcome keeps both, as history.
		_, err = tx.ExecContext(ctx, `
			UPDATE tasks SET status = ?, message = ?, network = ?,
				input_tokens = ?, output_tokens = ?, compute_time = ?, cost = ?,
				error_code = ?, error_message = ?,
				question = CASE WHEN ? <> '' THEN ? ELSE question END,
				answer = CASE WHEN ? <> '' THEN '' ELSE answer END,
				ended_at = ?
			WHERE id = ?`,
			status, p.Outcome.Message, string(networkJSON),
			u.InputTokens, u.OutputTokens, u.ComputeTime, u.Cost,
			p.Outcome.Code, p.Outcome.Error,
			p.Outcome.Question, p.Outcome.Question, p.Outcome.Question,
			ended, p.TaskID)
		if err != nil {
			return fmt.Errorf("sqlite: finish task: %w", err)
		}
		for _, d := range p.Deliveries {
			if d.TaskID == "" {
				d.TaskID = p.TaskID
			}
			if d.SessionID == "" {
				d.SessionID = sessionID
			}
			if d.TenantID == "" {
				d.TenantID = tenantID
			}
			if d.CreatedAt.IsZero() {
				d.CreatedAt = p.At
			}
			if err := s.insertDelivery(ctx, tx, d); err != nil {
				return err
			}
		}
		if p.TerminateSession {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET state = ? WHERE id = ?`,
				task.SessionTerminated, sessionID); err != nil {
				return fmt.Errorf("sqlite: finish task: terminate: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_active = max(last_active, ?) WHERE id = ?`,
			ms(p.At), sessionID); err != nil {
			return fmt.Errorf("sqlite: finish task: %w", err)
		}
		// A task waiting for a human stays the head: the session's later
		// tasks wait for its answer. A final head hands the run on, even in
		// a terminated session: the runner then cancels the next task with
		// the notification it owes, and so on down the queue.
		if status.Final() && head.Valid && head.String == p.TaskID {
			return s.advance(ctx, tx, sessionID)
		}
		return nil
	})
}

// AnswerGuardrail gives a task waiting for a human its answer and queues it
// to run again, as its session's head.
func (s *Store) AnswerGuardrail(ctx context.Context, taskID, answer string, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			status      task.Status
			sessionID   string
			state       task.SessionState
			head        sql.NullString
			maxDuration int64
		)
		err := tx.QueryRowContext(ctx, `
			SELECT t.status, t.session_id, s.state, s.head_task_id,
			       coalesce(json_extract(t.spec, '$.maxDuration'), 0)
			FROM tasks t JOIN sessions s ON s.id = t.session_id WHERE t.id = ?`,
			taskID).Scan(&status, &sessionID, &state, &head, &maxDuration)
		if err != nil {
			return notFound(err)
		}
		if status != task.StatusGuardrail || state == task.SessionTerminated {
			return store.ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET status = ?, answer = ? WHERE id = ?`,
			task.StatusQueued, answer, taskID); err != nil {
			return fmt.Errorf("sqlite: answer guardrail: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_active = max(last_active, ?) WHERE id = ?`,
			ms(at), sessionID); err != nil {
			return fmt.Errorf("sqlite: answer guardrail: %w", err)
		}
		if head.Valid && head.String != taskID {
			// Another task holds the run (only possible if this one was
			// not the head when it asked); this one runs in its turn.
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET head_task_id = ? WHERE id = ?`, taskID, sessionID); err != nil {
			return fmt.Errorf("sqlite: answer guardrail: %w", err)
		}
		return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{TaskID: taskID, MaxDuration: time.Duration(maxDuration)})
	})
}

// AppendStep records one agent step of a task.
func (s *Store) AppendStep(ctx context.Context, taskID string, st task.Step) error {
	var args sql.NullString
	if len(st.Args) > 0 {
		args = sql.NullString{String: string(st.Args), Valid: true}
	}
	if st.At.IsZero() {
		st.At = s.now()
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO steps (task_id, n, action, args, url, input_tokens, output_tokens, duration_ms, error, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		taskID, st.N, st.Action, args, st.URL, st.InputTokens, st.OutputTokens, st.DurationMs, st.Error, ms(st.At))
	if isConstraint(err) {
		return store.ErrNotFound // no such task (foreign key)
	}
	if err != nil {
		return fmt.Errorf("sqlite: append step: %w", err)
	}
	return nil
}

// Steps lists a task's steps in the order they were recorded.
func (s *Store) Steps(ctx context.Context, taskID string) ([]task.Step, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT n, action, args, url, input_tokens, output_tokens, duration_ms, error, at
		FROM steps WHERE task_id = ? ORDER BY id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: steps: %w", err)
	}
	defer rows.Close()
	var out []task.Step
	for rows.Next() {
		var (
			st   task.Step
			args sql.NullString
			at   sql.NullInt64
		)
		if err := rows.Scan(&st.N, &st.Action, &args, &st.URL, &st.InputTokens, &st.OutputTokens,
			&st.DurationMs, &st.Error, &at); err != nil {
			return nil, fmt.Errorf("sqlite: steps: %w", err)
		}
		if args.Valid {
			st.Args = json.RawMessage(args.String)
		}
		st.At = fromMS(at)
		out = append(out, st)
	}
	return out, rows.Err()
}
