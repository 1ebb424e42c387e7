package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// insertFiles stores a run's files after the task's earlier ones, in the
// transaction that stores the run's outcome.
func insertFiles(ctx context.Context, tx pgx.Tx, taskID, tenantID string, files []task.File) error {
	if len(files) == 0 {
		return nil
	}
	var seq int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM files WHERE task_id = $1`, taskID).Scan(&seq); err != nil {
		return fmt.Errorf("postgres: files: %w", err)
	}
	for _, f := range files {
		seq++
		if _, err := tx.Exec(ctx, `
			INSERT INTO files (id, task_id, tenant_id, seq, name, media_type, size, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			f.ID, taskID, tenantID, seq, f.Name, f.Type, f.Size, ts(f.CreatedAt)); err != nil {
			return fmt.Errorf("postgres: file %s: %w", f.ID, err)
		}
		err := store.WriteChunks(f, func(n int, data []byte) error {
			_, err := tx.Exec(ctx, `INSERT INTO file_chunks (file_id, n, data) VALUES ($1, $2, $3)`, f.ID, n, data)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: file %s: %w", f.ID, err)
		}
	}
	return nil
}

const fileColumns = `id, name, media_type, size, created_at`

func scanFile(row pgx.Row) (task.File, error) {
	var f task.File
	var at *time.Time
	err := row.Scan(&f.ID, &f.Name, &f.Type, &f.Size, &at)
	f.CreatedAt = fromTS(at)
	return f, err
}

// Files lists a task's stored files.
func (s *Store) Files(ctx context.Context, taskID string) ([]task.File, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+fileColumns+` FROM files WHERE task_id = $1 ORDER BY seq`, taskID)
	if err != nil {
		return nil, fmt.Errorf("postgres: files: %w", err)
	}
	files, err := pgx.CollectRows(rows, rowTo(scanFile))
	if err != nil {
		return nil, fmt.Errorf("postgres: files: %w", err)
	}
	return files, nil
}

// OpenFile opens a stored file to read, a chunk (one query) at a time.
func (s *Store) OpenFile(ctx context.Context, taskID, fileID string) (task.File, io.ReadCloser, error) {
	f, err := scanFile(s.pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM files WHERE id = $1 AND task_id = $2`, fileID, taskID))
	if err != nil {
		return task.File{}, nil, notFound(err)
	}
	r := store.NewChunkReader(func(n int) ([]byte, bool, error) {
		var data []byte
		err := s.pool.QueryRow(ctx, `SELECT data FROM file_chunks WHERE file_id = $1 AND n = $2`, fileID, n).Scan(&data)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, false, nil
		case err != nil:
			return nil, false, fmt.Errorf("postgres: file %s: %w", fileID, err)
		}
		return data, true, nil
	})
	return f, r, nil
}

// DeleteTask deletes a final task and everything of it.
func (s *Store) DeleteTask(ctx context.Context, tenantID, sessionID, taskID string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var status task.Status
		err := tx.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1 AND session_id = $2 AND tenant_id = $3 FOR UPDATE`,
			taskID, sessionID, tenantID).Scan(&status)
		if err != nil {
			return notFound(err)
		}
		if !status.Final() {
			return store.ErrConflict
		}
		var pending int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE task_id = $1 AND state = $2`,
			taskID, task.DeliveryPending).Scan(&pending); err != nil {
			return fmt.Errorf("postgres: delete task: %w", err)
		}
		if pending > 0 {
			return store.ErrConflict
		}
		for _, q := range []string{
			`DELETE FROM file_chunks WHERE file_id IN (SELECT id FROM files WHERE task_id = $1)`,
			`DELETE FROM files WHERE task_id = $1`,
			`DELETE FROM delivery_attempts WHERE task_id = $1`,
			`DELETE FROM deliveries WHERE task_id = $1`,
			`DELETE FROM steps WHERE task_id = $1`, // and their trace (ON DELETE CASCADE)
			`DELETE FROM tasks WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, taskID); err != nil {
				return fmt.Errorf("postgres: delete task: %w", err)
			}
		}
		return nil
	})
}
