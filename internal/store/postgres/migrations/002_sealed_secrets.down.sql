ALTER TABLE tasks DROP COLUMN sealed_secrets;
