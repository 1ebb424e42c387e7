package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

const monitorColumns = `id, tenant_id, name, schedule, timezone, task, webhook, notify,
	paused, session_id, next_run_at, coalesce(running_task_id, ''), skipped, runs, last_run_at, state,
	sealed_secrets, sealed_storage, created_at, updated_at`

// scanMonitor reads one row of monitorColumns.
func scanMonitor(row pgx.Row) (monitor.Monitor, error) {
	var (
		m                               monitor.Monitor
		spec, notify, state             string
		webhook                         *string
		next, lastRun, created, updated *time.Time
	)
	err := row.Scan(&m.ID, &m.TenantID, &m.Name, &m.Schedule, &m.Timezone, &spec, &webhook, &notify,
		&m.Paused, &m.SessionID, &next, &m.Running, &m.Skipped, &m.Runs, &lastRun, &state,
		&m.SealedSecrets, &m.SealedStorage, &created, &updated)
	if err != nil {
		return monitor.Monitor{}, notFound(err)
	}
	j := store.MonitorJSON{Task: spec, Notify: notify, State: state}
	if webhook != nil {
		j.Webhook = *webhook
	}
	if err := store.DecodeMonitorJSON(&m, j); err != nil {
		return monitor.Monitor{}, fmt.Errorf("postgres: %w", err)
	}
	m.NextRunAt, m.LastRunAt = fromTS(next), fromTS(lastRun)
	m.CreatedAt, m.UpdatedAt = fromTS(created), fromTS(updated)
	return m, nil
}

// CreateMonitor stores a monitor and creates its session, in one
// transaction.
func (s *Store) CreateMonitor(ctx context.Context, m monitor.Monitor) error {
	j, err := store.EncodeMonitorJSON(m)
	if err != nil {
		return fmt.Errorf("postgres: create monitor: %w", err)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO sessions (id, tenant_id, state, created_at, last_active) VALUES ($1, $2, $3, $4, $4)`,
			m.SessionID, m.TenantID, task.SessionActive, ts(m.CreatedAt))
		if isConstraint(err) {
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("postgres: create monitor: session: %w", err)
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO monitors (id, tenant_id, name, schedule, timezone, task, webhook, notify,
				paused, session_id, next_run_at, state, sealed_secrets, sealed_storage, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			m.ID, m.TenantID, m.Name, m.Schedule, m.Timezone, j.Task, nullJSON(j.Webhook), j.Notify,
			m.Paused, m.SessionID, ts(m.NextRunAt), j.State, m.SealedSecrets, m.SealedStorage,
			ts(m.CreatedAt), ts(m.UpdatedAt))
		if isConstraint(err) {
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("postgres: create monitor: %w", err)
		}
		return nil
	})
}

// Monitor loads a tenant's monitor.
func (s *Store) Monitor(ctx context.Context, tenantID, id string) (monitor.Monitor, error) {
	return scanMonitor(s.pool.QueryRow(ctx,
		`SELECT `+monitorColumns+` FROM monitors WHERE id = $1 AND tenant_id = $2`, id, tenantID))
}

// MonitorByID loads a monitor whatever its tenant.
func (s *Store) MonitorByID(ctx context.Context, id string) (monitor.Monitor, error) {
	return scanMonitor(s.pool.QueryRow(ctx, `SELECT `+monitorColumns+` FROM monitors WHERE id = $1`, id))
}

// ListMonitors pages a tenant's monitors, oldest first.
func (s *Store) ListMonitors(ctx context.Context, p store.ListMonitorsParams) ([]monitor.Monitor, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+monitorColumns+` FROM monitors
		WHERE tenant_id = $1
			AND ($2::timestamptz IS NULL OR created_at > $2 OR (created_at = $2 AND id > $3))
		ORDER BY created_at, id LIMIT $4`,
		p.TenantID, ts(p.AfterCreatedAt), p.AfterID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list monitors: %w", err)
	}
	defer rows.Close()
	out := []monitor.Monitor{}
	for rows.Next() {
		m, err := scanMonitor(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateMonitor changes what p sets, under the monitor's row lock.
func (s *Store) UpdateMonitor(ctx context.Context, p store.UpdateMonitorParams) (monitor.Monitor, error) {
	var m monitor.Monitor
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		m, err = scanMonitor(tx.QueryRow(ctx,
			`SELECT `+monitorColumns+` FROM monitors WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, p.ID, p.TenantID))
		if err != nil {
			return err
		}
		store.ApplyMonitorUpdate(&m, p)
		j, err := store.EncodeMonitorJSON(m)
		if err != nil {
			return fmt.Errorf("postgres: update monitor: %w", err)
		}
		_, err = tx.Exec(ctx, `
			UPDATE monitors SET paused = $1, schedule = $2, timezone = $3, next_run_at = $4, notify = $5,
				webhook = $6, updated_at = $7
			WHERE id = $8`,
			m.Paused, m.Schedule, m.Timezone, ts(m.NextRunAt), j.Notify, nullJSON(j.Webhook), ts(m.UpdatedAt), m.ID)
		if err != nil {
			return fmt.Errorf("postgres: update monitor: %w", err)
		}
		return nil
	})
	return m, err
}

