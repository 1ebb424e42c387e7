-- Reverting drops the sealed credentials with their column (an errand
-- from before 003 would send the deliveries still owed without their auth
-- or signature): revert only a store you are dropping, as MigrateDown, for
-- the migration tests, does.
DROP INDEX tasks_webhook_in_clear;
ALTER TABLE tasks DROP COLUMN webhook_in_clear;
DROP INDEX deliveries_in_clear;
ALTER TABLE deliveries DROP COLUMN credentials_in_clear;
ALTER TABLE deliveries DROP COLUMN sealed_credentials;
