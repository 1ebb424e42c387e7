-- errand's tables. Times are unix milliseconds (UTC); JSON is stored as text.

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    state        TEXT NOT NULL,
    -- head_task_id is the one task of the session that has a run job queued
    -- or running, or that waits for a human; NULL when none does. It is what
    -- keeps a session's tasks running one at a time, in order.
    head_task_id TEXT,
    created_at   INTEGER NOT NULL,
    last_active  INTEGER NOT NULL,
    -- last_runner is the node that last started a task of the session
    -- (StartTask), where its browser context lives: the session's next run
    -- is offered to that node first. '' before the first start.
    last_runner  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL REFERENCES sessions (id),
    tenant_id        TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    spec             TEXT NOT NULL,
    status           TEXT NOT NULL,
    message          TEXT NOT NULL DEFAULT '',
    network          TEXT NOT NULL DEFAULT '[]',
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    compute_time     REAL NOT NULL DEFAULT 0,
    cost             REAL NOT NULL DEFAULT 0,
    error_code       TEXT NOT NULL DEFAULT '',
    error_message    TEXT NOT NULL DEFAULT '',
    question         TEXT NOT NULL DEFAULT '',
    answer           TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- The lease of a running task: runner names the node running it and
    -- heartbeat_at is when that node last said it still was (NULL unless
    -- running). A task whose heartbeat goes stale is queued again
    -- (RescueTasks), so a dead node's task does not stay running.
    runner           TEXT NOT NULL DEFAULT '',
    heartbeat_at     INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    ended_at         INTEGER
);

-- Finding the next task of a session, and numbering a new one.
CREATE UNIQUE INDEX tasks_session_seq ON tasks (session_id, seq);
-- Counting what waits (metrics) without scanning finished tasks.
CREATE INDEX tasks_active ON tasks (status) WHERE status IN ('queued', 'running');
-- Finding stale running tasks (RescueTasks) without scanning the others:
-- every node's reaper asks every few seconds.
CREATE INDEX tasks_heartbeat ON tasks (heartbeat_at) WHERE status = 'running';

CREATE TABLE steps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id       TEXT NOT NULL REFERENCES tasks (id),
    n             INTEGER NOT NULL,
    action        TEXT NOT NULL,
    args          TEXT,
    url           TEXT NOT NULL DEFAULT '',
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    at            INTEGER NOT NULL
);

CREATE INDEX steps_task ON steps (task_id, id);

CREATE TABLE deliveries (
    -- id is the webhook-id header: the same on every attempt and redelivery.
    id           TEXT PRIMARY KEY,
    task_id      TEXT NOT NULL REFERENCES tasks (id),
    session_id   TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    event        TEXT NOT NULL,
    url          TEXT NOT NULL,
    auth         TEXT NOT NULL DEFAULT '',
    secret       TEXT NOT NULL DEFAULT '',
    body         BLOB NOT NULL,
    max_attempts INTEGER NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    -- The table is the outbox: a pending delivery is due at next_at, and a
    -- sender leases it (lease_owner until lease_until) while it sends.
    next_at      INTEGER NOT NULL,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  INTEGER NOT NULL DEFAULT 0,
    -- redo: a redelivery was asked while an attempt was in flight; when
    -- that attempt is recorded the delivery is due again instead of done.
    redo         INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX deliveries_task ON deliveries (task_id, created_at);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state = 'pending';

CREATE TABLE delivery_attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id),
    task_id          TEXT NOT NULL,
    event            TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    url              TEXT NOT NULL,
    status_code      INTEGER NOT NULL DEFAULT 0,
    duration_ms      INTEGER NOT NULL DEFAULT 0,
    error            TEXT NOT NULL DEFAULT '',
    response_snippet TEXT NOT NULL DEFAULT '',
    at               INTEGER NOT NULL
);

CREATE INDEX delivery_attempts_task ON delivery_attempts (task_id, id);
