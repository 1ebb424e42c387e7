package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/queue"
	"github.com/errandhq/errand/internal/task"
)

const taskColumns = `id, session_id, tenant_id, seq, spec, status, message, network,
	input_tokens, output_tokens, compute_time, cost, error_code, error_message,
	question, answer, cancel_requested, attempts, created_at, started_at, ended_at, sealed_secrets`

// maxDurationExpr reads a task's maxDuration (nanoseconds, as
// time.Duration marshals) from its spec, for the run job.
const maxDurationExpr = `coalesce((spec->>'maxDuration')::bigint, 0)`

// scanTask reads one row of taskColumns.
func scanTask(row pgx.Row) (task.Task, error) {
	var (
		t                       task.Task
		spec, network           string
		created, started, ended *time.Time
	)
	err := row.Scan(&t.ID, &t.SessionID, &t.TenantID, &t.Seq, &spec, &t.Status, &t.Message, &network,
		&t.Usage.InputTokens, &t.Usage.OutputTokens, &t.Usage.ComputeTime, &t.Usage.Cost,
		&t.ErrorCode, &t.ErrorMessage, &t.Question, &t.Answer, &t.CancelRequested, &t.Attempts,
		&created, &started, &ended, &t.SealedSecrets)
	if err != nil {
		return task.Task{}, notFound(err)
	}
	if err := json.Unmarshal([]byte(spec), &t.Spec); err != nil {
		return task.Task{}, fmt.Errorf("postgres: task %s spec: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(network), &t.Network); err != nil {
		return task.Task{}, fmt.Errorf("postgres: task %s network: %w", t.ID, err)
	}
	t.CreatedAt, t.StartedAt, t.EndedAt = fromTS(created), fromTS(started), fromTS(ended)
	return t, nil
}

func loadTask(ctx context.Context, q querier, taskID string) (task.Task, error) {
	return scanTask(q.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, taskID))
}

// taskSession answers the session and tenant of a task, so that a
// transaction can lock the session before it touches the task.
func taskSession(ctx context.Context, tx pgx.Tx, taskID string) (sessionID, tenantID string, err error) {
	err = tx.QueryRow(ctx, `SELECT session_id, tenant_id FROM tasks WHERE id = $1`, taskID).Scan(&sessionID, &tenantID)
	return sessionID, tenantID, notFound(err)
}

// AddTask queues t at the end of its session; see store.Store. t's Seq,
// Status (and CreatedAt if zero) are set.
func (s *Store) AddTask(ctx context.Context, t *task.Task) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return s.addTask(ctx, tx, t, s.now())
	})
}

func (s *Store) addTask(ctx context.Context, tx pgx.Tx, t *task.Task, now time.Time) error {
	// The session's lock makes numbering and the head check safe against
	// another node adding to, or finishing in, the same session.
	state, head, err := lockSession(ctx, tx, t.SessionID)
	if err != nil {
		return err
	}
	if state == task.SessionTerminated {
		return store.ErrConflict
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM tasks WHERE session_id = $1`,
		t.SessionID).Scan(&t.Seq); err != nil {
		return fmt.Errorf("postgres: add task: %w", err)
	}
	t.Status = task.StatusQueued
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	spec, err := json.Marshal(t.Spec)
	if err != nil {
		return fmt.Errorf("postgres: add task: spec: %w", err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO tasks (id, session_id, tenant_id, seq, spec, status, created_at, sealed_secrets, webhook_in_clear)
		SELECT $1, id, tenant_id, $2, $3, $4, $5, $7, $8 FROM sessions WHERE id = $6`,
		t.ID, t.Seq, string(spec), t.Status, ts(t.CreatedAt), t.SessionID, t.SealedSecrets, t.Spec.Webhook.CredentialsInClear())
	if isConstraint(err) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("postgres: add task: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE sessions SET last_active = greatest(last_active, $1) WHERE id = $2`,
		ts(t.CreatedAt), t.SessionID); err != nil {
		return fmt.Errorf("postgres: add task: %w", err)
	}
	if head != nil {
		return nil // the head's end hands the run on, in seq order
	}
	return s.advance(ctx, tx, t.SessionID)
}

