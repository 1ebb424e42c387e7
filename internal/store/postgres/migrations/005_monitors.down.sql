DROP TABLE monitor_runs;
DROP TABLE monitors;
