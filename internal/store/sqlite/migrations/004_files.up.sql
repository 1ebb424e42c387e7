-- Files a task's pages downloaded (task.File): listed with the task's
-- result, fetched at their own route, deleted with the task. The bytes are
-- in file_chunks, at most 1 MiB a row, so that a file is written and read
-- a piece at a time instead of being held whole in memory.
CREATE TABLE files (
    id         TEXT PRIMARY KEY,
    task_id    TEXT NOT NULL REFERENCES tasks (id),
    tenant_id  TEXT NOT NULL,
    -- seq orders a task's files as they were downloaded.
    seq        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX files_task ON files (task_id, seq);

CREATE TABLE file_chunks (
    file_id TEXT NOT NULL REFERENCES files (id),
    n       INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (file_id, n)
);
