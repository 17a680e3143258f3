-- The event store's edge cases: triggers on the extension's tables,
-- TRUNCATE inside an appending transaction, re-creating the extension in a
-- session that already used it.  In a database of its own: the TRUNCATE and
-- DROP EXTENSION would delete the other suites' rows.
\pset null '(null)'
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_edge_cases;
ALTER DATABASE regress_ds_edge_cases SET lc_messages = 'C';
\c regress_ds_edge_cases
CREATE EXTENSION durable_sink;

CREATE FUNCTION pg_temp.note(thread text, label text) RETURNS bigint LANGUAGE sql AS $$
  SELECT thread_seq FROM durable_sink.append(ROW('domain_event', 'Noted',
    jsonb_build_array(jsonb_build_object('scope_type', 'thread', 'thread_id', thread)),
    NULL, NULL, jsonb_build_object('label', label), NULL, NULL, 'edge', 'public', 1)
    ::durable_sink.canonical_event_draft) $$;

-- An administrator's trigger on events that aborts a subtransaction inside
-- the append, and one that appends again to the same scope.
CREATE TABLE audit (event_id bigint);
CREATE FUNCTION audit_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    INSERT INTO audit VALUES (NEW.event_id);
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
  IF NEW.payload->>'label' = 'echo me' THEN
    PERFORM pg_temp.note(NEW.thread_id, 'echo');
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER audit_event AFTER INSERT ON durable_sink.events FOR EACH ROW EXECUTE FUNCTION audit_event();
SELECT pg_temp.note('te1', 'first') AS seq;
SELECT pg_temp.note('te1', 'echo me') AS seq;
SELECT pg_temp.note('te1', 'after') AS seq;
SELECT seq, payload->>'label' AS label FROM durable_sink.read('thread', 'te1');
DROP TRIGGER audit_event ON durable_sink.events;

-- TRUNCATE of the store inside an appending transaction starts the scope
-- over instead of continuing from what the transaction remembered.
BEGIN;
SELECT pg_temp.note('te2', 'a'), pg_temp.note('te2', 'b');
TRUNCATE durable_sink.events, durable_sink.scopes;
SELECT pg_temp.note('te2', 'after truncate') AS seq;
COMMIT;
SELECT seq, payload->>'label' AS label FROM durable_sink.read('thread', 'te2');

-- Re-creating the extension in this session: the saved statements of the
-- old one are forgotten.
SELECT count(*) FROM durable_sink.emit('{"event_type":"run_start","thread_id":"te3","run_id":"re3"}', 'te3', 're3');
SET client_min_messages = warning;
DROP EXTENSION durable_sink CASCADE;
RESET client_min_messages;
CREATE EXTENSION durable_sink;
SELECT event_kind, thread_seq FROM durable_sink.emit('{"event_type":"run_start","thread_id":"te3","run_id":"re3"}', 'te3', 're3');
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"x"}}}}}', 'te3', 're3');

-- What a transaction remembers of the state rows it holds (their row
-- versions) is forgotten when the table is truncated and checked before use,
-- also in a new session that never ran a state statement: a run_finish after
-- TRUNCATE must not land on another run's row, a run_start after DELETE
-- finds no row.
\c regress_ds_edge_cases
BEGIN;
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"th-t","run_id":"th-r1"}', 'th-t', 'th-r1');
TRUNCATE durable_sink.run_state;
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"th-t","run_id":"th-r2"}', 'th-t', 'th-r2');
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_finish","thread_id":"th-t","run_id":"th-r1","termination":{"type":"natural_end"}}', 'th-t', 'th-r1');
SELECT run_id, starts, finished FROM durable_sink.run_state ORDER BY run_id;
ROLLBACK;
\c regress_ds_edge_cases
BEGIN;
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"dh-t","run_id":"dh-r1"}', 'dh-t', 'dh-r1');
DELETE FROM durable_sink.run_state WHERE run_id = 'dh-r1';
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"dh-t","run_id":"dh-r1"}', 'dh-t', 'dh-r1');
SELECT run_id, starts, finished FROM durable_sink.run_state WHERE run_id = 'dh-r1';
ROLLBACK;

-- A CHECK constraint someone adds to durable_sink.events is honoured: the
-- store then inserts with its statement (src/state_write.c, plain tables).
\set VERBOSITY terse
BEGIN;
ALTER TABLE durable_sink.events ADD CONSTRAINT no_noted CHECK (event_kind <> 'Noted');
SELECT thread_seq FROM durable_sink.append(ROW('domain_event', 'Noted',
   '[{"scope_type":"thread","thread_id":"ck-t"}]', NULL, NULL, '{}', NULL, NULL, 'x', 'public', 1)
   ::durable_sink.canonical_event_draft);
ROLLBACK;
\set VERBOSITY default

\c :regress_db
DROP DATABASE regress_ds_edge_cases;
