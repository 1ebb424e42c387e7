package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// ListTasks lists a tenant's tasks newest first; see store.TaskFilter.
func (s *Store) ListTasks(ctx context.Context, f store.TaskFilter) ([]task.Task, error) {
	where := []string{"tenant_id = ?"}
	args := []any{f.TenantID}
	if f.SessionID != "" {
		where = append(where, "session_id = ?")
		args = append(args, f.SessionID)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, "(substr(id, 1, ?) = ? OR substr(session_id, 1, ?) = ?)")
		args = append(args, len(q), q, len(q), q)
	}
	where, args = after(where, args, "", f.Page)
	args = append(args, f.PageLimit())
	rows, err := s.db.QueryContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE `+strings.Join(where, " AND ")+`
		ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tasks: %w", err)
	}
	defer rows.Close()
	var out []task.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ListSessions lists a tenant's sessions newest first; see
// store.SessionFilter.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.SessionSummary, error) {
	where := []string{"s.tenant_id = ?"}
	args := []any{f.TenantID}
	if f.State != "" {
		where = append(where, "s.state = ?")
		args = append(args, f.State)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, `(substr(s.id, 1, ?) = ? OR EXISTS (
			SELECT 1 FROM tasks t WHERE t.session_id = s.id AND substr(t.id, 1, ?) = ?))`)
		args = append(args, len(q), q, len(q), q)
	}
	where, args = after(where, args, "s.", f.Page)
	args = append([]any{task.StatusQueued, task.StatusRunning, task.StatusGuardrail}, args...)
	args = append(args, f.PageLimit())
	rows, err := s.db.QueryContext(ctx, `
		SELECT s.id, s.tenant_id, s.state, s.created_at, s.last_active,
		       EXISTS (SELECT 1 FROM tasks t WHERE t.session_id = s.id AND t.status IN (?, ?, ?)),
		       (SELECT count(*) FROM tasks t WHERE t.session_id = s.id),
		       COALESCE((SELECT t.status FROM tasks t WHERE t.session_id = s.id ORDER BY t.seq DESC LIMIT 1), '')
		FROM sessions s WHERE `+strings.Join(where, " AND ")+`
		ORDER BY s.created_at DESC, s.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.SessionSummary
	for rows.Next() {
		var (
			ss                store.SessionSummary
			created, lastSeen sql.NullInt64
		)
		if err := rows.Scan(&ss.ID, &ss.TenantID, &ss.State, &created, &lastSeen, &ss.Busy, &ss.Tasks, &ss.LastStatus); err != nil {
			return nil, fmt.Errorf("sqlite: list sessions: %w", err)
		}
		ss.CreatedAt, ss.LastActive = fromMS(created), fromMS(lastSeen)
		out = append(out, ss)
	}
	return out, rows.Err()
}

// after adds a page's cursor to a listing's conditions: rows older than
// the last one shown.
func after(where []string, args []any, prefix string, p store.Page) ([]string, []any) {
	if p.AfterAt.IsZero() {
		return where, args
	}
	at := ms(p.AfterAt)
	where = append(where, "("+prefix+"created_at < ? OR ("+prefix+"created_at = ? AND "+prefix+"id < ?))")
	return where, append(args, at, at, p.AfterID)
}
