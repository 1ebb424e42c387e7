package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

const monitorColumns = `id, tenant_id, name, schedule, timezone, task, webhook, notify,
	paused, session_id, next_run_at, coalesce(running_task_id, ''), skipped, runs, last_run_at, state,
	sealed_secrets, sealed_storage, created_at, updated_at`

// scanMonitor reads one row of monitorColumns.
func scanMonitor(row interface{ Scan(...any) error }) (monitor.Monitor, error) {
	var (
		m                               monitor.Monitor
		spec, notify, state             string
		webhook                         sql.NullString
		next, lastRun, created, updated sql.NullInt64
	)
	err := row.Scan(&m.ID, &m.TenantID, &m.Name, &m.Schedule, &m.Timezone, &spec, &webhook, &notify,
		&m.Paused, &m.SessionID, &next, &m.Running, &m.Skipped, &m.Runs, &lastRun, &state,
		&m.SealedSecrets, &m.SealedStorage, &created, &updated)
	if err != nil {
		return monitor.Monitor{}, notFound(err)
	}
	if err := store.DecodeMonitorJSON(&m, store.MonitorJSON{Task: spec, Webhook: webhook.String, Notify: notify, State: state}); err != nil {
		return monitor.Monitor{}, fmt.Errorf("sqlite: %w", err)
	}
	m.NextRunAt, m.LastRunAt = fromMS(next), fromMS(lastRun)
	m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
	return m, nil
}

// CreateMonitor stores a monitor and creates its session, in one
// transaction.
func (s *Store) CreateMonitor(ctx context.Context, m monitor.Monitor) error {
	j, err := store.EncodeMonitorJSON(m)
	if err != nil {
		return fmt.Errorf("sqlite: create monitor: %w", err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO sessions (id, tenant_id, state, created_at, last_active) VALUES (?, ?, ?, ?, ?)`,
			m.SessionID, m.TenantID, task.SessionActive, ms(m.CreatedAt), ms(m.CreatedAt))
		if isConstraint(err) {
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: create monitor: session: %w", err)
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO monitors (id, tenant_id, name, schedule, timezone, task, webhook, notify,
				paused, session_id, next_run_at, state, sealed_secrets, sealed_storage, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.TenantID, m.Name, m.Schedule, m.Timezone, j.Task, nullString(j.Webhook), j.Notify,
			m.Paused, m.SessionID, ms(m.NextRunAt), j.State, m.SealedSecrets, m.SealedStorage,
			ms(m.CreatedAt), ms(m.UpdatedAt))
		if isConstraint(err) {
			return store.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: create monitor: %w", err)
		}
		return nil
	})
}

// Monitor loads a tenant's monitor.
func (s *Store) Monitor(ctx context.Context, tenantID, id string) (monitor.Monitor, error) {
	return scanMonitor(s.db.QueryRowContext(ctx,
		`SELECT `+monitorColumns+` FROM monitors WHERE id = ? AND tenant_id = ?`, id, tenantID))
}

// MonitorByID loads a monitor whatever its tenant.
func (s *Store) MonitorByID(ctx context.Context, id string) (monitor.Monitor, error) {
	return scanMonitor(s.db.QueryRowContext(ctx, `SELECT `+monitorColumns+` FROM monitors WHERE id = ?`, id))
}

// ListMonitors pages a tenant's monitors, oldest first.
func (s *Store) ListMonitors(ctx context.Context, p store.ListMonitorsParams) ([]monitor.Monitor, error) {
	after := int64(-1 << 62)
	if !p.AfterCreatedAt.IsZero() {
		after = p.AfterCreatedAt.UnixMilli()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+monitorColumns+` FROM monitors
		WHERE tenant_id = ? AND (created_at > ? OR (created_at = ? AND id > ?))
		ORDER BY created_at, id LIMIT ?`,
		p.TenantID, after, after, p.AfterID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list monitors: %w", err)
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

// UpdateMonitor changes what p sets.
func (s *Store) UpdateMonitor(ctx context.Context, p store.UpdateMonitorParams) (monitor.Monitor, error) {
	var m monitor.Monitor
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		m, err = scanMonitor(tx.QueryRowContext(ctx,
			`SELECT `+monitorColumns+` FROM monitors WHERE id = ? AND tenant_id = ?`, p.ID, p.TenantID))
		if err != nil {
			return err
		}
		store.ApplyMonitorUpdate(&m, p)
		j, err := store.EncodeMonitorJSON(m)
		if err != nil {
			return fmt.Errorf("sqlite: update monitor: %w", err)
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE monitors SET paused = ?, schedule = ?, timezone = ?, next_run_at = ?, notify = ?,
				webhook = ?, updated_at = ?
			WHERE id = ?`,
			m.Paused, m.Schedule, m.Timezone, ms(m.NextRunAt), j.Notify, nullString(j.Webhook), ms(m.UpdatedAt), m.ID)
		if err != nil {
			return fmt.Errorf("sqlite: update monitor: %w", err)
		}
		return nil
	})
	return m, err
}

