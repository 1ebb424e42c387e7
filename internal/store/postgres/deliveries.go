package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// insertDelivery writes a delivery inside tx: the delivery is owed exactly
// when the transaction that raised it commits (the table is the outbox).
func (s *Store) insertDelivery(ctx context.Context, tx pgx.Tx, d task.Delivery) error {
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
	_, err := tx.Exec(ctx, `
		INSERT INTO deliveries (id, task_id, session_id, tenant_id, event, url, auth, secret, sealed_credentials,
			credentials_in_clear, body, max_attempts, state, attempts, created_at, next_at, monitor_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		d.ID, d.TaskID, d.SessionID, d.TenantID, d.Event, d.URL, d.Auth, d.Secret, d.SealedCredentials,
		d.CredentialsInClear(), body, d.MaxAttempts, d.State, d.Attempts, ts(d.CreatedAt), ts(d.NextAt), d.MonitorID)
	if isConstraint(err) {
		return fmt.Errorf("postgres: delivery %s: %w", d.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert delivery: %w", err)
	}
	return nil
}

const deliveryColumns = `id, task_id, session_id, tenant_id, event, url, auth, secret, sealed_credentials,
	body, max_attempts, state, attempts, created_at, next_at, monitor_id`

func scanDelivery(row pgx.Row) (task.Delivery, error) {
	var (
		d             task.Delivery
		created, next *time.Time
	)
	err := row.Scan(&d.ID, &d.TaskID, &d.SessionID, &d.TenantID, &d.Event, &d.URL, &d.Auth, &d.Secret,
		&d.SealedCredentials, &d.Body, &d.MaxAttempts, &d.State, &d.Attempts, &created, &next, &d.MonitorID)
	if err != nil {
		return task.Delivery{}, notFound(err)
	}
	d.CreatedAt, d.NextAt = fromTS(created), fromTS(next)
	return d, nil
}

func collectDeliveries(rows pgx.Rows, err error) ([]task.Delivery, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, rowTo(scanDelivery))
}

// Delivery loads a delivery, secrets included.
func (s *Store) Delivery(ctx context.Context, id string) (task.Delivery, error) {
	return scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id))
}

// TaskDeliveries lists a task's deliveries, oldest first.
func (s *Store) TaskDeliveries(ctx context.Context, taskID string) ([]task.Delivery, error) {
	out, err := collectDeliveries(s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE task_id = $1 ORDER BY created_at, seq`, taskID))
	if err != nil {
		return nil, fmt.Errorf("postgres: task deliveries: %w", err)
	}
	return out, nil
}

// ClaimDeliveries leases due pending deliveries to p.Owner, oldest due
// first, in one statement. Rows another node is claiming at the same moment
// are skipped rather than waited for (SKIP LOCKED), and a row whose lease
// another claim has just committed fails the re-check of the WHERE clause
// that PostgreSQL makes on locking it: two nodes never hold one lease.
// 'pending' is a literal so that the planner can use the deliveries_due
// partial index.
func (s *Store) ClaimDeliveries(ctx context.Context, p task.DeliveryClaim) ([]task.Delivery, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	out, err := collectDeliveries(s.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM deliveries
			WHERE state = 'pending' AND next_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_at, seq LIMIT $2
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE deliveries d SET lease_owner = $3, lease_until = $4
			FROM due WHERE d.id = due.id
			RETURNING d.*
		)
		SELECT `+deliveryColumns+` FROM claimed ORDER BY next_at, seq`,
		ts(p.Now), p.Limit, p.Owner, ts(p.Until)))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim deliveries: %w", err)
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
	_, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET lease_owner = '', lease_until = NULL,
			next_at = CASE WHEN redo THEN least($1::timestamptz, $4::timestamptz) ELSE $1::timestamptz END,
			redo = false
		WHERE id = ANY($2) AND lease_owner = $3`, ts(next), ids, owner, ts(s.now()))
	if err != nil {
		return fmt.Errorf("postgres: release deliveries: %w", err)
	}
	return nil
}

// recordAttempt settles one attempt in one statement: the delivery's new
// state (which also locks its row and tells its task and event) and the
// attempt row, which is only written if the delivery exists. A redelivery
// asked during this attempt (redo) keeps the delivery due now ($13, the
// attempt's time), whatever this attempt's outcome.
const recordAttempt = `
	WITH d AS (
		UPDATE deliveries SET
			state = CASE WHEN redo THEN $14::text ELSE $2::text END,
			next_at = CASE WHEN redo THEN $13::timestamptz ELSE $3::timestamptz END,
			attempts = attempts + 1, redo = false, lease_owner = '', lease_until = NULL
		WHERE id = $1
		RETURNING id, task_id, event
	)
	INSERT INTO delivery_attempts (delivery_id, task_id, event, attempt, url, status_code,
		duration_ms, error, response_snippet, at)
	SELECT d.id, coalesce(nullif($4, ''), d.task_id), coalesce(nullif($5, ''), d.event),
		$6, $7, $8, $9, $10, $11, $12
	FROM d`

