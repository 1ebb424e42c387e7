-- Learned tasks (package recipe): every version of a tenant's recipes, and
-- each task's use of one. A recipe is its tenant's only: every query names
-- the tenant. The trace is JSON with secrets as placeholders, never values.
CREATE TABLE recipes (
    tenant_id  text NOT NULL,
    name       text NOT NULL,
    version    integer NOT NULL,
    task_id    text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    steps      integer NOT NULL DEFAULT 0,
    trace      json NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

CREATE TABLE recipe_uses (
    id             bigserial PRIMARY KEY,
    tenant_id      text NOT NULL,
    name           text NOT NULL,
    version        integer NOT NULL,
    task_id        text NOT NULL,
    mode           text NOT NULL,
    replayed_steps integer NOT NULL DEFAULT 0,
    model_steps    integer NOT NULL DEFAULT 0,
    at             timestamptz NOT NULL
);

CREATE INDEX recipe_uses_name ON recipe_uses (tenant_id, name);
