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

-- The sink's roles (README, "Privileges"): a writer emits and appends, a
-- reader reads, a raw-table owner captures; none has table privileges.
SELECT has_function_privilege('public', 'durable_sink.emit(jsonb,text,text,text,durable_sink.durability,text,boolean,boolean)', 'EXECUTE') AS public_emit,
       has_function_privilege('public', 'durable_sink.append(durable_sink.canonical_event_draft,text,text,bigint,bigint)', 'EXECUTE') AS public_append,
       has_function_privilege('public', 'durable_sink.read(text,text,bigint,integer)', 'EXECUTE') AS public_read,
       has_function_privilege('public', 'durable_sink.capture()', 'EXECUTE') AS public_capture,
       has_table_privilege('public', 'durable_sink.events', 'SELECT') AS public_events,
       has_table_privilege('public', 'durable_sink.capture_failures', 'SELECT') AS public_failures;

CREATE ROLE regress_ds_writer;
CREATE ROLE regress_ds_reader;
CREATE ROLE regress_ds_app;
GRANT USAGE ON SCHEMA durable_sink TO regress_ds_writer, regress_ds_reader, regress_ds_app;
GRANT EXECUTE ON FUNCTION
  durable_sink.emit(jsonb, text, text, text, durable_sink.durability, text, boolean, boolean),
  durable_sink.append(durable_sink.canonical_event_draft, text, text, bigint, bigint)
  TO regress_ds_writer;
GRANT EXECUTE ON FUNCTION durable_sink.read(text, text, bigint, integer),
                          durable_sink.live_frame(bigint) TO regress_ds_reader;
GRANT EXECUTE ON FUNCTION durable_sink.capture(), durable_sink.capture_statement() TO regress_ds_app;
GRANT CREATE ON SCHEMA public TO regress_ds_app;

SET ROLE regress_ds_writer;
SELECT event_kind, thread_seq FROM durable_sink.emit('{"event_type":"run_start","thread_id":"tp","run_id":"rp"}', 'tp', 'rp');
SELECT event_kind, thread_seq FROM durable_sink.append(ROW('domain_event', 'Noted', '[{"scope_type":"thread","thread_id":"tp"}]',
  NULL, NULL, '{}', NULL, NULL, 'w', 'public', 1)::durable_sink.canonical_event_draft);
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta"}', 'tp', 'rp');
SELECT count(*) FROM durable_sink.events;
SELECT * FROM durable_sink.read('thread', 'tp');
RESET ROLE;

SET ROLE regress_ds_reader;
SELECT seq, event_kind FROM durable_sink.read('thread', 'tp');
SELECT count(*) FROM durable_sink.emit('{"event_type":"step_end"}', 'tp', 'rp');
SELECT count(*) FROM durable_sink.capture_failures;
RESET ROLE;

SET ROLE regress_ds_app;
CREATE TABLE app_raw (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON app_raw FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
INSERT INTO app_raw VALUES ('tp', 'rp', '{"event_type":"error","message":"from the app"}'), ('tp', 'rp', '[]');
RESET ROLE;
SELECT seq, event_kind, origin FROM durable_sink.read('thread', 'tp');
SELECT source, source_table, event FROM durable_sink.capture_failures WHERE source_table = 'public.app_raw';

-- SECURITY DEFINER functions pin search_path.
SELECT p.proname, p.proconfig FROM pg_proc p
WHERE p.pronamespace = 'durable_sink'::regnamespace AND (p.prosecdef OR p.prorettype = 'trigger'::regtype)
ORDER BY 1;

DROP TABLE app_raw;
REVOKE ALL ON SCHEMA public FROM regress_ds_app;
REVOKE ALL ON SCHEMA durable_sink FROM regress_ds_writer, regress_ds_reader, regress_ds_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA durable_sink FROM regress_ds_writer, regress_ds_reader, regress_ds_app;
DROP ROLE regress_ds_writer;
DROP ROLE regress_ds_reader;
DROP ROLE regress_ds_app;
