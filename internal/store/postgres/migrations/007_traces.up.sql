-- Task traces (package trace): each step's record is its row in steps; the
-- screenshot of the page after the step is here, one row per step that
-- acted on a page, so that any node serves any trace. Rows go with their
-- step and with their task.
CREATE TABLE trace_shots (
    step_id bigint PRIMARY KEY REFERENCES steps (id) ON DELETE CASCADE,
    task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL,
    -- bytes is the size of jpeg; 0 once there is no image (omitted says
    -- why: not taken, or removed by the retention).
    bytes   integer NOT NULL DEFAULT 0,
    width   integer NOT NULL DEFAULT 0,
    height  integer NOT NULL DEFAULT 0,
    omitted text NOT NULL DEFAULT '',
    jpeg    bytea
);
-- JPEG does not compress: store it out of line without trying.
ALTER TABLE trace_shots ALTER COLUMN jpeg SET STORAGE EXTERNAL;

CREATE INDEX trace_shots_task ON trace_shots (task_id);
-- The retention finds the oldest images first.
CREATE INDEX trace_shots_kept ON trace_shots (at, step_id) WHERE bytes > 0;

-- The dashboard lists a tenant's tasks and sessions newest first.
CREATE INDEX tasks_tenant_created ON tasks (tenant_id, created_at, id);
CREATE INDEX sessions_tenant_created ON sessions (tenant_id, created_at, id);