// DeleteMonitor removes a monitor and its history.
func (s *Store) DeleteMonitor(ctx context.Context, tenantID, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM monitors WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return fmt.Errorf("sqlite: delete monitor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM monitor_runs WHERE monitor_id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: delete monitor runs: %w", err)
		}
		return nil
	})
}

// ClaimMonitors starts the runs of due monitors; see store.Monitors. The
// transaction holds SQLite's write lock from BEGIN, so two claims (there is
// one process) cannot take the same tick.
func (s *Store) ClaimMonitors(ctx context.Context, p store.ClaimMonitorsParams) ([]store.ClaimedMonitor, error) {
	var out []store.ClaimedMonitor
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT `+monitorColumns+` FROM monitors
			WHERE paused = 0 AND next_run_at <= ? ORDER BY next_run_at LIMIT ?`,
			p.Now.UnixMilli(), p.Limit)
		if err != nil {
			return fmt.Errorf("sqlite: claim monitors: %w", err)
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
		if err := errors.Join(rows.Close(), rows.Err()); err != nil {
			return fmt.Errorf("sqlite: claim monitors: %w", err)
		}
		for _, m := range due {
			c := store.ClaimedMonitor{MonitorID: m.ID, DueAt: m.NextRunAt, NextRunAt: p.Next(m)}
			if m.Running != "" {
				if _, err := tx.ExecContext(ctx, `UPDATE monitors SET next_run_at = ?, skipped = skipped + 1 WHERE id = ?`,
					ms(c.NextRunAt), m.ID); err != nil {
					return fmt.Errorf("sqlite: claim monitors: skip: %w", err)
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
// session, and marks m running it with its next run time next.
func (s *Store) startMonitorRun(ctx context.Context, tx *sql.Tx, m monitor.Monitor, due, now, next time.Time,
	build func(monitor.Monitor, monitor.Run) (task.Task, error)) (monitor.Run, error) {
	run := monitor.Run{ID: task.NewID("run"), MonitorID: m.ID, DueAt: due, RunAt: now, SessionID: m.SessionID,
		Status: string(task.StatusQueued)}
	// The monitor's session may have been terminated through the session
	// API: the monitor carries on in a new one.
	state, _, err := sessionState(ctx, tx, m.SessionID)
	if err != nil {
		return monitor.Run{}, fmt.Errorf("sqlite: monitor %s session: %w", m.ID, err)
	}
	if state == task.SessionTerminated {
		m.SessionID = task.NewID("sess")
		run.SessionID = m.SessionID
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, tenant_id, state, created_at, last_active) VALUES (?, ?, ?, ?, ?)`,
			m.SessionID, m.TenantID, task.SessionActive, ms(now), ms(now)); err != nil {
			return monitor.Run{}, fmt.Errorf("sqlite: monitor %s new session: %w", m.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE monitors SET session_id = ? WHERE id = ?`, m.SessionID, m.ID); err != nil {
			return monitor.Run{}, fmt.Errorf("sqlite: monitor %s new session: %w", m.ID, err)
		}
	}
	t, err := build(m, run)
	if err != nil {
		return monitor.Run{}, fmt.Errorf("sqlite: monitor %s run: %w", m.ID, err)
	}
	t.SessionID, t.TenantID = m.SessionID, m.TenantID
	if err := s.addTask(ctx, tx, &t, now); err != nil {
		return monitor.Run{}, fmt.Errorf("sqlite: monitor %s run: %w", m.ID, err)
	}
	run.TaskID = t.ID
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO monitor_runs (id, monitor_id, tenant_id, task_id, session_id, due_at, run_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		run.ID, m.ID, m.TenantID, t.ID, m.SessionID, ms(due), ms(now)); err != nil {
		return monitor.Run{}, fmt.Errorf("sqlite: monitor %s run: %w", m.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE monitors SET next_run_at = ?, running_task_id = ?, runs = runs + 1, last_run_at = ? WHERE id = ?`,
		ms(next), t.ID, ms(now), m.ID); err != nil {
		return monitor.Run{}, fmt.Errorf("sqlite: monitor %s run: %w", m.ID, err)
	}
	return run, nil
}

