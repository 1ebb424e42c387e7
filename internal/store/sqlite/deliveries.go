package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// insertDelivery writes a delivery inside tx: the delivery is owed exactly
// when the transaction that raised it commits (the table is the outbox).
func (s *Store) insertDelivery(ctx context.Context, tx *sql.Tx, d task.Delivery) error {
	if d.ID == "" {
		d.ID = task.NewID("msg")
	}
	if d.MaxAttempts < 1 {
		d.MaxAttempts = 1
	}
	if d.State == "" {
		d.State = task.DeliveryPending
	}
	if d.NextAt.IsZero() {
		d.NextAt = d.CreatedAt
	}
	body := d.Body
	if body == nil {
		body = []byte{} // NOT NULL: an empty body is still a body
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO deliveries (id, task_id, session_id, tenant_id, event, url, auth, secret, sealed_credentials,
			credentials_in_clear, body, max_attempts, state, attempts, created_at, next_at, monitor_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.TaskID, d.SessionID, d.TenantID, d.Event, d.URL, d.Auth, d.Secret, d.SealedCredentials,
		d.CredentialsInClear(), body, d.MaxAttempts, d.State, d.Attempts, ms(d.CreatedAt), ms(d.NextAt), d.MonitorID)
	if isConstraint(err) {
		return fmt.Errorf("sqlite: delivery %s: %w", d.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert delivery: %w", err)
	}
	return nil
}

const deliveryColumns = `id, task_id, session_id, tenant_id, event, url, auth, secret, sealed_credentials,
	body, max_attempts, state, attempts, created_at, next_at, monitor_id`

func scanDelivery(row scanner) (task.Delivery, error) {
	var (
		d             task.Delivery
		created, next sql.NullInt64
	)
	err := row.Scan(&d.ID, &d.TaskID, &d.SessionID, &d.TenantID, &d.Event, &d.URL, &d.Auth, &d.Secret,
		&d.SealedCredentials, &d.Body, &d.MaxAttempts, &d.State, &d.Attempts, &created, &next, &d.MonitorID)
	if err != nil {
		return task.Delivery{}, notFound(err)
	}
	d.CreatedAt = fromMS(created)
	d.NextAt = fromMS(next)
	return d, nil
}

// Delivery loads a delivery, secrets included, for the sender.
func (s *Store) Delivery(ctx context.Context, id string) (task.Delivery, error) {
	return scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
}

// TaskDeliveries lists a task's deliveries, oldest first.
func (s *Store) TaskDeliveries(ctx context.Context, taskID string) ([]task.Delivery, error) {
	out, err := queryAll(ctx, s.db, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE task_id = ? ORDER BY created_at, rowid`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: task deliveries: %w", err)
	}
	return out, nil
}

// ClaimDeliveries leases due pending deliveries to p.Owner, oldest due
// first, in one statement.
func (s *Store) ClaimDeliveries(ctx context.Context, p task.DeliveryClaim) ([]task.Delivery, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	out, err := queryAll(ctx, s.db, scanDelivery, `
		UPDATE deliveries SET lease_owner = ?, lease_until = ?
		WHERE id IN (
			SELECT id FROM deliveries
			WHERE state = 'pending' AND next_at <= ? AND lease_until <= ?
			ORDER BY next_at LIMIT ?)
		RETURNING `+deliveryColumns,
		p.Owner, ms(p.Until), ms(p.Now), ms(p.Now), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	return out, nil
}

// ReleaseDeliveries hands leased deliveries back unsent, due at next. Only
// the lease holder's release counts: a node whose lease ran out must not
// free a delivery another node has claimed since.
//
// A redelivery asked while the lease ran (redo) was waiting for the
// attempt to settle; no attempt happened, so the delivery is simply due:
// now, or at next if that is sooner, and redo is cleared. Left set, redo
// would make the next attempt's success count for nothing (one send too
// many), and next could push the redelivery asked "now" far out.
func (s *Store) ReleaseDeliveries(ctx context.Context, owner string, ids []string, next time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	now := ms(s.now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `
				UPDATE deliveries SET lease_owner = '', lease_until = 0,
					next_at = CASE WHEN redo = 1 THEN min(?, ?) ELSE ? END, redo = 0
				WHERE id = ? AND lease_owner = ?`, ms(next), now, ms(next), id, owner); err != nil {
				return fmt.Errorf("sqlite: release deliveries: %w", err)
			}
		}
		return nil
	})
}

// RecordAttempts stores attempts and their deliveries' new states in one
// transaction (a group commit: the sender batches what finished together).
func (s *Store) RecordAttempts(ctx context.Context, ps []task.AttemptRecord) error {
	if len(ps) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			a := p.Attempt
			if a.At.IsZero() {
				a.At = s.now()
			}
			if a.TaskID == "" || a.Event == "" {
				// The delivery knows its task and event; the attempt need
				// not repeat them.
				if err := tx.QueryRowContext(ctx, `SELECT task_id, event FROM deliveries WHERE id = ?`,
					a.DeliveryID).Scan(&a.TaskID, &a.Event); err != nil {
					return notFound(err)
				}
			}
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO delivery_attempts (delivery_id, task_id, event, attempt, url, status_code,
					duration_ms, error, response_snippet, at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.DeliveryID, a.TaskID, a.Event, a.Attempt, a.URL, a.StatusCode,
				a.DurationMs, a.Error, a.ResponseSnippet, ms(a.At)); err != nil {
				return fmt.Errorf("sqlite: record attempt: %w", err)
			}
			next := p.NextAt
			if next.IsZero() {
				next = a.At
			}
			// A redelivery asked during this attempt (redo) keeps the
			// delivery due now, whatever this attempt's outcome.
			res, err := tx.ExecContext(ctx, `
				UPDATE deliveries SET
					state = CASE WHEN redo = 1 THEN ? ELSE ? END,
					next_at = CASE WHEN redo = 1 THEN ? ELSE ? END,
					attempts = attempts + 1, redo = 0, lease_owner = '', lease_until = 0
				WHERE id = ?`, task.DeliveryPending, p.State, ms(a.At), ms(next), a.DeliveryID)
			if err != nil {
				return fmt.Errorf("sqlite: record attempt: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return store.ErrNotFound
			}
		}
		return nil
	})
}

// Attempts lists a task's delivery attempts in the order they happened.
func (s *Store) Attempts(ctx context.Context, taskID string) ([]task.Attempt, error) {
	out, err := queryAll(ctx, s.db, scanAttempt, `
		SELECT delivery_id, task_id, event, attempt, url, status_code, duration_ms, error, response_snippet, at
		FROM delivery_attempts WHERE task_id = ? ORDER BY id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempts: %w", err)
	}
	return out, nil
}

func scanAttempt(row scanner) (task.Attempt, error) {
	var (
		a  task.Attempt
		at sql.NullInt64
	)
	err := row.Scan(&a.DeliveryID, &a.TaskID, &a.Event, &a.Attempt, &a.URL, &a.StatusCode,
		&a.DurationMs, &a.Error, &a.ResponseSnippet, &at)
	a.At = fromMS(at)
	return a, err
}

// Redeliver makes a delivery pending and due now with p.MaxAttempts more
// attempts (to p.URL if not empty). A delivery still retrying is due now
// too: a redelivery is sent now, not after a retry's back-off. A lease in
// progress is left alone: that attempt settles first.
func (s *Store) Redeliver(ctx context.Context, p store.RedeliverParams) error {
	maxAttempts, url, id := max(p.MaxAttempts, 1), p.URL, p.ID
	// A new URL comes with its credentials sealed (then Auth and Secret are
	// in them), or with none sealed (its userinfo, if any, is in clear).
	sealed := url != "" && len(p.SealedCredentials) > 0
	_, userinfo := task.SplitUserinfo(url)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// maxAttempts more attempts from now; a delivery still retrying
		// keeps whatever budget it had if that is larger. While an attempt
		// is in flight (leased), its outcome must not settle the
		// redelivery: redo makes RecordAttempts leave it due.
		res, err := tx.ExecContext(ctx, `
			UPDATE deliveries SET
				max_attempts = CASE
					WHEN lease_owner <> '' THEN max(max_attempts, attempts + 1 + ?)
					WHEN state = ? THEN max(max_attempts, attempts + ?)
					ELSE attempts + ? END,
				redo = CASE WHEN lease_owner <> '' THEN 1 ELSE 0 END,
				state = ?,
				next_at = ?,
				url = CASE WHEN ? <> '' THEN ? ELSE url END,
				sealed_credentials = CASE WHEN ? <> '' THEN ? ELSE sealed_credentials END,
				auth = CASE WHEN ? THEN '' ELSE auth END,
				secret = CASE WHEN ? THEN '' ELSE secret END,
				credentials_in_clear = CASE
					WHEN ? THEN 0
					WHEN ? THEN 1
					ELSE credentials_in_clear END
			WHERE id = ?`,
			maxAttempts, task.DeliveryPending, maxAttempts, maxAttempts, task.DeliveryPending, ms(s.now()), url, url,
			url, p.SealedCredentials, sealed, sealed, sealed, userinfo != "", id)
		if err != nil {
			return fmt.Errorf("sqlite: redeliver: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// Depths counts queued and running tasks and pending deliveries.
func (s *Store) Depths(ctx context.Context) (store.Depths, error) {
	var d store.Depths
	err := s.db.QueryRowContext(ctx, `
		SELECT
			(SELECT count(*) FROM tasks WHERE status = 'queued'),
			(SELECT count(*) FROM tasks WHERE status = 'running'),
			(SELECT count(*) FROM deliveries WHERE state = 'pending')`).
		Scan(&d.TasksQueued, &d.TasksRunning, &d.DeliveriesPending)
	if err != nil {
		return d, fmt.Errorf("sqlite: depths: %w", err)
	}
	return d, nil
}