// advance makes the session's first queued task its head and enqueues its
// run, or leaves the session without a head when nothing is queued. It is
// the only place a run is enqueued for a new head, always in the
// transaction that changed the session and holds its lock, so "run jobs
// for one task per session, in seq order" survives crashes and racing
// nodes. The run prefers the session's last runner, where its browser
// context lives; if that node is gone or busy, any node takes it after the
// queue's AffinityWait.
func (s *Store) advance(ctx context.Context, tx pgx.Tx, sessionID string) error {
	var (
		next        *string
		maxDuration int64
	)
	err := tx.QueryRow(ctx, `
		SELECT id, `+maxDurationExpr+` FROM tasks
		WHERE session_id = $1 AND status = $2 ORDER BY seq LIMIT 1`,
		sessionID, task.StatusQueued).Scan(&next, &maxDuration)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: next task: %w", err)
	}
	var lastRunner string
	if err := tx.QueryRow(ctx, `UPDATE sessions SET head_task_id = $1 WHERE id = $2 RETURNING last_runner`,
		next, sessionID).Scan(&lastRunner); err != nil {
		return fmt.Errorf("postgres: set head: %w", err)
	}
	if next == nil {
		return nil
	}
	return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{
		TaskID: *next, MaxDuration: time.Duration(maxDuration), Prefer: lastRunner,
	})
}

// Task loads a task of a tenant's session.
func (s *Store) Task(ctx context.Context, tenantID, sessionID, taskID string) (task.Task, error) {
	return scanTask(s.pool.QueryRow(ctx,
		`SELECT `+taskColumns+` FROM tasks WHERE id = $1 AND session_id = $2 AND tenant_id = $3`,
		taskID, sessionID, tenantID))
}

// TaskByID loads a task whatever its tenant.
func (s *Store) TaskByID(ctx context.Context, taskID string) (task.Task, error) {
	return loadTask(ctx, s.pool, taskID)
}

// ActiveTasks lists a session's tasks that are not final, in order.
func (s *Store) ActiveTasks(ctx context.Context, sessionID string) ([]task.Task, error) {
	return activeTasks(ctx, s.pool, sessionID)
}

func activeTasks(ctx context.Context, q querier, sessionID string) ([]task.Task, error) {
	rows, err := q.Query(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE session_id = $1 AND status IN ($2, $3, $4) ORDER BY seq`,
		sessionID, task.StatusQueued, task.StatusRunning, task.StatusGuardrail)
	if err != nil {
		return nil, fmt.Errorf("postgres: active tasks: %w", err)
	}
	return pgx.CollectRows(rows, rowTo(scanTask))
}

// StartTask moves a queued task to running on runner; see store.Store. A
// queued task of a terminated session does not start (ErrConflict).
//
// A running task is refused too, whoever runs it: only RescueTasks hands a
// running task back, so a run job that comes back while its task runs on
// another node (River's own rescue of a dead node's job, a retry) cannot
// start it a second time. The change is one conditional UPDATE, so two
// nodes starting the same task cannot both see it queued: the second waits
// for the first's row lock, then finds the row no longer queued.
//
// The session's row is locked first, FOR UPDATE (session, then task: the
// order every transaction here takes, so none of them can deadlock with
// another), so that a TerminateSession in flight is either wholly before
// (the task does not start) or wholly after (the task is in the list it
// returns as running), and so that the session's last runner, read there
// and replaced once the task has started, changes hands one start at a
// time: two starts of the session's tasks (a task's two run jobs, say)
// take turns on the session row, and the second sees the first's runner or
// fails its own conditional UPDATE. A share lock would not do: two starts
// could both read the old runner.
func (s *Store) StartTask(ctx context.Context, taskID, runner string, at time.Time) (task.Task, error) {
	var t task.Task
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		sessionID, _, err := taskSession(ctx, tx, taskID)
		if err != nil {
			return err
		}
		var (
			state      task.SessionState
			lastRunner string
		)
		if err := tx.QueryRow(ctx, `SELECT state, last_runner FROM sessions WHERE id = $1 FOR UPDATE`,
			sessionID).Scan(&state, &lastRunner); err != nil {
			return fmt.Errorf("postgres: start task: %w", err)
		}
		if state == task.SessionTerminated {
			return store.ErrConflict
		}
		t, err = scanTask(tx.QueryRow(ctx, `
			UPDATE tasks SET status = $2, runner = $3, heartbeat_at = $4, attempts = attempts + 1,
				started_at = coalesce(started_at, $4)
			WHERE id = $1 AND status = $5
			RETURNING `+taskColumns,
			taskID, task.StatusRunning, runner, ts(at), task.StatusQueued))
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrConflict // it exists (taskSession found it): it is in another state
		}
		if err != nil {
			return err
		}
		t.PreviousRunner = lastRunner
		if _, err := tx.Exec(ctx, `UPDATE sessions SET last_runner = $1 WHERE id = $2`, runner, sessionID); err != nil {
			return fmt.Errorf("postgres: start task: %w", err)
		}
		return nil
	})
	return t, err
}

// HeartbeatTasks renews runner's lease on the given tasks, in one
// statement, and returns those no longer running on runner (rescued, then
// perhaps started by another node; ended; unknown); see store.Store.
//
// It locks only task rows, and only running ones of this runner; no
// transaction that could hold one of those waits for another task row, so
// it cannot take part in a deadlock.
func (s *Store) HeartbeatTasks(ctx context.Context, runner string, taskIDs []string, at time.Time) ([]string, error) {
	if len(taskIDs) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE tasks SET heartbeat_at = $1
		WHERE id = ANY($2) AND runner = $3 AND status = 'running'
		RETURNING id`,
		ts(at), taskIDs, runner)
	if err != nil {
		return nil, fmt.Errorf("postgres: heartbeat: %w", err)
	}
	kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: heartbeat: %w", err)
	}
	return store.Lost(taskIDs, kept), nil
}

