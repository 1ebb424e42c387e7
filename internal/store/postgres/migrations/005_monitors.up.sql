-- Monitors: recurring tasks that notify when their answer changes (package
-- monitor). A monitor's runs are tasks of its own session (session_id).

CREATE TABLE monitors (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    name            text NOT NULL,
    schedule        text NOT NULL,
    timezone        text NOT NULL,
    -- The task each run runs (a task spec, JSON kept verbatim; its secrets
    -- are in sealed_secrets).
    task            json NOT NULL,
    -- The webhook (NULL for none); its credentials only sealed, in its
    -- sealedCredentials.
    webhook         json,
    notify          json NOT NULL,
    paused          boolean NOT NULL DEFAULT false,
    session_id      text NOT NULL REFERENCES sessions (id),
    -- The durable schedule: the monitor is due once next_run_at has come.
    -- Nodes claim due rows with FOR UPDATE SKIP LOCKED.
    next_run_at     timestamptz NOT NULL,
    -- The task of the run in progress, NULL when none: a monitor never
    -- overlaps itself (a tick while it is set is skipped and counted).
    running_task_id text,
    skipped         bigint NOT NULL DEFAULT 0,
    runs            bigint NOT NULL DEFAULT 0,
    last_run_at     timestamptz,
    -- What the monitor remembers between runs: the last answer, rule
    -- states, failures (monitor.State).
    state           json NOT NULL DEFAULT '{}',
    sealed_secrets  bytea,
    -- Cookies and local storage the last run left, sealed.
    sealed_storage  bytea,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX monitors_due ON monitors (next_run_at) WHERE NOT paused;
CREATE INDEX monitors_tenant ON monitors (tenant_id, created_at, id);
CREATE INDEX monitors_running ON monitors (running_task_id) WHERE running_task_id IS NOT NULL;

CREATE TABLE monitor_runs (
    id         text PRIMARY KEY,
    monitor_id text NOT NULL,
    tenant_id  text NOT NULL,
    task_id    text NOT NULL,
    session_id text NOT NULL,
    due_at     timestamptz NOT NULL,
    run_at     timestamptz NOT NULL,
    -- The run's final status once settled; '' before (the task's status
    -- is reported then).
    status     text NOT NULL DEFAULT '',
    changed    boolean NOT NULL DEFAULT false,
    changes    json NOT NULL DEFAULT '[]',
    truncated  boolean NOT NULL DEFAULT false,
    fired      json NOT NULL DEFAULT '[]',
    events     json NOT NULL DEFAULT '[]',
    ended_at   timestamptz
);

CREATE INDEX monitor_runs_monitor ON monitor_runs (monitor_id, run_at, id);

-- A monitor's notifications name it (header Errand-Monitor-Id).
ALTER TABLE deliveries ADD COLUMN monitor_id text NOT NULL DEFAULT '';