// RecordAttempts stores attempts and their deliveries' new states in one
// transaction (a group commit: the sender batches what finished together),
// sent to the server in one round trip. ErrNotFound, and nothing stored, if
// one of the deliveries does not exist.
func (s *Store) RecordAttempts(ctx context.Context, ps []task.AttemptRecord) error {
	if len(ps) == 0 {
		return nil
	}
	// Rows are locked in id order whatever order the sender finished in, so
	// two batches that share deliveries (a lease that ran out and was
	// claimed again) wait for each other instead of deadlocking. The sort
	// is stable: attempts of one delivery keep their order.
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b task.AttemptRecord) int {
		return strings.Compare(a.Attempt.DeliveryID, b.Attempt.DeliveryID)
	})
	return s.inTx(ctx, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, p := range ps {
			a := p.Attempt
			if a.At.IsZero() {
				a.At = s.now()
			}
			next := p.NextAt
			if next.IsZero() {
				next = a.At
			}
			batch.Queue(recordAttempt, a.DeliveryID, p.State, ts(next), a.TaskID, string(a.Event),
				a.Attempt, a.URL, a.StatusCode, a.DurationMs, a.Error, a.ResponseSnippet, ts(a.At),
				ts(a.At), task.DeliveryPending)
		}
		results := tx.SendBatch(ctx, batch)
		for range ps {
			tag, err := results.Exec()
			if err != nil {
				_ = results.Close()
				return fmt.Errorf("postgres: record attempts: %w", err)
			}
			if tag.RowsAffected() == 0 {
				_ = results.Close()
				return store.ErrNotFound
			}
		}
		if err := results.Close(); err != nil {
			return fmt.Errorf("postgres: record attempts: %w", err)
		}
		return nil
	})
}

// Attempts lists a task's delivery attempts in the order they happened.
func (s *Store) Attempts(ctx context.Context, taskID string) ([]task.Attempt, error) {
	// The columns are named as task.Attempt's fields; at is read in UTC
	// (a timestamp without zone), as fromTS answers times.
	rows, err := s.pool.Query(ctx, `
		SELECT delivery_id, task_id, event, attempt, url, status_code, duration_ms, error, response_snippet,
			at AT TIME ZONE 'UTC' AS at
		FROM delivery_attempts WHERE task_id = $1 ORDER BY id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("postgres: attempts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[task.Attempt])
	if err != nil {
		return nil, fmt.Errorf("postgres: attempts: %w", err)
	}
	return out, nil
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
	// maxAttempts more attempts from now; a delivery still retrying keeps
	// whatever budget it had if that is larger. While an attempt is in
	// flight (leased), its outcome must not settle the redelivery: redo
	// makes RecordAttempts leave it due. One statement: the row lock it
	// takes orders it against a RecordAttempts of the same delivery.
	tag, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET
			max_attempts = CASE
				WHEN lease_owner <> '' THEN greatest(max_attempts, attempts + 1 + $2)
				WHEN state = $1 THEN greatest(max_attempts, attempts + $2)
				ELSE attempts + $2 END,
			redo = lease_owner <> '',
			state = $1,
			next_at = $3,
			url = CASE WHEN $4 <> '' THEN $4 ELSE url END,
			sealed_credentials = CASE WHEN $4 <> '' THEN $6 ELSE sealed_credentials END,
			auth = CASE WHEN $7 THEN '' ELSE auth END,
			secret = CASE WHEN $7 THEN '' ELSE secret END,
			credentials_in_clear = CASE WHEN $7 THEN false WHEN $8 THEN true ELSE credentials_in_clear END
		WHERE id = $5`,
		task.DeliveryPending, maxAttempts, ts(s.now()), url, id, p.SealedCredentials, sealed, userinfo != "")
	if err != nil {
		return fmt.Errorf("postgres: redeliver: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Depths counts queued and running tasks and pending deliveries, across all
// nodes.
func (s *Store) Depths(ctx context.Context) (store.Depths, error) {
	var d store.Depths
	// Literals, not parameters: the planner only uses a partial index
	// (tasks_active, deliveries_due) when it can see the query's value
	// matches the index's, and pgx's cached statements get generic plans.
	err := s.pool.QueryRow(ctx, `
		SELECT
			(SELECT count(*) FROM tasks WHERE status = 'queued'),
			(SELECT count(*) FROM tasks WHERE status = 'running'),
			(SELECT count(*) FROM deliveries WHERE state = 'pending')`).
		Scan(&d.TasksQueued, &d.TasksRunning, &d.DeliveriesPending)
	if err != nil {
		return d, fmt.Errorf("postgres: depths: %w", err)
	}
	return d, nil
}