// ReleaseTask queues a task runner is running again, with a new run job;
// see store.Store.
func (s *Store) ReleaseTask(ctx context.Context, taskID, runner string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var maxDuration int64
		err := tx.QueryRow(ctx, `
			UPDATE tasks SET status = $1, runner = '', heartbeat_at = NULL
			WHERE id = $2 AND runner = $3 AND status = 'running'
			RETURNING `+maxDurationExpr,
			task.StatusQueued, taskID, runner).Scan(&maxDuration)
		if errors.Is(err, pgx.ErrNoRows) {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM tasks WHERE id = $1`, taskID).Scan(&one); err != nil {
				return notFound(err)
			}
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("postgres: release task: %w", err)
		}
		return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{TaskID: taskID, MaxDuration: time.Duration(maxDuration)})
	})
}

// RescueTasks queues again the running tasks whose heartbeat is older than
// staleBefore, each with a new run job, in one transaction; see
// store.Store. Each such task is its session's head (only the head runs)
// and stays so: the session's order is unchanged, its head just runs
// again. at is not stored: a queued task has no lease to date.
//
// Every node's reaper may call it at once. The stale tasks are locked FOR
// UPDATE SKIP LOCKED: a task another reaper is rescuing is skipped, not
// waited for, and once that rescue commits the task is queued and no longer
// matches. A task whose FinishTask or heartbeat is in flight is skipped too:
// its node is alive after all, and a later reaper pass sees it again if not.
//
// Unlike FinishTask it does not lock the session first: it changes neither
// the session nor its head, and it never waits for a lock (SKIP LOCKED on
// the tasks; the River jobs it inserts are new rows), so it cannot close a
// cycle with the session-then-task order the other transactions keep. A
// FinishTask of the same task that comes after it simply finds the task
// queued instead of running, and ends it all the same; the run job this
// inserted then finds the task final and does nothing. The new jobs prefer
// no node: the node that ran them is presumed dead, and its browser
// contexts with it.
func (s *Store) RescueTasks(ctx context.Context, staleBefore, at time.Time) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// 'running' is a literal so that the planner can use the
		// tasks_heartbeat partial index (see Depths).
		rows, err := tx.Query(ctx, `
			WITH stale AS (
				SELECT id FROM tasks
				WHERE status = 'running' AND heartbeat_at < $1
				FOR UPDATE SKIP LOCKED
			)
			UPDATE tasks t SET status = $2, runner = '', heartbeat_at = NULL
			FROM stale WHERE t.id = stale.id
			RETURNING t.id, `+maxDurationExpr,
			ts(staleBefore), task.StatusQueued)
		if err != nil {
			return fmt.Errorf("postgres: rescue tasks: %w", err)
		}
		jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queue.RunTaskArgs, error) {
			return queue.ScanRunTaskArgs(row)
		})
		if err != nil {
			return fmt.Errorf("postgres: rescue tasks: %w", err)
		}
		ids = make([]string, 0, len(jobs))
		for _, job := range jobs {
			if err := s.q.InsertRunTask(ctx, tx, job); err != nil {
				return err
			}
			ids = append(ids, job.TaskID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// RequestCancel flags a task so its runner stops it.
func (s *Store) RequestCancel(ctx context.Context, taskID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE tasks SET cancel_requested = true WHERE id = $1`, taskID)
	if err != nil {
		return fmt.Errorf("postgres: request cancel: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// FinishTask ends a run of a task; see store.FinishParams. In one
// transaction, under the session's lock: the task's new state (a
// conditional UPDATE, so a task two nodes finish at once ends once), its
// deliveries and their jobs, and, when the task was its session's head and
// is now final, the run of the next queued task.
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
		return fmt.Errorf("postgres: finish task: network: %w", err)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		sessionID, tenantID, err := taskSession(ctx, tx, p.TaskID)
		if err != nil {
			return err
		}
		_, head, err := lockSession(ctx, tx, sessionID)
		if err != nil {
			return fmt.Errorf("postgres: finish task: %w", err)
		}
		var ended any
		if status.Final() {
			ended = ts(p.At)
		}
		u := p.Outcome.Usage
		// A new question clears the answer to the previous one; a final
		// outcome keeps both, as history.
		tag, err := tx.Exec(ctx, `
			UPDATE tasks SET status = $1, message = $2, network = $3,
				input_tokens = $4, output_tokens = $5, compute_time = $6, cost = $7,
				error_code = $8, error_message = $9,
				question = CASE WHEN $10 <> '' THEN $10 ELSE question END,
				answer = CASE WHEN $10 <> '' THEN '' ELSE answer END,
				ended_at = $11,
				sealed_secrets = CASE WHEN $11::timestamptz IS NULL THEN sealed_secrets END
			WHERE id = $12 AND status NOT IN ($13, $14, $15)
				AND (status <> 'running' OR $16 = '' OR runner = $16)`,
			status, p.Outcome.Message, string(networkJSON),
			u.InputTokens, u.OutputTokens, u.ComputeTime, u.Cost,
			p.Outcome.Code, p.Outcome.Error, p.Outcome.Question,
			ended, p.TaskID,
			task.StatusCompleted, task.StatusFailed, task.StatusCancelled, p.Runner)
		if err != nil {
			return fmt.Errorf("postgres: finish task: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrConflict // already final, or another node runs it
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
			if _, err := tx.Exec(ctx, `UPDATE sessions SET state = $1 WHERE id = $2`,
				task.SessionTerminated, sessionID); err != nil {
				return fmt.Errorf("postgres: finish task: terminate: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET last_active = greatest(last_active, $1) WHERE id = $2`,
			ts(p.At), sessionID); err != nil {
			return fmt.Errorf("postgres: finish task: %w", err)
		}
		// A task waiting for a human stays the head: the session's later
		// tasks wait for its answer. A final head hands the run on, even in
		// a terminated session: the runner then cancels the next task with
		// the notification it owes, and so on down the queue.
		if status.Final() && head != nil && *head == p.TaskID {
			return s.advance(ctx, tx, sessionID)
		}
		return nil
	})
}

// AnswerGuardrail gives a task waiting for a human its answer and queues it
// to run again, as its session's head, preferring the session's last runner
// (the node whose browser context shows the page the question was about).
func (s *Store) AnswerGuardrail(ctx context.Context, taskID, answer string, at time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		sessionID, _, err := taskSession(ctx, tx, taskID)
		if err != nil {
			return err
		}
		state, head, err := lockSession(ctx, tx, sessionID)
		if err != nil {
			return fmt.Errorf("postgres: answer guardrail: %w", err)
		}
		if state == task.SessionTerminated {
			return store.ErrConflict
		}
		var maxDuration int64
		err = tx.QueryRow(ctx, `UPDATE tasks SET status = $1, answer = $2 WHERE id = $3 AND status = $4
			RETURNING `+maxDurationExpr,
			task.StatusQueued, answer, taskID, task.StatusGuardrail).Scan(&maxDuration)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrConflict // not waiting for a human
		}
		if err != nil {
			return fmt.Errorf("postgres: answer guardrail: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET last_active = greatest(last_active, $1) WHERE id = $2`,
			ts(at), sessionID); err != nil {
			return fmt.Errorf("postgres: answer guardrail: %w", err)
		}
		if head != nil && *head != taskID {
			// Another task holds the run (only possible if this one was
			// not the head when it asked); this one runs in its turn.
			return nil
		}
		var lastRunner string
		if err := tx.QueryRow(ctx, `UPDATE sessions SET head_task_id = $1 WHERE id = $2 RETURNING last_runner`,
			taskID, sessionID).Scan(&lastRunner); err != nil {
			return fmt.Errorf("postgres: answer guardrail: %w", err)
		}
		return s.q.InsertRunTask(ctx, tx, queue.RunTaskArgs{
			TaskID: taskID, MaxDuration: time.Duration(maxDuration), Prefer: lastRunner,
		})
	})
}

// AppendStep records one agent step of a task, and its screenshot in the
// same transaction.
func (s *Store) AppendStep(ctx context.Context, taskID string, st task.Step) error {
	var args *string
	if len(st.Args) > 0 {
		a := string(st.Args)
		args = &a
	}
	if st.At.IsZero() {
		st.At = s.now()
	}
	const insert = `
		INSERT INTO steps (task_id, n, action, args, url, input_tokens, output_tokens, duration_ms, error, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`
	values := []any{taskID, st.N, st.Action, args, st.URL, st.InputTokens, st.OutputTokens, st.DurationMs, st.Error, ts(st.At)}
	var err error
	if st.Screenshot == nil {
		_, err = s.pool.Exec(ctx, insert, values...)
	} else {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, insert, values...).Scan(&id); err != nil {
				return err
			}
			return insertShot(ctx, tx, id, taskID, st.At, st.Screenshot)
		})
	}
	if isConstraint(err) {
		return store.ErrNotFound // no such task (foreign key)
	}
	if err != nil {
		return fmt.Errorf("postgres: append step: %w", err)
	}
	return nil
}

