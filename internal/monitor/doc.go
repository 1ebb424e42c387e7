// Package monitor is errand's recurring tasks: a monitor runs a task on a
// schedule and notifies its webhook only when the answer changes in a way
// the caller cares about.
//
// The decisions are pure functions over values, table-tested and fuzzed:
//
//   - diff.go: what changed between two answers — structured JSON per
//     watched JSON Pointer (arrays of objects matched by a key field, else
//     by position), CSV by rows (matched by a key column), text as added
//     and removed lines after removing the ignore patterns;
//   - rules.go: which rules fire — thresholds (below, above, equals) fire
//     when the value crosses into them and re-arm only once it crosses
//     back; changeByPercent/changeByAbsolute compare with the value last
//     notified, so a slow drift alerts once it adds up;
//   - decide.go: what a run's end means — the first answer as a baseline,
//     whether to notify, failures counted into one monitor.failing and one
//     monitor.recovered event, never one per run;
//   - schedule.go: when a monitor runs — 5-field cron or "@every 15m" in an
//     IANA time zone, a minimum interval, runs of the same schedule spread
//     over the interval by an offset fixed by the monitor's id, and one
//     catch-up run after downtime (the next run is computed from the time
//     a run is claimed, never by replaying missed ticks).
//
// The shell around them (the store's monitors table, the scheduler loop,
// the engine hook that settles a run in the task's finishing transaction)
// only fetches, stores and sends.
package monitor
