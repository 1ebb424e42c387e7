package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// conds builds a listing's WHERE clause with numbered placeholders.
type conds struct {
	where []string
	args  []any
}

// add appends a condition whose placeholders are written "?".
func (c *conds) add(cond string, args ...any) {
	for _, a := range args {
		c.args = append(c.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(c.args)), 1)
	}
	c.where = append(c.where, cond)
}

// after adds a page's cursor: rows older than the last one shown.
func (c *conds) after(prefix string, p store.Page) {
	if p.AfterAt.IsZero() {
		return
	}
	at := ts(p.AfterAt)
	c.add("("+prefix+"created_at < ? OR ("+prefix+"created_at = ? AND "+prefix+"id < ?))", at, at, p.AfterID)
}

// limit is the LIMIT clause of a page.
func (c *conds) limit(p store.Page) string {
	c.args = append(c.args, p.PageLimit())
	return fmt.Sprintf(" LIMIT $%d", len(c.args))
}

// ListTasks lists a tenant's tasks newest first; see store.TaskFilter.
func (s *Store) ListTasks(ctx context.Context, f store.TaskFilter) ([]task.Task, error) {
	var c conds
	c.add("tenant_id = ?", f.TenantID)
	if f.SessionID != "" {
		c.add("session_id = ?", f.SessionID)
	}
	if f.Status != "" {
		c.add("status = ?", f.Status)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		c.add("(starts_with(id, ?) OR starts_with(session_id, ?))", q, q)
	}
	c.after("", f.Page)
	lim := c.limit(f.Page)
	rows, err := s.pool.Query(ctx, `SELECT `+taskColumns+` FROM tasks WHERE `+strings.Join(c.where, " AND ")+`
		ORDER BY created_at DESC, id DESC`+lim, c.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tasks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (task.Task, error) { return scanTask(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list tasks: %w", err)
	}
	return out, nil
}

// ListSessions lists a tenant's sessions newest first; see
// store.SessionFilter.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.SessionSummary, error) {
	var c conds
	c.args = []any{task.StatusQueued, task.StatusRunning, task.StatusGuardrail} // $1-$3, the select list's
	c.add("s.tenant_id = ?", f.TenantID)
	if f.State != "" {
		c.add("s.state = ?", f.State)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		c.add(`(starts_with(s.id, ?) OR EXISTS (
			SELECT 1 FROM tasks t WHERE t.session_id = s.id AND starts_with(t.id, ?)))`, q, q)
	}
	c.after("s.", f.Page)
	lim := c.limit(f.Page)
	rows, err := s.pool.Query(ctx, `
		SELECT s.id, s.tenant_id, s.state, s.created_at, s.last_active,
		       EXISTS (SELECT 1 FROM tasks t WHERE t.session_id = s.id AND t.status IN ($1, $2, $3)),
		       (SELECT count(*) FROM tasks t WHERE t.session_id = s.id),
		       COALESCE((SELECT t.status FROM tasks t WHERE t.session_id = s.id ORDER BY t.seq DESC LIMIT 1), '')
		FROM sessions s WHERE `+strings.Join(c.where, " AND ")+`
		ORDER BY s.created_at DESC, s.id DESC`+lim, c.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.SessionSummary, error) {
		var (
			ss                store.SessionSummary
			created, lastSeen *time.Time
		)
		err := row.Scan(&ss.ID, &ss.TenantID, &ss.State, &created, &lastSeen, &ss.Busy, &ss.Tasks, &ss.LastStatus)
		ss.CreatedAt, ss.LastActive = fromTS(created), fromTS(lastSeen)
		return ss, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	return out, nil
}
