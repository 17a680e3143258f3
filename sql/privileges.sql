-- Privileges and search_path safety of the extension objects.
\pset null '(null)'

-- The state tables are dumped by pg_dump.
SELECT unnest(extconfig)::regclass AS dumped_table FROM pg_extension WHERE extname = 'durable_sink' ORDER BY 1;

-- Nothing is granted to PUBLIC on the schema or the state tables, and the
-- state-changing functions are not executable by PUBLIC.
SELECT has_schema_privilege('public', 'durable_sink', 'USAGE') AS public_usage,
       has_table_privilege('public', 'durable_sink.run_state', 'SELECT') AS public_select,
       has_function_privilege('public', 'durable_sink.normalize(jsonb,text,text,text,text,boolean)', 'EXECUTE') AS public_normalize,
       has_function_privilege('public', 'durable_sink.normalize_many(jsonb,text,text,text,text,boolean)', 'EXECUTE') AS public_normalize_many;

CREATE ROLE regress_ds_app LOGIN;
SET ROLE regress_ds_app;
SELECT durable_sink.normalize('{"event_type":"step_end"}', 't1', 'r1');
RESET ROLE;

-- An application role needs USAGE and EXECUTE, and no table privileges:
-- state access runs as the extension owner.
GRANT USAGE ON SCHEMA durable_sink TO regress_ds_app;
GRANT EXECUTE ON FUNCTION durable_sink.normalize_many(jsonb,text,text,text,text,boolean) TO regress_ds_app;
SET ROLE regress_ds_app;
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"t1","run_id":"priv-1"}', 't1', 'r1');
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"t1","run_id":"priv-1"}', 't1', 'r1');
SELECT count(*) FROM durable_sink.run_state;
SELECT durable_sink.normalize('{"event_type":"step_end"}', 't1', 'r1');
RESET ROLE;

-- A hostile search_path does not redirect the extension's own SQL.
CREATE SCHEMA decoy;
CREATE TABLE decoy.run_state (run_key bytea PRIMARY KEY, run_id text, starts bigint, finished boolean, updated_at timestamptz);
SET search_path = decoy, public;
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"t1","run_id":"priv-2"}', 't1', 'r1');
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"k"}}}}}', 'priv-thread', 'r1');
SET search_path = '';
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"t1","run_id":"priv-2"}', 't1', 'r1');
RESET search_path;
SELECT count(*) AS decoy_rows FROM decoy.run_state;
SELECT run_id, starts FROM durable_sink.run_state WHERE run_id LIKE 'priv-%' ORDER BY 1;

DROP SCHEMA decoy CASCADE;
REVOKE ALL ON SCHEMA durable_sink FROM regress_ds_app;
REVOKE ALL ON FUNCTION durable_sink.normalize_many(jsonb,text,text,text,text,boolean) FROM regress_ds_app;
DROP ROLE regress_ds_app;
