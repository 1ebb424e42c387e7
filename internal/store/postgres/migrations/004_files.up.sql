-- Files a task's pages downloaded (task.File): listed with the task's
-- result, fetched at their own route from any node, deleted with the task.
-- The bytes are in file_chunks, at most 1 MiB a row, so that a file is
-- written and read a piece at a time instead of being held whole in memory.
CREATE TABLE files (
    id         text PRIMARY KEY,
    task_id    text NOT NULL REFERENCES tasks (id),
    tenant_id  text NOT NULL,
    -- seq orders a task's files as they were downloaded.
    seq        integer NOT NULL,
    name       text NOT NULL,
    media_type text NOT NULL,
    size       bigint NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE UNIQUE INDEX files_task ON files (task_id, seq);

CREATE TABLE file_chunks (
    file_id text NOT NULL REFERENCES files (id),
    n       integer NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (file_id, n)
);
-- Downloads are mostly compressed already (PDF, ZIP, images): store them
-- out of line without trying.
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
