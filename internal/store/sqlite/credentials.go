package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/errandhq/errand/internal/task"
)

// sealClearCredentials seals the webhook credentials the store still holds
// in clear: rows written before migration 003, or by a process that had no
// key (Config.Credentials). Rows are flagged when written, so with none to
// seal this reads nothing but an empty index.
//
// The rows are rewritten with secure_delete on, so that SQLite zeroes the
// space the clear values held rather than leaving it for a later write,
// and the WAL is then emptied: no copy of them stays in the files.
func (s *Store) sealClearCredentials(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM deliveries WHERE credentials_in_clear = 1) +
		(SELECT count(*) FROM tasks WHERE webhook_in_clear = 1)`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: seal credentials: %w", err)
	}
	if n == 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("sqlite: seal credentials: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error { return s.sealClear(ctx, tx) })
	_, offErr := s.db.ExecContext(ctx, `PRAGMA secure_delete = OFF`)
	if err != nil {
		return err
	}
	if offErr != nil {
		return fmt.Errorf("sqlite: seal credentials: %w", offErr)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("sqlite: seal credentials: checkpoint: %w", err)
	}
	return nil
}

// sealClear seals, in tx, the rows flagged as holding credentials in clear.
func (s *Store) sealClear(ctx context.Context, tx *sql.Tx) error {
	ds, err := queryAll(ctx, tx, func(row scanner) (task.Delivery, error) {
		var d task.Delivery
		err := row.Scan(&d.ID, &d.TaskID, &d.URL, &d.Auth, &d.Secret)
		return d, err
	}, `SELECT id, task_id, url, auth, secret FROM deliveries WHERE credentials_in_clear = 1`)
	if err != nil {
		return fmt.Errorf("sqlite: seal credentials: %w", err)
	}
	for _, d := range ds {
		d.SealCredentials(s.creds)
		if _, err := tx.ExecContext(ctx, `
			UPDATE deliveries SET url = ?, auth = ?, secret = ?, sealed_credentials = ?, credentials_in_clear = 0
			WHERE id = ?`, d.URL, d.Auth, d.Secret, d.SealedCredentials, d.ID); err != nil {
			return fmt.Errorf("sqlite: seal credentials: %w", err)
		}
	}
	specs, err := queryAll(ctx, tx, scanSpec, `SELECT id, spec FROM tasks WHERE webhook_in_clear = 1`)
	if err != nil {
		return fmt.Errorf("sqlite: seal credentials: %w", err)
	}
	for _, ts := range specs {
		ts.spec.Webhook.SealCredentials(s.creds, ts.id)
		if err := updateSpec(ctx, tx, ts, `, webhook_in_clear = 0`); err != nil {
			return err
		}
	}
	return nil
}

// taskSpec is a task's id and spec.
type taskSpec struct {
	id   string
	spec task.Spec
}

func scanSpec(row scanner) (taskSpec, error) {
	var (
		ts   taskSpec
		spec string
	)
	if err := row.Scan(&ts.id, &spec); err != nil {
		return ts, err
	}
	if err := json.Unmarshal([]byte(spec), &ts.spec); err != nil {
		return ts, fmt.Errorf("task %s spec: %w", ts.id, err)
	}
	return ts, nil
}

// updateSpec writes ts's spec back, and set (", column = value") too.
func updateSpec(ctx context.Context, tx *sql.Tx, ts taskSpec, set string) error {
	spec, err := json.Marshal(ts.spec)
	if err != nil {
		return fmt.Errorf("sqlite: task %s spec: %w", ts.id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tasks SET spec = ?`+set+` WHERE id = ?`, string(spec), ts.id); err != nil {
		return fmt.Errorf("sqlite: task %s spec: %w", ts.id, err)
	}
	return nil
}
