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

// RunMemo is what a monitor's run starts from, handed to the agent: the
// previous run's answer and the fingerprint of the page it was read from,
// so that an unchanged page is answered again without the model (0
// tokens), and the browser storage the previous run left.
type RunMemo struct {
	// PageHash fingerprints the page the previous answer was read from;
	// empty when that answer did not come from the starting page alone.
	PageHash string
	// Answer is the previous run's answer.
	Answer string
	// Storage is the browser storage (cookies, local storage) to restore
	// before the run, as the browser exported it; nil for none.
	Storage []byte
}
