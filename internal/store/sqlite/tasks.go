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
	question, answer, cancel_requested, attempts, created_at, started_at, ended_at, sealed_secrets`

// scanTask reads one row of taskColumns.
func scanTask(row scanner) (task.Task, error) {
	var (
		t                       task.Task
		spec, network           string
		created, started, ended sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.SessionID, &t.TenantID, &t.Seq, &spec, &t.Status, &t.Message, &network,
		&t.Usage.InputTokens, &t.Usage.OutputTokens, &t.Usage.ComputeTime, &t.Usage.Cost,
		&t.ErrorCode, &t.ErrorMessage, &t.Question, &t.Answer, &t.CancelRequested, &t.Attempts,
		&created, &started, &ended, &t.SealedSecrets)
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
		INSERT INTO tasks (id, session_id, tenant_id, seq, spec, status, created_at, sealed_secrets, webhook_in_clear)
		SELECT ?, id, tenant_id, ?, ?, ?, ?, ?, ? FROM sessions WHERE id = ?`,
		t.ID, t.Seq, string(spec), t.Status, ms(t.CreatedAt), t.SealedSecrets, t.Spec.Webhook.CredentialsInClear(), t.SessionID)
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
// the only place a run is enqueued for a new head, always in the
// transaction that changed the session, so "run jobs for one task per
// session, in seq order" survives crashes. The run prefers the session's
// last runner, where its browser context is; with one node that is this
// process, which works its own queue (unless it restarted under another
// node id: then the run waits the queue's AffinityWait).
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
	var lastRunner string
	if err := tx.QueryRowContext(ctx, `UPDATE sessions SET head_task_id = ? WHERE id = ? RETURNING last_runner`,
		next, sessionID).Scan(&lastRunner); err != nil {
		return fmt.Errorf("sqlite: set head: %w", err)
	}
	if !next.Valid {
		return nil
	}
	return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{
		TaskID: next.String, MaxDuration: time.Duration(maxDuration), Prefer: lastRunner,
	})
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
	out, err := queryAll(ctx, q, scanTask, `SELECT `+taskColumns+` FROM tasks
		WHERE session_id = ? AND status IN (?, ?, ?) ORDER BY seq`,
		sessionID, task.StatusQueued, task.StatusRunning, task.StatusGuardrail)
	if err != nil {
		return nil, fmt.Errorf("sqlite: active tasks: %w", err)
	}
	return out, nil
}

// StartTask moves a queued task to running on runner; see store.Store. A
// queued task of a terminated session does not start (ErrConflict).
//
// A running task is refused too, whoever runs it: only RescueTasks (or
// recover, at Open) hands a running task back, so a second run job of the
// task cannot start it while it runs. The change is one conditional UPDATE,
// the same check-and-set as the PostgreSQL store's, rather than a read
// then a write that only the single connection keeps apart. The session's
// last runner is read and replaced in the same transaction, which holds
// SQLite's write lock from BEGIN (_txlock=immediate): no other start of the
// session's tasks can come between.
func (s *Store) StartTask(ctx context.Context, taskID, runner string, at time.Time) (task.Task, error) {
	var t task.Task
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE tasks SET status = ?, runner = ?, heartbeat_at = ?, attempts = attempts + 1,
				started_at = coalesce(started_at, ?)
			WHERE id = ? AND status = ?
				AND (SELECT state FROM sessions WHERE sessions.id = tasks.session_id) <> ?`,
			task.StatusRunning, runner, ms(at), ms(at), taskID, task.StatusQueued, task.SessionTerminated)
		if err != nil {
			return fmt.Errorf("sqlite: start task: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tasks WHERE id = ?`, taskID).Scan(&one); err != nil {
				return notFound(err)
			}
			return store.ErrConflict // it exists, in another state
		}
		t, err = loadTask(ctx, tx, taskID)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT last_runner FROM sessions WHERE id = ?`,
			t.SessionID).Scan(&t.PreviousRunner); err != nil {
			return fmt.Errorf("sqlite: start task: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_runner = ? WHERE id = ?`,
			runner, t.SessionID); err != nil {
			return fmt.Errorf("sqlite: start task: %w", err)
		}
		return nil
	})
	return t, err
}