// RunMonitorNow starts a run of a monitor at once; see store.Monitors.
func (s *Store) RunMonitorNow(ctx context.Context, p store.RunMonitorParams) (monitor.Run, error) {
	var run monitor.Run
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		m, err := scanMonitor(tx.QueryRowContext(ctx,
			`SELECT `+monitorColumns+` FROM monitors WHERE id = ? AND tenant_id = ?`, p.ID, p.TenantID))
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

func scanRun(row interface{ Scan(...any) error }) (monitor.Run, error) {
	var (
		r                      monitor.Run
		changes, fired, events string
		due, runAt, ended      sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.MonitorID, &r.TaskID, &r.SessionID, &due, &runAt, &r.Status,
		&r.Changed, &changes, &r.Truncated, &fired, &events, &ended)
	if err != nil {
		return monitor.Run{}, notFound(err)
	}
	if err := store.DecodeRunJSON(&r, changes, fired, events); err != nil {
		return monitor.Run{}, fmt.Errorf("sqlite: %w", err)
	}
	r.DueAt, r.RunAt, r.EndedAt = fromMS(due), fromMS(runAt), fromMS(ended)
	return r, nil
}

// MonitorRuns pages a tenant's monitor's runs, newest first.
func (s *Store) MonitorRuns(ctx context.Context, p store.MonitorRunsParams) ([]monitor.Run, error) {
	before := int64(1 << 62)
	beforeID := "\uffff"
	if !p.BeforeRunAt.IsZero() {
		before, beforeID = p.BeforeRunAt.UnixMilli(), p.BeforeID
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+`
		FROM monitor_runs r LEFT JOIN tasks t ON t.id = r.task_id
		WHERE r.monitor_id = ? AND r.tenant_id = ? AND (r.run_at < ? OR (r.run_at = ? AND r.id < ?))
		ORDER BY r.run_at DESC, r.id DESC LIMIT ?`,
		p.MonitorID, p.TenantID, before, before, beforeID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: monitor runs: %w", err)
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
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM monitors WHERE paused = 0 AND next_run_at <= ?`,
		now.UnixMilli()).Scan(&n)
	return n, err
}

// NextMonitorDue is the earliest next run time of the monitors not paused.
func (s *Store) NextMonitorDue(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(next_run_at) FROM monitors WHERE paused = 0`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next monitor due: %w", err)
	}
	return fromMS(at), at.Valid, nil
}

// settleMonitor writes a monitor run's end inside FinishTask's
// transaction: when the monitor still runs this task, its new state, the
// run's history entry and the deliveries it owes; else nothing. A final
// task also frees whichever monitor ran it, settled or not, so that no
// monitor waits forever on a task that ended another way.
func (s *Store) settleMonitor(ctx context.Context, tx *sql.Tx, p store.FinishParams, final bool, sessionID, tenantID string) error {
	if st := p.Monitor; st != nil {
		state, err := json.Marshal(st.State)
		if err != nil {
			return fmt.Errorf("sqlite: settle monitor: %w", err)
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE monitors SET state = ?, running_task_id = NULL, sealed_storage = coalesce(?, sealed_storage)
			WHERE id = ? AND running_task_id = ?`,
			string(state), st.SealedStorage, st.MonitorID, p.TaskID)
		if err != nil {
			return fmt.Errorf("sqlite: settle monitor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			changes, fired, events, err := store.RunJSON(st.Run)
			if err != nil {
				return fmt.Errorf("sqlite: settle monitor: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `
				UPDATE monitor_runs SET status = ?, changed = ?, changes = ?, truncated = ?, fired = ?, events = ?, ended_at = ?
				WHERE id = ?`,
				st.Run.Status, st.Run.Changed, changes, st.Run.Truncated, fired, events, ms(p.At), st.RunID); err != nil {
				return fmt.Errorf("sqlite: settle monitor run: %w", err)
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
				if _, err := tx.ExecContext(ctx, `
					DELETE FROM monitor_runs WHERE monitor_id = ? AND id IN (
						SELECT id FROM monitor_runs WHERE monitor_id = ?
						ORDER BY run_at DESC, id DESC LIMIT -1 OFFSET ?)`,
					st.MonitorID, st.MonitorID, st.KeepRuns); err != nil {
					return fmt.Errorf("sqlite: prune monitor runs: %w", err)
				}
			}
		}
	}
	if final {
		if _, err := tx.ExecContext(ctx, `UPDATE monitors SET running_task_id = NULL WHERE running_task_id = ?`,
			p.TaskID); err != nil {
			return fmt.Errorf("sqlite: finish task: free monitor: %w", err)
		}
	}
	return nil
}

// nullString stores "" as NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
