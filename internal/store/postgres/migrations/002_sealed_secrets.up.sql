-- A task's secrets, encrypted with the nodes' key (package seal), kept
-- while the task is not final so that any node can run it, and wiped in the
-- transaction that ends it.
ALTER TABLE tasks ADD COLUMN sealed_secrets bytea;