// HeartbeatTasks renews runner's lease on the given tasks and returns
// those no longer running on runner (rescued, then perhaps started by
// another node; ended; unknown): the old runner's word no longer counts for
// them, see store.Store.
func (s *Store) HeartbeatTasks(ctx context.Context, runner string, taskIDs []string, at time.Time) ([]string, error) {
	if len(taskIDs) == 0 {
		return nil, nil
	}
	ids, err := json.Marshal(taskIDs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: heartbeat: %w", err)
	}
	// The ids come as one JSON array, so that one statement serves any
	// number of tasks.
	kept, err := queryAll(ctx, s.db, scanValue[string], `
		UPDATE tasks SET heartbeat_at = ?
		WHERE id IN (SELECT value FROM json_each(?)) AND runner = ? AND status = 'running'
		RETURNING id`,
		ms(at), string(ids), runner)
	if err != nil {
		return nil, fmt.Errorf("sqlite: heartbeat: %w", err)
	}
	return store.Lost(taskIDs, kept), nil
}

// ReleaseTask queues a task runner is running again, with a new run job;
// see store.Store.
func (s *Store) ReleaseTask(ctx context.Context, taskID, runner string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var maxDuration int64
		err := tx.QueryRowContext(ctx, `
			UPDATE tasks SET status = ?, runner = '', heartbeat_at = NULL
			WHERE id = ? AND runner = ? AND status = 'running'
			RETURNING coalesce(json_extract(spec, '$.maxDuration'), 0)`,
			task.StatusQueued, taskID, runner).Scan(&maxDuration)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM tasks WHERE id = ?`, taskID).Scan(&one); err != nil {
				return notFound(err)
			}
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: release task: %w", err)
		}
		return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{TaskID: taskID, MaxDuration: time.Duration(maxDuration)})
	})
}

// RescueTasks queues again the running tasks whose heartbeat is older than
// staleBefore, each with a new run job, in one transaction; see
// store.Store. Each such task is its session's head (only the head runs),
// and stays so: the session's order is unchanged, its head just runs
// again. at is not stored: a queued task has no lease to date.
func (s *Store) RescueTasks(ctx context.Context, staleBefore, at time.Time) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = s.requeueRunning(ctx, tx, staleBefore.UnixMilli(), true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// requeueRunning queues again, inside tx, the running tasks whose heartbeat
// (unix ms) is before staleBefore, and enqueues a run job for each: always
// if newJob, else only for a task with no run job left that could still run
// (see recover). It returns their ids. The jobs prefer no node: the node
// that ran the task is presumed dead, and its browser context with it.
func (s *Store) requeueRunning(ctx context.Context, tx *sql.Tx, staleBefore int64, newJob bool) ([]string, error) {
	// 'running' is a literal so that the planner can use the
	// tasks_heartbeat partial index. A running task always has a heartbeat
	// (StartTask sets it), so NULL never has to match.
	jobs, err := queryAll(ctx, tx, queue.ScanRunTaskArgs, `
		UPDATE tasks SET status = ?, runner = '', heartbeat_at = NULL
		WHERE status = 'running' AND heartbeat_at < ?
		RETURNING id, coalesce(json_extract(spec, '$.maxDuration'), 0)`,
		task.StatusQueued, staleBefore)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rescue tasks: %w", err)
	}
	ids := make([]string, 0, len(jobs))
	for _, job := range jobs {
		ids = append(ids, job.TaskID)
		if !newJob {
			live, err := hasLiveRunJob(ctx, tx, job.TaskID)
			if err != nil {
				return nil, err
			}
			if live {
				continue
			}
		}
		if err := s.q.InsertRunTask(ctx, tx, job); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// hasLiveRunJob reports whether River still holds a run job for the task
// that will be worked (not completed, cancelled or discarded).
func hasLiveRunJob(ctx context.Context, tx *sql.Tx, taskID string) (bool, error) {
	var live bool
	err := tx.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM river_job
			WHERE kind = ? AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
				AND json_extract(args, '$.taskId') = ?)`,
		queue.KindRunTask, taskID).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("sqlite: run jobs of %s: %w", taskID, err)
	}
	return live, nil
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
			runner    string
			sessionID string
			tenantID  string
			head      sql.NullString
		)
		err := tx.QueryRowContext(ctx, `
			SELECT t.status, t.runner, t.session_id, t.tenant_id, s.head_task_id
			FROM tasks t JOIN sessions s ON s.id = t.session_id WHERE t.id = ?`,
			p.TaskID).Scan(&cur, &runner, &sessionID, &tenantID, &head)
		if err != nil {
			return notFound(err)
		}
		if cur.Final() || (cur == task.StatusRunning && p.Runner != "" && runner != p.Runner) {
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
				ended_at = ?,
				sealed_secrets = CASE WHEN ? IS NULL THEN sealed_secrets END
			WHERE id = ?`,
			status, p.Outcome.Message, string(networkJSON),
			u.InputTokens, u.OutputTokens, u.ComputeTime, u.Cost,
			p.Outcome.Code, p.Outcome.Error,
			p.Outcome.Question, p.Outcome.Question, p.Outcome.Question,
			ended, ended, p.TaskID)
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
		if err := insertFiles(ctx, tx, p.TaskID, tenantID, p.Files); err != nil {
			return err
		}
		if err := s.settleMonitor(ctx, tx, p, status.Final(), sessionID, tenantID); err != nil {
			return err
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
// to run again, as its session's head, preferring the session's last runner
// (the node whose browser context shows the page the question was about).
func (s *Store) AnswerGuardrail(ctx context.Context, taskID, answer string, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			status      task.Status
			sessionID   string
			state       task.SessionState
			head        sql.NullString
			lastRunner  string
			maxDuration int64
		)
		err := tx.QueryRowContext(ctx, `
			SELECT t.status, t.session_id, s.state, s.head_task_id, s.last_runner,
			       coalesce(json_extract(t.spec, '$.maxDuration'), 0)
			FROM tasks t JOIN sessions s ON s.id = t.session_id WHERE t.id = ?`,
			taskID).Scan(&status, &sessionID, &state, &head, &lastRunner, &maxDuration)
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
		return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{
			TaskID: taskID, MaxDuration: time.Duration(maxDuration), Prefer: lastRunner,
		})
	})
}

// AppendStep records one agent step of a task, and its screenshot in the
// same transaction.
func (s *Store) AppendStep(ctx context.Context, taskID string, st task.Step) error {
	var args sql.NullString
	if len(st.Args) > 0 {
		args = sql.NullString{String: string(st.Args), Valid: true}
	}
	if st.At.IsZero() {
		st.At = s.now()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO steps (task_id, n, action, args, url, input_tokens, output_tokens, duration_ms, error, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			taskID, st.N, st.Action, args, st.URL, st.InputTokens, st.OutputTokens, st.DurationMs, st.Error, ms(st.At))
		if err != nil || st.Screenshot == nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		return insertShot(ctx, tx, id, taskID, st.At, st.Screenshot)
	})
	if isConstraint(err) {
		return store.ErrNotFound // no such task (foreign key)
	}
	if err != nil {
		return fmt.Errorf("sqlite: append step: %w", err)
	}
	return nil
}

// Steps lists a task's steps in the order they were recorded, with what is
// known of their screenshots.
func (s *Store) Steps(ctx context.Context, taskID string) ([]task.Step, error) {
	out, err := queryAll(ctx, s.db, scanStep, `
		SELECT n, action, args, url, input_tokens, output_tokens, duration_ms, error, steps.at,
		       sh.step_id IS NOT NULL, COALESCE(sh.bytes, 0), COALESCE(sh.width, 0), COALESCE(sh.height, 0), COALESCE(sh.omitted, '')
		FROM steps LEFT JOIN trace_shots sh ON sh.step_id = steps.id
		WHERE steps.task_id = ? ORDER BY steps.id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: steps: %w", err)
	}
	return out, nil
}

// scanStep reads a step with what is known of its screenshot.
func scanStep(row scanner) (task.Step, error) {
	var (
		st      task.Step
		args    sql.NullString
		at      sql.NullInt64
		hasShot bool
		shot    task.Screenshot
	)
	err := row.Scan(&st.N, &st.Action, &args, &st.URL, &st.InputTokens, &st.OutputTokens,
		&st.DurationMs, &st.Error, &at, &hasShot, &shot.Bytes, &shot.Width, &shot.Height, &shot.Omitted)
	if args.Valid {
		st.Args = json.RawMessage(args.String)
	}
	st.At = fromMS(at)
	if hasShot {
		st.Screenshot = &shot
	}
	return st, err
}
