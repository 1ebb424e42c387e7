-- Webhook credentials at rest: the Authorization value, the signing
-- secrets and the URL's userinfo are kept sealed with the nodes' key
-- (package seal), bound to the task they belong to: in the task's spec
-- (webhook.sealedCredentials) and in each delivery (sealed_credentials),
-- which carries its task's credentials unopened. Only the dispatcher opens
-- them, to send.
--
-- Rows that may still hold credentials in clear (written before this
-- migration, or by a node that had no key) are flagged; the store seals
-- them when it next opens with the key (sealClearCredentials), and the
-- partial indexes make finding them free when there are none.
ALTER TABLE deliveries ADD COLUMN sealed_credentials BLOB;
ALTER TABLE deliveries ADD COLUMN credentials_in_clear INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET credentials_in_clear = 1 WHERE auth <> '' OR secret <> '' OR instr(url, '@') > 0;
CREATE INDEX deliveries_in_clear ON deliveries (id) WHERE credentials_in_clear = 1;

ALTER TABLE tasks ADD COLUMN webhook_in_clear INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET webhook_in_clear = 1
    WHERE coalesce(json_extract(spec, '$.webhook.auth'), '') <> ''
       OR coalesce(json_extract(spec, '$.webhook.secret'), '') <> ''
       OR instr(coalesce(json_extract(spec, '$.webhook.url'), ''), '@') > 0;
CREATE INDEX tasks_webhook_in_clear ON tasks (id) WHERE webhook_in_clear = 1;
