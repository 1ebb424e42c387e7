package engine

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// Errors of files and task deletion, which the API maps to its codes.
var (
	// ErrFileNotFound: the task has no such file (or the task is not the
	// tenant's).
	ErrFileNotFound = errors.New("file not found")
	// ErrTaskNotEnded: a task that cannot be deleted yet, because it has
	// not ended or a webhook it owes is still being delivered.
	ErrTaskNotEnded = errors.New("the task has not ended, or a webhook it owes is still being delivered")
)

// keepsFiles reports whether an outcome's downloads are stored: a
// completed task's, and a task's that waits for a human (its run goes on
// after the answer). A failed or cancelled run delivers no files.
func keepsFiles(o task.Outcome) bool {
	st := o.Status()
	return st == task.StatusCompleted || st == task.StatusGuardrail
}

// newFiles gives the downloads of an outcome their ids, to be stored with
// it.
func (e *Engine) newFiles(out task.Outcome) []task.File {
	if !keepsFiles(out) || len(out.Files) == 0 {
		return nil
	}
	now := e.now()
	files := make([]task.File, len(out.Files))
	for i, f := range out.Files {
		f.ID = task.NewID("file")
		f.CreatedAt = now
		files[i] = f
	}
	return files
}

// removeDownloads deletes the temporary files an agent handed over with an
// outcome, stored or not.
func removeDownloads(out task.Outcome) {
	for _, f := range out.Files {
		if f.Path != "" {
			os.Remove(f.Path)
		}
	}
}

// withFiles adds a completed task's files to it, for the API's answers.
func (e *Engine) withFiles(ctx context.Context, t task.Task) (task.Task, error) {
	if t.Status != task.StatusCompleted {
		return t, nil
	}
	files, err := e.st.Files(ctx, t.ID)
	if err != nil {
		return t, err
	}
	t.Files = files
	return t, nil
}

// File opens a file of a tenant's task to read; the caller closes it.
func (e *Engine) File(ctx context.Context, tenantID, sessionID, taskID, fileID string) (task.File, io.ReadCloser, error) {
	if _, err := e.Task(ctx, tenantID, sessionID, taskID); err != nil {
		return task.File{}, nil, err
	}
	f, rc, err := e.st.OpenFile(ctx, taskID, fileID)
	if errors.Is(err, store.ErrNotFound) {
		return f, nil, ErrFileNotFound
	}
	return f, rc, err
}

// DeleteTask deletes a tenant's ended task with everything of it: its
// result, step log and trace, deliveries and their attempts, and files.
func (e *Engine) DeleteTask(ctx context.Context, tenantID, sessionID, taskID string) error {
	err := e.st.DeleteTask(ctx, tenantID, sessionID, taskID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrTaskNotFound
	case errors.Is(err, store.ErrConflict):
		return ErrTaskNotEnded
	}
	return err
}
