package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/task"
)

// sealClearCredentials seals the webhook credentials the store still holds
// in clear: rows written before migration 003, or by a node that had no key
// (Config.Credentials). Rows are flagged when written, so with none to seal
// this reads nothing but an empty index. Nodes opening together seal
// disjoint rows (SKIP LOCKED). The rows' old versions, clear values and
// all, stay in the tables' files until PostgreSQL reuses their space; run
// VACUUM FULL deliveries, tasks to rewrite the files at once.
func (s *Store) sealClearCredentials(ctx context.Context) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, task_id, url, auth, secret FROM deliveries
			WHERE credentials_in_clear FOR UPDATE SKIP LOCKED`)
		if err != nil {
			return fmt.Errorf("postgres: seal credentials: %w", err)
		}
		ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (task.Delivery, error) {
			var d task.Delivery
			err := row.Scan(&d.ID, &d.TaskID, &d.URL, &d.Auth, &d.Secret)
			return d, err
		})
		if err != nil {
			return fmt.Errorf("postgres: seal credentials: %w", err)
		}
		for _, d := range ds {
			d.SealCredentials(s.creds)
			if _, err := tx.Exec(ctx, `
				UPDATE deliveries SET url = $1, auth = $2, secret = $3, sealed_credentials = $4, credentials_in_clear = false
				WHERE id = $5`, d.URL, d.Auth, d.Secret, d.SealedCredentials, d.ID); err != nil {
				return fmt.Errorf("postgres: seal credentials: %w", err)
			}
		}
		specs, err := querySpecs(ctx, tx, `SELECT id, spec FROM tasks WHERE webhook_in_clear FOR UPDATE SKIP LOCKED`)
		if err != nil {
			return fmt.Errorf("postgres: seal credentials: %w", err)
		}
		for _, ts := range specs {
			ts.spec.Webhook.SealCredentials(s.creds, ts.id)
			if err := updateSpec(ctx, tx, ts, `, webhook_in_clear = false`); err != nil {
				return err
			}
		}
		return nil
	})
}

// taskSpec is a task's id and spec.
type taskSpec struct {
	id   string
	spec task.Spec
}

func querySpecs(ctx context.Context, tx pgx.Tx, query string) ([]taskSpec, error) {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (taskSpec, error) {
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
	})
}

// updateSpec writes ts's spec back, and set (", column = value") too.
func updateSpec(ctx context.Context, tx pgx.Tx, ts taskSpec, set string) error {
	spec, err := json.Marshal(ts.spec)
	if err != nil {
		return fmt.Errorf("postgres: task %s spec: %w", ts.id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tasks SET spec = $1`+set+` WHERE id = $2`, string(spec), ts.id); err != nil {
		return fmt.Errorf("postgres: task %s spec: %w", ts.id, err)
	}
	return nil
}
