package store

import (
	"time"

	"github.com/errandhq/errand/internal/task"
)

// PruneParams bounds what the task traces keep. Images taken before Before
// are removed; then, oldest first, images until those left total at most
// MaxBytes. A removed image leaves its step's record and a note in its
// place (task.Screenshot.Omitted = Reason).
type PruneParams struct {
	// Before removes images taken earlier. Zero: no age limit.
	Before time.Time
	// MaxBytes caps the images kept, in bytes. Zero or less: no size
	// limit.
	MaxBytes int64
	// Reason is the note left in place of a removed image.
	Reason string
}

// Pruned is what PruneScreenshots removed and what it kept.
type Pruned struct {
	Removed      int   // images removed
	RemovedBytes int64 // their size
	KeptBytes    int64 // the size of the images left
}

// Page bounds a listing: at most Limit rows, older than the cursor After
// when it is set (the last row of the previous page).
type Page struct {
	// Limit caps the rows returned. Default 50, at most 500.
	Limit int
	// After is the cursor: rows created before AfterAt, or at AfterAt with
	// an id before AfterID, newest first. Zero: from the newest.
	AfterAt time.Time
	AfterID string
}

// PageLimit is p.Limit with its default and cap applied.
func (p Page) PageLimit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 500:
		return 500
	}
	return p.Limit
}

// TaskFilter selects a tenant's tasks for ListTasks.
type TaskFilter struct {
	// TenantID is whose tasks. Required: other tenants' tasks are never
	// listed.
	TenantID string
	// SessionID, when set, lists that session's tasks only.
	SessionID string
	// Status, when set, lists tasks in that status only.
	Status task.Status
	// Query, when set, lists tasks whose id or session id starts with it.
	Query string
	Page
}

// SessionFilter selects a tenant's sessions for ListSessions.
type SessionFilter struct {
	// TenantID is whose sessions. Required.
	TenantID string
	// State, when set, lists sessions in that state only.
	State task.SessionState
	// Query, when set, lists sessions whose id starts with it, or that
	// have a task whose id starts with it.
	Query string
	Page
}

// SessionSummary is a session as a listing shows it.
type SessionSummary struct {
	SessionInfo
	// Tasks counts the session's tasks.
	Tasks int
	// LastStatus is the status of its newest task ("" without tasks).
	LastStatus task.Status
}
