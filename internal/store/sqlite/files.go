package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// insertFiles stores a run's files after the task's earlier ones, in the
// transaction that stores the run's outcome.
func insertFiles(ctx context.Context, tx *sql.Tx, taskID, tenantID string, files []task.File) error {
	if len(files) == 0 {
		return nil
	}
	var seq int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM files WHERE task_id = ?`, taskID).Scan(&seq); err != nil {
		return fmt.Errorf("sqlite: files: %w", err)
	}
	for _, f := range files {
		seq++
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO files (id, task_id, tenant_id, seq, name, media_type, size, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, taskID, tenantID, seq, f.Name, f.Type, f.Size, ms(f.CreatedAt)); err != nil {
			return fmt.Errorf("sqlite: file %s: %w", f.ID, err)
		}
		err := store.WriteChunks(f, func(n int, data []byte) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO file_chunks (file_id, n, data) VALUES (?, ?, ?)`, f.ID, n, data)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: file %s: %w", f.ID, err)
		}
	}
	return nil
}

const fileColumns = `id, name, media_type, size, created_at`

func scanFile(row interface{ Scan(...any) error }) (task.File, error) {
	var f task.File
	var at sql.NullInt64
	err := row.Scan(&f.ID, &f.Name, &f.Type, &f.Size, &at)
	f.CreatedAt = fromMS(at)
	return f, err
}

// Files lists a task's stored files.
func (s *Store) Files(ctx context.Context, taskID string) ([]task.File, error) {
	files, err := queryAll(ctx, s.db, scanFile, `SELECT `+fileColumns+` FROM files WHERE task_id = ? ORDER BY seq`, taskID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: files: %w", err)
	}
	return files, nil
}

// OpenFile opens a stored file to read, a chunk (one query) at a time.
func (s *Store) OpenFile(ctx context.Context, taskID, fileID string) (task.File, io.ReadCloser, error) {
	f, err := scanFile(s.db.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE id = ? AND task_id = ?`, fileID, taskID))
	if err != nil {
		return task.File{}, nil, notFound(err)
	}
	r := store.NewChunkReader(func(n int) ([]byte, bool, error) {
		var data []byte
		err := s.db.QueryRowContext(ctx, `SELECT data FROM file_chunks WHERE file_id = ? AND n = ?`, fileID, n).Scan(&data)
		switch {
		case err == sql.ErrNoRows:
			return nil, false, nil
		case err != nil:
			return nil, false, fmt.Errorf("sqlite: file %s: %w", fileID, err)
		}
		return data, true, nil
	})
	return f, r, nil
}

// DeleteTask deletes a final task and everything of it.
func (s *Store) DeleteTask(ctx context.Context, tenantID, sessionID, taskID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var status task.Status
		err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ? AND session_id = ? AND tenant_id = ?`,
			taskID, sessionID, tenantID).Scan(&status)
		if err != nil {
			return notFound(err)
		}
		if !status.Final() {
			return store.ErrConflict
		}
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE task_id = ? AND state = ?`,
			taskID, task.DeliveryPending).Scan(&pending); err != nil {
			return fmt.Errorf("sqlite: delete task: %w", err)
		}
		if pending > 0 {
			return store.ErrConflict
		}
		for _, q := range []string{
			`DELETE FROM file_chunks WHERE file_id IN (SELECT id FROM files WHERE task_id = ?)`,
			`DELETE FROM files WHERE task_id = ?`,
			`DELETE FROM delivery_attempts WHERE task_id = ?`,
			`DELETE FROM deliveries WHERE task_id = ?`,
			`DELETE FROM steps WHERE task_id = ?`, // and their trace (ON DELETE CASCADE)
			`DELETE FROM tasks WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, taskID); err != nil {
				return fmt.Errorf("sqlite: delete task: %w", err)
			}
		}
		return nil
	})
}
