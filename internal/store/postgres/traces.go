package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// insertShot stores a step's screenshot (package trace) with its step.
func insertShot(ctx context.Context, tx pgx.Tx, stepID int64, taskID string, at time.Time, sh *task.Screenshot) error {
	var jpeg []byte // NULL without an image
	if len(sh.JPEG) > 0 {
		jpeg = sh.JPEG
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO trace_shots (step_id, task_id, at, bytes, width, height, omitted, jpeg)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		stepID, taskID, ts(at), len(jpeg), sh.Width, sh.Height, sh.Omitted, jpeg)
	return err
}

// Screenshot returns the image of a task's step number index (1-based).
func (s *Store) Screenshot(ctx context.Context, taskID string, index int) ([]byte, error) {
	if index < 1 {
		return nil, store.ErrNotFound
	}
	var jpeg []byte
	err := s.pool.QueryRow(ctx, `
		SELECT sh.jpeg FROM trace_shots sh
		WHERE sh.step_id = (SELECT id FROM steps WHERE task_id = $1 ORDER BY id LIMIT 1 OFFSET $2)
		  AND sh.bytes > 0`, taskID, index-1).Scan(&jpeg)
	if err != nil {
		return nil, notFound(err)
	}
	return jpeg, nil
}

// pruneBatch bounds the images one statement of PruneScreenshots removes,
// so that no transaction holds many rows long.
const pruneBatch = 500

// PruneScreenshots removes images past the retention; see
// store.PruneParams. Several nodes may prune at once: a row another node
// is removing is skipped, and one of them removes it.
func (s *Store) PruneScreenshots(ctx context.Context, p store.PruneParams) (store.Pruned, error) {
	var out store.Pruned
	limit := p.MaxBytes
	if limit <= 0 {
		limit = 1 << 62
	}
	for {
		// Newest first, the running total of the images kept: an image goes
		// when it is too old or when the newer ones already fill the
		// budget.
		var n int
		var size int64
		err := s.pool.QueryRow(ctx, `
			WITH doomed AS (
				SELECT step_id FROM (
					SELECT step_id, at, SUM(bytes) OVER (ORDER BY at DESC, step_id DESC) AS total
					FROM trace_shots WHERE bytes > 0
				) r WHERE ($1::timestamptz IS NOT NULL AND at < $1) OR total > $2
				ORDER BY at, step_id LIMIT $3
			), gone AS (
				UPDATE trace_shots sh SET jpeg = NULL, bytes = 0, omitted = $4
				FROM (SELECT t.step_id, t.bytes FROM trace_shots t WHERE t.step_id IN (SELECT step_id FROM doomed)
				      FOR UPDATE SKIP LOCKED) d
				WHERE sh.step_id = d.step_id
				RETURNING d.bytes
			)
			SELECT count(*), COALESCE(SUM(bytes), 0) FROM gone`,
			ts(p.Before), limit, pruneBatch, p.Reason).Scan(&n, &size)
		if err != nil {
			return out, fmt.Errorf("postgres: prune screenshots: %w", err)
		}
		out.Removed += n
		out.RemovedBytes += size
		if n < pruneBatch {
			break
		}
	}
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(bytes), 0) FROM trace_shots WHERE bytes > 0`).Scan(&out.KeptBytes); err != nil {
		return out, fmt.Errorf("postgres: prune screenshots: %w", err)
	}
	return out, nil
}
