package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// insertDelivery writes a delivery and its job inside tx: the delivery is
// owed exactly when the transaction that raised it commits.
func (s *Store) insertDelivery(ctx context.Context, tx *sql.Tx, d store.Delivery) error {
	if d.ID == "" {
		d.ID = task.NewID("msg")
	}
	if d.MaxAttempts < 1 {
		d.MaxAttempts = 1
	}
	if d.State == "" {
		d.State = store.DeliveryPending
	}
	body := d.Body
	if body == nil {
		body = []byte{} // NOT NULL: an empty body is still a body
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO deliveries (id, task_id, session_id, tenant_id, event, url, auth, secret, body,
			max_attempts, state, attempts, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.TaskID, d.SessionID, d.TenantID, d.Event, d.URL, d.Auth, d.Secret, body,
		d.MaxAttempts, d.State, d.Attempts, ms(d.CreatedAt))
	if isConstraint(err) {
		return fmt.Errorf("sqlite: delivery %s: %w", d.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert delivery: %w", err)
	}
	if d.State != store.DeliveryPending {
		return nil
	}
	return s.q.InsertDeliver(ctx, tx, d.ID)
}

const deliveryColumns = `id, task_id, session_id, tenant_id, event, url, auth, secret, body,
	max_attempts, state, attempts, created_at`

func scanDelivery(row interface{ Scan(...any) error }) (store.Delivery, error) {
	var (
		d       store.Delivery
		created sql.NullInt64
	)
	err := row.Scan(&d.ID, &d.TaskID, &d.SessionID, &d.TenantID, &d.Event, &d.URL, &d.Auth, &d.Secret,
		&d.Body, &d.MaxAttempts, &d.State, &d.Attempts, &created)
	if err != nil {
		return store.Delivery{}, notFound(err)
	}
	d.CreatedAt = fromMS(created)
	return d, nil
}

// Delivery loads a delivery, secrets included, for the sender.
func (s *Store) Delivery(ctx context.Context, id string) (store.Delivery, error) {
	return scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
}

// TaskDeliveries lists a task's deliveries, oldest first.
func (s *Store) TaskDeliveries(ctx context.Context, taskID string) ([]store.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE task_id = ? ORDER BY created_at, rowid`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: task deliveries: %w", err)
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecordAttempt stores one attempt and the delivery's new state together.
func (s *Store) RecordAttempt(ctx context.Context, p store.RecordParams) error {
	a := p.Attempt
	if a.At.IsZero() {
		a.At = s.now()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			taskID string
			event  task.Event
		)
		err := tx.QueryRowContext(ctx, `SELECT task_id, event FROM deliveries WHERE id = ?`, a.DeliveryID).
			Scan(&taskID, &event)
		if err != nil {
			return notFound(err)
		}
		// The delivery knows its task and event; the attempt need not repeat them.
		if a.TaskID == "" {
			a.TaskID = taskID
		}
		if a.Event == "" {
			a.Event = event
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO delivery_attempts (delivery_id, task_id, event, attempt, url, status_code,
				duration_ms, error, response_snippet, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.DeliveryID, a.TaskID, a.Event, a.Attempt, a.URL, a.StatusCode,
			a.DurationMs, a.Error, a.ResponseSnippet, ms(a.At)); err != nil {
			return fmt.Errorf("sqlite: record attempt: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = attempts + 1 WHERE id = ?`,
			p.State, a.DeliveryID); err != nil {
			return fmt.Errorf("sqlite: record attempt: %w", err)
		}
		return nil
	})
}

// Attempts lists a task's delivery attempts in the order they happened.
func (s *Store) Attempts(ctx context.Context, taskID string) ([]store.Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT delivery_id, task_id, event, attempt, url, status_code, duration_ms, error, response_snippet, at
		FROM delivery_attempts WHERE task_id = ? ORDER BY id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempts: %w", err)
	}
	defer rows.Close()
	var out []store.Attempt
	for rows.Next() {
		var (
			a  store.Attempt
			at sql.NullInt64
		)
		if err := rows.Scan(&a.DeliveryID, &a.TaskID, &a.Event, &a.Attempt, &a.URL, &a.StatusCode,
			&a.DurationMs, &a.Error, &a.ResponseSnippet, &at); err != nil {
			return nil, fmt.Errorf("sqlite: attempts: %w", err)
		}
		a.At = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Redeliver makes a delivery pending again with maxAttempts more attempts
// (to url if not empty) and enqueues it, in one transaction. It enqueues
// even when the delivery is still pending: a redelivery is sent now, not
// after a retry's back-off; the sender skips a job whose delivery has
// already succeeded or run out of attempts.
func (s *Store) Redeliver(ctx context.Context, id, url string, maxAttempts int) error {
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// maxAttempts more attempts from now; a delivery still retrying
		// keeps whatever budget it had if that is larger.
		res, err := tx.ExecContext(ctx, `
			UPDATE deliveries SET
				max_attempts = CASE WHEN state = ? THEN max(max_attempts, attempts + ?) ELSE attempts + ? END,
				state = ?,
				url = CASE WHEN ? <> '' THEN ? ELSE url END
			WHERE id = ?`,
			store.DeliveryPending, maxAttempts, maxAttempts, store.DeliveryPending, url, url, id)
		if err != nil {
			return fmt.Errorf("sqlite: redeliver: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.q.InsertDeliver(ctx, tx, id)
	})
}