// DeleteMonitor removes a monitor and its history.
func (s *Store) DeleteMonitor(ctx context.Context, tenantID, id string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM monitors WHERE id = $1 AND tenant_id = $2`, id, tenantID)
		if err != nil {
			return fmt.Errorf("postgres: delete monitor: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM monitor_runs WHERE monitor_id = $1`, id); err != nil {
			return fmt.Errorf("postgres: delete monitor runs: %w", err)
		}
		return nil
	})
}

// ClaimMonitors starts the runs of due monitors; see store.Monitors. Due
// rows are locked with FOR UPDATE SKIP LOCKED, so nodes claiming at once
// take disjoint monitors, and a claimed row's next_run_at moves past now in
// the same transaction: a tick is claimed by exactly one node.
func (s *Store) ClaimMonitors(ctx context.Context, p store.ClaimMonitorsParams) ([]store.ClaimedMonitor, error) {
	var out []store.ClaimedMonitor
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT `+monitorColumns+` FROM monitors
			WHERE NOT paused AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2
			FOR UPDATE SKIP LOCKED`,
			ts(p.Now), p.Limit)
		if err != nil {
			return fmt.Errorf("postgres: claim monitors: %w", err)
		}
		var due []monitor.Monitor
		for rows.Next() {
			m, err := scanMonitor(rows)
			if err != nil {
				rows.Close()
				return err
			}
			due = append(due, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: claim monitors: %w", err)
		}
		for _, m := range due {
			c := store.ClaimedMonitor{MonitorID: m.ID, DueAt: m.NextRunAt, NextRunAt: p.Next(m)}
			if m.Running != "" {
				if _, err := tx.Exec(ctx, `UPDATE monitors SET next_run_at = $1, skipped = skipped + 1 WHERE id = $2`,
					ts(c.NextRunAt), m.ID); err != nil {
					return fmt.Errorf("postgres: claim monitors: skip: %w", err)
				}
				out = append(out, c)
				continue
			}
			run, err := s.startMonitorRun(ctx, tx, m, m.NextRunAt, p.Now, c.NextRunAt, p.Task)
			if err != nil {
				return err
			}
			c.Run = &run
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// startMonitorRun records a run of m due at due, queues its task in m's
// session, and marks m running it with its next run time next. The caller
// holds m's row lock.
func (s *Store) startMonitorRun(ctx context.Context, tx pgx.Tx, m monitor.Monitor, due, now, next time.Time,
	build func(monitor.Monitor, monitor.Run) (task.Task, error)) (monitor.Run, error) {
	run := monitor.Run{ID: task.NewID("run"), MonitorID: m.ID, DueAt: due, RunAt: now, SessionID: m.SessionID,
		Status: string(task.StatusQueued)}
	// The monitor's session may have been terminated through the session
	// API: the monitor carries on in a new one.
	var state task.SessionState
	if err := tx.QueryRow(ctx, `SELECT state FROM sessions WHERE id = $1`, m.SessionID).Scan(&state); err != nil {
		return monitor.Run{}, fmt.Errorf("postgres: monitor %s session: %w", m.ID, err)
	}
	if state == task.SessionTerminated {
		m.SessionID = task.NewID("sess")
		run.SessionID = m.SessionID
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id, tenant_id, state, created_at, last_active) VALUES ($1, $2, $3, $4, $4)`,
			m.SessionID, m.TenantID, task.SessionActive, ts(now)); err != nil {
			return monitor.Run{}, fmt.Errorf("postgres: monitor %s new session: %w", m.ID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE monitors SET session_id = $1 WHERE id = $2`, m.SessionID, m.ID); err != nil {
			return monitor.Run{}, fmt.Errorf("postgres: monitor %s new session: %w", m.ID, err)
		}
	}
	t, err := build(m, run)
	if err != nil {
		return monitor.Run{}, fmt.Errorf("postgres: monitor %s run: %w", m.ID, err)
	}
	t.SessionID, t.TenantID = m.SessionID, m.TenantID
	if err := s.addTask(ctx, tx, &t, now); err != nil {
		return monitor.Run{}, fmt.Errorf("postgres: monitor %s run: %w", m.ID, err)
	}
	run.TaskID = t.ID
	if _, err := tx.Exec(ctx, `
		INSERT INTO monitor_runs (id, monitor_id, tenant_id, task_id, session_id, due_at, run_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		run.ID, m.ID, m.TenantID, t.ID, m.SessionID, ts(due), ts(now)); err != nil {
		return monitor.Run{}, fmt.Errorf("postgres: monitor %s run: %w", m.ID, err)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE monitors SET next_run_at = $1, running_task_id = $2, runs = runs + 1, last_run_at = $3 WHERE id = $4`,
		ts(next), t.ID, ts(now), m.ID); err != nil {
		return monitor.Run{}, fmt.Errorf("postgres: monitor %s run: %w", m.ID, err)
	}
	return run, nil
}

// RunMonitorNow starts a run of a monitor at once; see store.Monitors.
func (s *Store) RunMonitorNow(ctx context.Context, p store.RunMonitorParams) (monitor.Run, error) {
	var run monitor.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		m, err := scanMonitor(tx.QueryRow(ctx,
			`SELECT `+monitorColumns+` FROM monitors WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, p.ID, p.TenantID))
		if err != nil {
			return err
		}
		if m.Running != "" {
			return store.ErrConflict
		}
		run, err = s.startMonitorRun(ctx, tx, m, p.Now, p.Now, m.NextRunAt, p.Task)
		return err
	})
	return run, err
}

