-- errand's tables. Times are timestamptz kept to the millisecond, as the
-- SQLite store keeps them; JSON that must read back byte for byte (a task's
-- spec holds the caller's output schema verbatim) is json, not jsonb.

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    tenant_id  text NOT NULL,
    hash       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE sessions (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    state        text NOT NULL,
    -- head_task_id is the one task of the session that has a run job queued
    -- or running, or that waits for a human; NULL when none does. It is what
    -- keeps a session's tasks running one at a time, in order; it only
    -- changes under the session row's lock (SELECT ... FOR UPDATE), so nodes
    -- racing on one session take turns.
    head_task_id text,
    created_at   timestamptz NOT NULL,
    last_active  timestamptz NOT NULL,
    -- last_runner is the node that last started a task of the session
    -- (StartTask), where its browser context lives: the session's next run
    -- is offered to that node first. '' before the first start.
    last_runner  text NOT NULL DEFAULT ''
);

CREATE TABLE tasks (
    id               text PRIMARY KEY,
    session_id       text NOT NULL REFERENCES sessions (id),
    tenant_id        text NOT NULL,
    seq              bigint NOT NULL,
    spec             json NOT NULL,
    status           text NOT NULL,
    message          text NOT NULL DEFAULT '',
    network          json NOT NULL DEFAULT '[]',
    input_tokens     bigint NOT NULL DEFAULT 0,
    output_tokens    bigint NOT NULL DEFAULT 0,
    compute_time     double precision NOT NULL DEFAULT 0,
    cost             double precision NOT NULL DEFAULT 0,
    error_code       text NOT NULL DEFAULT '',
    error_message    text NOT NULL DEFAULT '',
    question         text NOT NULL DEFAULT '',
    answer           text NOT NULL DEFAULT '',
    cancel_requested boolean NOT NULL DEFAULT false,
    attempts         integer NOT NULL DEFAULT 0,
    -- The lease of a running task: runner names the node running it and
    -- heartbeat_at is when that node last said it still was (NULL unless
    -- running). A task whose heartbeat goes stale is queued again
    -- (RescueTasks), so a dead node's task does not stay running.
    runner           text NOT NULL DEFAULT '',
    heartbeat_at     timestamptz,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    ended_at         timestamptz
);

-- Finding the next task of a session, and numbering a new one.
CREATE UNIQUE INDEX tasks_session_seq ON tasks (session_id, seq);
-- Counting what waits (metrics) without scanning finished tasks.
CREATE INDEX tasks_active ON tasks (status) WHERE status IN ('queued', 'running');
-- Finding stale running tasks (RescueTasks) without scanning the others:
-- every node's reaper asks every few seconds.
CREATE INDEX tasks_heartbeat ON tasks (heartbeat_at) WHERE status = 'running';

CREATE TABLE steps (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id       text NOT NULL REFERENCES tasks (id),
    n             integer NOT NULL,
    action        text NOT NULL,
    args          json,
    url           text NOT NULL DEFAULT '',
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    duration_ms   bigint NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL
);

CREATE INDEX steps_task ON steps (task_id, id);

CREATE TABLE deliveries (
    -- id is the webhook-id header: the same on every attempt and redelivery.
    id           text PRIMARY KEY,
    -- seq orders deliveries raised at the same instant as they were raised.
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    task_id      text NOT NULL REFERENCES tasks (id),
    session_id   text NOT NULL,
    tenant_id    text NOT NULL,
    event        text NOT NULL,
    url          text NOT NULL,
    auth         text NOT NULL DEFAULT '',
    secret       text NOT NULL DEFAULT '',
    body         bytea NOT NULL,
    max_attempts integer NOT NULL,
    state        text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    -- The table is the outbox: a pending delivery is due at next_at, and a
    -- sender leases it (lease_owner until lease_until; NULL: not leased)
    -- while it sends. Claims skip rows another node is claiming (FOR UPDATE
    -- SKIP LOCKED), so two nodes never lease one delivery at once.
    next_at      timestamptz NOT NULL,
    lease_owner  text NOT NULL DEFAULT '',
    lease_until  timestamptz,
    -- redo: a redelivery was asked while an attempt was in flight; when
    -- that attempt is recorded the delivery is due again instead of done.
    redo         boolean NOT NULL DEFAULT false
);

CREATE INDEX deliveries_task ON deliveries (task_id, created_at, seq);
CREATE INDEX deliveries_due ON deliveries (next_at, seq) WHERE state = 'pending';

CREATE TABLE delivery_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      text NOT NULL REFERENCES deliveries (id),
    task_id          text NOT NULL,
    event            text NOT NULL,
    attempt          integer NOT NULL,
    url              text NOT NULL,
    status_code      integer NOT NULL DEFAULT 0,
    duration_ms      bigint NOT NULL DEFAULT 0,
    error            text NOT NULL DEFAULT '',
    response_snippet text NOT NULL DEFAULT '',
    at               timestamptz NOT NULL
);

CREATE INDEX delivery_attempts_task ON delivery_attempts (task_id, id);
