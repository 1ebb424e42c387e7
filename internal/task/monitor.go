package task

import "time"

// MonitorRun marks a task as one check of a monitor (package monitor): set
// by the monitor scheduler when it starts the run, never by an API caller.
// The engine then settles the run's end — the change decision and the
// notification it owes — in the task's finishing transaction.
type MonitorRun struct {
	// MonitorID is the monitor's id (mon_…).
	MonitorID string `json:"monitorId"`
	// RunID is this check's id in the monitor's history (run_…).
	RunID string `json:"runId"`
	// DueAt is the tick the run is for (the time it was claimed for a
	// manual run).
	DueAt time.Time `json:"dueAt"`
}