const runColumns = `r.id, r.monitor_id, r.task_id, r.session_id, r.due_at, r.run_at,
	CASE WHEN r.status = '' THEN coalesce(t.status, '') ELSE r.status END,
	r.changed, r.changes, r.truncated, r.fired, r.events, r.ended_at`

func scanRun(row pgx.Row) (monitor.Run, error) {
	var (
		r                      monitor.Run
		changes, fired, events string
		due, runAt, ended      *time.Time
	)
	err := row.Scan(&r.ID, &r.MonitorID, &r.TaskID, &r.SessionID, &due, &runAt, &r.Status,
		&r.Changed, &changes, &r.Truncated, &fired, &events, &ended)
	if err != nil {
		return monitor.Run{}, notFound(err)
	}
	if err := store.DecodeRunJSON(&r, changes, fired, events); err != nil {
		return monitor.Run{}, fmt.Errorf("postgres: %w", err)
	}
	r.DueAt, r.RunAt, r.EndedAt = fromTS(due), fromTS(runAt), fromTS(ended)
	return r, nil
}

// MonitorRuns pages a tenant's monitor's runs, newest first.
func (s *Store) MonitorRuns(ctx context.Context, p store.MonitorRunsParams) ([]monitor.Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+`
		FROM monitor_runs r LEFT JOIN tasks t ON t.id = r.task_id
		WHERE r.monitor_id = $1 AND r.tenant_id = $2
			AND ($3::timestamptz IS NULL OR r.run_at < $3 OR (r.run_at = $3 AND r.id < $4))
		ORDER BY r.run_at DESC, r.id DESC LIMIT $5`,
		p.MonitorID, p.TenantID, ts(p.BeforeRunAt), p.BeforeID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: monitor runs: %w", err)
	}
	defer rows.Close()
	out := []monitor.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DueMonitors counts the monitors due at now and not paused.
