-- Monitors: recurring tasks that notify when their answer changes (package
-- monitor). A monitor's runs are tasks of its own session (session_id).

CREATE TABLE monitors (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    schedule        TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    -- The task each run runs (a task spec, JSON; its secrets are in
    -- sealed_secrets).
    task            TEXT NOT NULL,
    -- The webhook (JSON, NULL for none); its credentials only sealed,
    -- in its sealedCredentials.
    webhook         TEXT,
    notify          TEXT NOT NULL,
    paused          INTEGER NOT NULL DEFAULT 0,
    session_id      TEXT NOT NULL REFERENCES sessions (id),
    -- The durable schedule: the monitor is due once next_run_at has come.
    next_run_at     INTEGER NOT NULL,
    -- The task of the run in progress, NULL when none: a monitor never
    -- overlaps itself (a tick while it is set is skipped and counted).
    running_task_id TEXT,
    skipped         INTEGER NOT NULL DEFAULT 0,
    runs            INTEGER NOT NULL DEFAULT 0,
    last_run_at     INTEGER,
    -- What the monitor remembers between runs: the last answer, rule
    -- states, failures (monitor.State, JSON).
    state           TEXT NOT NULL DEFAULT '{}',
    sealed_secrets  BLOB,
    -- Cookies and local storage the last run left, sealed.
    sealed_storage  BLOB,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Finding due monitors (every node's scheduler asks several times a second).
CREATE INDEX monitors_due ON monitors (next_run_at) WHERE paused = 0;
-- Listing a tenant's monitors, oldest first, by pages.
CREATE INDEX monitors_tenant ON monitors (tenant_id, created_at, id);
-- Settling a run from its task.
CREATE INDEX monitors_running ON monitors (running_task_id) WHERE running_task_id IS NOT NULL;

CREATE TABLE monitor_runs (
    id         TEXT PRIMARY KEY,
    monitor_id TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    due_at     INTEGER NOT NULL,
    run_at     INTEGER NOT NULL,
    -- The run's final status once settled; '' before (the task's status
    -- is reported then).
    status     TEXT NOT NULL DEFAULT '',
    changed    INTEGER NOT NULL DEFAULT 0,
    changes    TEXT NOT NULL DEFAULT '[]',
    truncated  INTEGER NOT NULL DEFAULT 0,
    fired      TEXT NOT NULL DEFAULT '[]',
    events     TEXT NOT NULL DEFAULT '[]',
    ended_at   INTEGER
);

CREATE INDEX monitor_runs_monitor ON monitor_runs (monitor_id, run_at, id);

-- A monitor's notifications name it (header Errand-Monitor-Id).
ALTER TABLE deliveries ADD COLUMN monitor_id TEXT NOT NULL DEFAULT '';
