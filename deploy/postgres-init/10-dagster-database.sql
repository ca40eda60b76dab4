-- Dagster's storage gets a database of its own beside the app database "prosora", so
-- each can be backed up, restored and migrated on its own. Runs once, on an empty volume.
CREATE DATABASE dagster OWNER prosora;