func (s *Store) DueMonitors(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM monitors WHERE NOT paused AND next_run_at <= $1`,
		ts(now)).Scan(&n)
	return n, err
}

// NextMonitorDue is the earliest next run time of the monitors not paused.
func (s *Store) NextMonitorDue(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(next_run_at) FROM monitors WHERE NOT paused`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next monitor due: %w", err)
	}
	return fromTS(at), at != nil, nil
}

// settleMonitor writes a monitor run's end inside FinishTask's
// transaction: when the monitor still runs this task, its new state, the
// run's history entry and the deliveries it owes; else nothing. A final
// task also frees whichever monitor ran it, settled or not, so that no
// monitor waits forever on a task that ended another way.
func (s *Store) settleMonitor(ctx context.Context, tx pgx.Tx, p store.FinishParams, final bool, sessionID, tenantID string) error {
	if st := p.Monitor; st != nil {
		state, err := json.Marshal(st.State)
		if err != nil {
			return fmt.Errorf("postgres: settle monitor: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE monitors SET state = $1, running_task_id = NULL, sealed_storage = coalesce($2, sealed_storage)
			WHERE id = $3 AND running_task_id = $4`,
			string(state), st.SealedStorage, st.MonitorID, p.TaskID)
		if err != nil {
			return fmt.Errorf("postgres: settle monitor: %w", err)
		}
		if tag.RowsAffected() == 1 {
			changes, fired, events, err := store.RunJSON(st.Run)
			if err != nil {
				return fmt.Errorf("postgres: settle monitor: %w", err)
			}
			if _, err := tx.Exec(ctx, `
				UPDATE monitor_runs SET status = $1, changed = $2, changes = $3, truncated = $4, fired = $5, events = $6, ended_at = $7
				WHERE id = $8`,
				st.Run.Status, st.Run.Changed, changes, st.Run.Truncated, fired, events, ts(p.At), st.RunID); err != nil {
				return fmt.Errorf("postgres: settle monitor run: %w", err)
			}
			for _, d := range st.Deliveries {
				d.TaskID, d.SessionID, d.TenantID = p.TaskID, sessionID, tenantID
				if d.CreatedAt.IsZero() {
					d.CreatedAt = p.At
				}
				if err := s.insertDelivery(ctx, tx, d); err != nil {
					return err
				}
			}
			if st.KeepRuns > 0 {
				if _, err := tx.Exec(ctx, `
					DELETE FROM monitor_runs WHERE id IN (
						SELECT id FROM monitor_runs WHERE monitor_id = $1
						ORDER BY run_at DESC, id DESC OFFSET $2)`,
					st.MonitorID, st.KeepRuns); err != nil {
					return fmt.Errorf("postgres: prune monitor runs: %w", err)
				}
			}
		}
	}
	if final {
		if _, err := tx.Exec(ctx, `UPDATE monitors SET running_task_id = NULL WHERE running_task_id = $1`,
			p.TaskID); err != nil {
			return fmt.Errorf("postgres: finish task: free monitor: %w", err)
		}
	}
	return nil
}

// nullJSON stores "" as NULL.
func nullJSON(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
