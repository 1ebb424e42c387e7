-- Task traces (package trace): each step's record is its row in steps; the
-- screenshot of the page after the step is here, one row per step that
-- acted on a page. Rows go with their step and with their task.
CREATE TABLE trace_shots (
    step_id INTEGER PRIMARY KEY REFERENCES steps (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    -- bytes is the size of jpeg; 0 once there is no image (omitted says
    -- why: not taken, or removed by the retention).
    bytes   INTEGER NOT NULL DEFAULT 0,
    width   INTEGER NOT NULL DEFAULT 0,
    height  INTEGER NOT NULL DEFAULT 0,
    omitted TEXT NOT NULL DEFAULT '',
    -- Last, so that the retention's scans of the other columns never read
    -- the images (SQLite keeps large values in overflow pages).
    jpeg    BLOB
);

CREATE INDEX trace_shots_task ON trace_shots (task_id);
-- The retention finds the oldest images first.
CREATE INDEX trace_shots_kept ON trace_shots (at, step_id) WHERE bytes > 0;

-- The dashboard lists a tenant's tasks and sessions newest first.
CREATE INDEX tasks_tenant_created ON tasks (tenant_id, created_at, id);
CREATE INDEX sessions_tenant_created ON sessions (tenant_id, created_at, id);