// Steps lists a task's steps in the order they were recorded, with what is
// known of their screenshots.
func (s *Store) Steps(ctx context.Context, taskID string) ([]task.Step, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT n, action, args, url, input_tokens, output_tokens, duration_ms, error, steps.at,
		       sh.step_id IS NOT NULL, COALESCE(sh.bytes, 0), COALESCE(sh.width, 0), COALESCE(sh.height, 0), COALESCE(sh.omitted, '')
		FROM steps LEFT JOIN trace_shots sh ON sh.step_id = steps.id
		WHERE steps.task_id = $1 ORDER BY steps.id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("postgres: steps: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanStep)
	if err != nil {
		return nil, fmt.Errorf("postgres: steps: %w", err)
	}
	return out, nil
}

// scanStep reads a step with what is known of its screenshot.
func scanStep(row pgx.CollectableRow) (task.Step, error) {
	var (
		st      task.Step
		args    *string
		at      *time.Time
		hasShot bool
		shot    task.Screenshot
	)
	err := row.Scan(&st.N, &st.Action, &args, &st.URL, &st.InputTokens, &st.OutputTokens,
		&st.DurationMs, &st.Error, &at, &hasShot, &shot.Bytes, &shot.Width, &shot.Height, &shot.Omitted)
	if args != nil {
		st.Args = json.RawMessage(*args)
	}
	st.At = fromTS(at)
	if hasShot {
		st.Screenshot = &shot
	}
	return st, err
}
