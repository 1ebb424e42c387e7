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
ALTER TABLE deliveries ADD COLUMN sealed_credentials bytea;
ALTER TABLE deliveries ADD COLUMN credentials_in_clear boolean NOT NULL DEFAULT false;
UPDATE deliveries SET credentials_in_clear = true WHERE auth <> '' OR secret <> '' OR strpos(url, '@') > 0;
CREATE INDEX deliveries_in_clear ON deliveries (id) WHERE credentials_in_clear;

ALTER TABLE tasks ADD COLUMN webhook_in_clear boolean NOT NULL DEFAULT false;
UPDATE tasks SET webhook_in_clear = true
    WHERE coalesce(spec -> 'webhook' ->> 'auth', '') <> ''
       OR coalesce(spec -> 'webhook' ->> 'secret', '') <> ''
       OR strpos(coalesce(spec -> 'webhook' ->> 'url', ''), '@') > 0;
CREATE INDEX tasks_webhook_in_clear ON tasks (id) WHERE webhook_in_clear;
