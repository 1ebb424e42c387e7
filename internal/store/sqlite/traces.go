package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// insertShot stores a step's screenshot (package trace) with its step.
func insertShot(ctx context.Context, tx *sql.Tx, stepID int64, taskID string, at time.Time, sh *task.Screenshot) error {
	var jpeg []byte // NULL without an image
	if len(sh.JPEG) > 0 {
		jpeg = sh.JPEG
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO trace_shots (step_id, task_id, at, bytes, width, height, omitted, jpeg)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		stepID, taskID, ms(at), len(jpeg), sh.Width, sh.Height, sh.Omitted, jpeg)
	return err
}

// Screenshot returns the image of a task's step number index (1-based).
func (s *Store) Screenshot(ctx context.Context, taskID string, index int) ([]byte, error) {
	if index < 1 {
		return nil, store.ErrNotFound
	}
	var jpeg []byte
	err := s.db.QueryRowContext(ctx, `
		SELECT sh.jpeg FROM trace_shots sh
		WHERE sh.step_id = (SELECT id FROM steps WHERE task_id = ? ORDER BY id LIMIT 1 OFFSET ?)
		  AND sh.bytes > 0`, taskID, index-1).Scan(&jpeg)
	if err != nil {
		return nil, notFound(err)
	}
	return jpeg, nil
}

// pruneBatch bounds the images one transaction of PruneScreenshots
// removes, so that the one writer is never held long.
const pruneBatch = 200

// PruneScreenshots removes images past the retention; see
// store.PruneParams.
func (s *Store) PruneScreenshots(ctx context.Context, p store.PruneParams) (store.Pruned, error) {
	var out store.Pruned
	before := int64(-1 << 62)
	if !p.Before.IsZero() {
		before = p.Before.UnixMilli()
	}
	limit := p.MaxBytes
	if limit <= 0 {
		limit = 1 << 62
	}
	for {
		n, size, err := s.pruneBatch(ctx, before, limit, p.Reason)
		if err != nil {
			return out, fmt.Errorf("sqlite: prune screenshots: %w", err)
		}
		out.Removed += n
		out.RemovedBytes += size
		if n < pruneBatch {
			break
		}
	}
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(bytes), 0) FROM trace_shots WHERE bytes > 0`).Scan(&out.KeptBytes)
	if err != nil {
		return out, fmt.Errorf("sqlite: prune screenshots: %w", err)
	}
	return out, nil
}

// pruneBatch removes up to pruneBatch images, oldest first, and returns how
// many and their size.
func (s *Store) pruneBatch(ctx context.Context, before, limit int64, reason string) (int, int64, error) {
	var (
		ids  []int64
		size int64
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Newest first, the running total of the images kept: an image goes
		// when it is too old or when the newer ones already fill the
		// budget.
		rows, err := tx.QueryContext(ctx, `
			SELECT step_id, bytes FROM (
				SELECT step_id, at, bytes, SUM(bytes) OVER (ORDER BY at DESC, step_id DESC) AS total
				FROM trace_shots WHERE bytes > 0
			) WHERE at < ? OR total > ?
			ORDER BY at, step_id LIMIT ?`, before, limit, pruneBatch)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			size += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx,
				`UPDATE trace_shots SET jpeg = NULL, bytes = 0, omitted = ? WHERE step_id = ?`, reason, id); err != nil {
				return err
			}
		}
		return nil
	})
	return len(ids), size, err
}
