ALTER TABLE deliveries DROP COLUMN monitor_id;
DROP TABLE monitor_runs;
DROP TABLE monitors;
