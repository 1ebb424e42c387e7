DROP INDEX sessions_tenant_created;
DROP INDEX tasks_tenant_created;
DROP TABLE trace_shots;
