-- Learned tasks (package recipe): every version of a tenant's recipes, and
-- each task's use of one. A recipe is its tenant's only: every query names
-- the tenant. The trace is JSON with secrets as placeholders, never values.
CREATE TABLE recipes (
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    task_id    TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    steps      INTEGER NOT NULL DEFAULT 0,
    trace      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

CREATE TABLE recipe_uses (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    task_id        TEXT NOT NULL,
    mode           TEXT NOT NULL,
    replayed_steps INTEGER NOT NULL DEFAULT 0,
    model_steps    INTEGER NOT NULL DEFAULT 0,
    at             INTEGER NOT NULL
);

CREATE INDEX recipe_uses_name ON recipe_uses (tenant_id, name);
