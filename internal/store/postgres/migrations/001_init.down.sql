DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE steps;
DROP TABLE tasks;
DROP TABLE sessions;
DROP TABLE api_keys;
