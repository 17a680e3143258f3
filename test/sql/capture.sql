-- Trigger capture of raw event tables: row and statement triggers.
\pset null '(null)'

CREATE TABLE raw_row (id bigserial, thread_id text, run_id text, corr varchar, event jsonb);
CREATE TABLE raw_stmt (LIKE raw_row INCLUDING ALL);
CREATE TRIGGER capture_rows AFTER INSERT ON raw_row FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'full_fidelity', 'corr', 'false');
CREATE TRIGGER capture_statements AFTER INSERT ON raw_stmt REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'full_fidelity', 'corr', 'false');

-- The same stream into both tables (different thread ids, so state and
-- sequences are separate), once with COPY and once with a multi-row INSERT.
CREATE TEMP TABLE stream (n int, event jsonb);
COPY stream FROM STDIN;
1	{"event_type":"run_start","thread_id":"THREAD","run_id":"RUN"}
2	{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"k1"}}}}}
3	{"event_type":"text_delta","delta":"Hello"}
4	{"event_type":"tool_call_done","id":"c1","message_id":"m1","outcome":"suspended","result":{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"p1"}}}}
5	"not an event"
6	{"event_type":"text_delta"}
7	{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"total_compactions":1,"boundaries":[{"task_id":"k1","summary":"s"}]}}}}
8	{"event_type":"run_finish","thread_id":"THREAD","run_id":"RUN","termination":{"type":"suspended"}}
9	{"event_type":"run_start","thread_id":"THREAD","run_id":"RUN"}
10	{"event_type":"run_finish","thread_id":"THREAD","run_id":"RUN","termination":{"type":"natural_end"}}
\.
INSERT INTO raw_row (thread_id, run_id, corr, event)
SELECT 'tr', 'rr', 'c' || n, replace(replace(event::text, 'THREAD', 'tr'), 'RUN', 'rr')::jsonb FROM stream ORDER BY n;
INSERT INTO raw_stmt (thread_id, run_id, corr, event)
SELECT 'ts', 'rs', 'c' || n, replace(replace(event::text, 'THREAD', 'ts'), 'RUN', 'rs')::jsonb FROM stream ORDER BY n;

-- Identical canonical rows, in the same order (ids aside).
SELECT thread_id, thread_seq, run_seq, event_kind, fidelity, correlation_id, origin
FROM durable_sink.events WHERE thread_id = 'tr' ORDER BY event_id;
SELECT count(*) AS rows_differing FROM (
  (SELECT thread_seq, run_seq, event_kind, fidelity, correlation_id, origin, visibility,
          replace(replace(payload::text, 'tr', 'T'), 'rr', 'R') AS payload
   FROM durable_sink.events WHERE thread_id = 'tr'
   EXCEPT ALL
   SELECT thread_seq, run_seq, event_kind, fidelity, correlation_id, origin, visibility,
          replace(replace(payload::text, 'ts', 'T'), 'rs', 'R')
   FROM durable_sink.events WHERE thread_id = 'ts')
  UNION ALL
  (SELECT thread_seq, run_seq, event_kind, fidelity, correlation_id, origin, visibility,
          replace(replace(payload::text, 'ts', 'T'), 'rs', 'R')
   FROM durable_sink.events WHERE thread_id = 'ts'
   EXCEPT ALL
   SELECT thread_seq, run_seq, event_kind, fidelity, correlation_id, origin, visibility,
          replace(replace(payload::text, 'tr', 'T'), 'rr', 'R')
   FROM durable_sink.events WHERE thread_id = 'tr')) d;
SELECT (SELECT string_agg(event_kind, ',' ORDER BY event_id) FROM durable_sink.events WHERE thread_id = 'tr')
     = (SELECT string_agg(event_kind, ',' ORDER BY event_id) FROM durable_sink.events WHERE thread_id = 'ts')
       AS same_order;

-- Every raw row is there; each bad one is in capture_failures exactly once.
SELECT (SELECT count(*) FROM raw_row) AS raw_row, (SELECT count(*) FROM raw_stmt) AS raw_stmt;
SELECT source, source_table, thread_id, run_id, origin, event, sqlstate, message
FROM durable_sink.capture_failures WHERE source = 'trigger' AND thread_id IN ('tr', 'ts') ORDER BY failure_id;

-- COPY through the statement trigger, compacted mode, in another table.
CREATE TABLE raw_copy (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture_copy AFTER INSERT ON raw_copy REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'copy', 'compacted');
COPY raw_copy FROM STDIN;
tc	rc	{"event_type":"run_start","thread_id":"tc","run_id":"rc"}
tc	rc	{"event_type":"text_delta","delta":"a"}
tc	rc	{"event_type":"text_delta","delta":"b"}
tc	rc	{"event_type":"inference_complete","model":"m","duration_ms":5}
tc	rc	{"event_type":"run_finish","thread_id":"tc","run_id":"rc","termination":{"type":"natural_end"}}
\.
SELECT seq, event_kind, origin FROM durable_sink.read('run', 'rc');

-- More rows than one batch of the statement trigger, and a transition
-- table that spills to disk (small work_mem): order and gaplessness.
SET work_mem = '64kB';
INSERT INTO raw_copy SELECT 'tb', 'rb', jsonb_build_object('event_type', 'error', 'message', 'm' || g)
FROM generate_series(1, 2500) g;
RESET work_mem;
SELECT count(*) AS stored, min(seq), max(seq), bool_and(payload->>'message' = 'm' || seq) AS in_order
FROM durable_sink.read('thread', 'tb', max_rows => 5000);

-- Wrong arguments are rejected by CREATE TRIGGER (contract §15), not at the
-- application's first INSERT: fire() says which statement failed.
SET client_min_messages = warning;
CREATE TABLE raw_bad (thread_id text, run_id text, event jsonb, n int);
CREATE FUNCTION pg_temp.fire(args text, kind text DEFAULT 'ROW') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  stage text := 'create';
BEGIN
  EXECUTE 'DROP TRIGGER IF EXISTS t ON raw_bad';
  IF kind = 'ROW' THEN
    EXECUTE format('CREATE TRIGGER t AFTER INSERT ON raw_bad FOR EACH ROW EXECUTE FUNCTION durable_sink.capture(%s)', args);
  ELSIF kind = 'STATEMENT' THEN
    EXECUTE format('CREATE TRIGGER t AFTER INSERT ON raw_bad REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement(%s)', args);
  ELSE
    EXECUTE format('CREATE TRIGGER t %s ON raw_bad %s', args, kind);
  END IF;
  stage := 'insert';
  INSERT INTO raw_bad VALUES ('t', 'r', '{"event_type":"step_end"}', 1);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN stage || ': ' || SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', 'app'$$) AS too_few;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', 'app', 'compacted', '', 'true', 'x'$$) AS too_many;
SELECT pg_temp.fire($$'evt', 'thread_id', 'run_id', 'app', 'compacted'$$) AS missing_column;
SELECT pg_temp.fire($$'thread_id', 'thread_id', 'run_id', 'app', 'compacted'$$) AS event_not_jsonb;
SELECT pg_temp.fire($$'event', 'n', 'run_id', 'app', 'compacted'$$) AS thread_not_text;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', ' ', 'compacted'$$) AS blank_origin;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', 'app', 'everything'$$) AS bad_mode;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', 'app', 'compacted', 'nope'$$) AS bad_correlation_column;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', 'app', 'compacted', '', 'maybe'$$) AS bad_announce;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', 'app', 'compacted'$$, 'STATEMENT') AS statement_ok;
SELECT pg_temp.fire($$BEFORE INSERT$$, $$FOR EACH ROW EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted')$$) AS before_trigger;
SELECT pg_temp.fire($$AFTER INSERT$$, $$FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted')$$) AS row_function_per_statement;
SELECT pg_temp.fire($$AFTER INSERT$$, $$FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted')$$) AS no_transition_table;
SELECT pg_temp.fire($$AFTER INSERT OR UPDATE$$, $$FOR EACH ROW EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted')$$) AS insert_or_update;
-- The check at the first fire stays as a backstop, for triggers created
-- while event triggers were disabled (or before 1.1).
ALTER EVENT TRIGGER durable_sink_check_capture_trigger DISABLE;
SELECT pg_temp.fire($$'evnt', 'thread_id', 'run_id', 'app', 'compacted'$$) AS missing_column_backstop;
SELECT pg_temp.fire($$'event', 'thread_id', 'run_id', 'app', 'compacted', '', 'maybe'$$, 'STATEMENT') AS bad_announce_backstop;
ALTER EVENT TRIGGER durable_sink_check_capture_trigger ENABLE;
DROP TRIGGER t ON raw_bad;
RESET client_min_messages;
SELECT durable_sink.capture();
-- Ordinary triggers are none of its business.
CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER other_trigger AFTER INSERT ON raw_bad FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();

-- One capture trigger per table: a second one would capture every row
-- twice, so CREATE TRIGGER refuses it, whichever kind either one is.
CREATE TABLE raw_twice (thread_id text, run_id text, event jsonb);
CREATE TRIGGER c1 AFTER INSERT ON raw_twice FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
CREATE TRIGGER c2 AFTER INSERT ON raw_twice FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
CREATE TRIGGER c2 AFTER INSERT ON raw_twice REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
-- Replacing the trigger itself is fine.
CREATE OR REPLACE TRIGGER c1 AFTER INSERT ON raw_twice FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app2', 'compacted');
-- If two exist anyway (made while event triggers were off), only the first
-- in firing order captures; the other warns and captures nothing.
ALTER EVENT TRIGGER durable_sink_check_capture_trigger DISABLE;
CREATE TRIGGER c2 AFTER INSERT ON raw_twice REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
ALTER EVENT TRIGGER durable_sink_check_capture_trigger ENABLE;
INSERT INTO raw_twice VALUES ('t-twice', 'r-twice', '{"event_type":"error","message":"once"}');
SELECT seq, event_kind, origin FROM durable_sink.read('thread', 't-twice');
DROP TABLE raw_twice;

-- A blank id inside a captured run_start is recorded with the member named.
INSERT INTO raw_copy VALUES ('t-blank', 'r-blank', '{"event_type":"run_start","thread_id":"t-blank","run_id":" "}');
SELECT source, source_table, sqlstate, message FROM durable_sink.capture_failures WHERE thread_id = 't-blank';

-- Partitioned raw tables: the row trigger is refused on a partitioned table
-- (it would be cloned to the partitions, and an UPDATE moving a row between
-- partitions would fire it again); the statement trigger on the partitioned
-- table captures each row once.
CREATE TABLE raw_parts (k int, thread_id text, run_id text, event jsonb) PARTITION BY LIST (k);
CREATE TABLE raw_parts_1 PARTITION OF raw_parts FOR VALUES IN (1);
CREATE TABLE raw_parts_2 PARTITION OF raw_parts FOR VALUES IN (2);
CREATE TRIGGER capture_rows AFTER INSERT ON raw_parts FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
CREATE TRIGGER capture_rows AFTER INSERT ON raw_parts_1 FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
CREATE TRIGGER capture_statements AFTER INSERT ON raw_parts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
INSERT INTO raw_parts VALUES (1, 'tp1', 'rp1', '{"event_type":"error","message":"m"}');
UPDATE raw_parts SET k = 2;
SELECT seq, event_kind FROM durable_sink.read('thread', 'tp1');

-- A hostile search_path (decoy tables named like the extension's) does not
-- redirect what the triggers write.
CREATE SCHEMA decoy;
CREATE TABLE decoy.events (LIKE durable_sink.events);
CREATE TABLE decoy.scopes (LIKE durable_sink.scopes);
CREATE TABLE decoy.run_state (LIKE durable_sink.run_state);
SET search_path = decoy, public;
INSERT INTO raw_row (thread_id, run_id, corr, event) VALUES ('th', 'rh', 'h1', '{"event_type":"run_start","thread_id":"th","run_id":"rh"}');
INSERT INTO raw_stmt (thread_id, run_id, corr, event) VALUES ('th', 'rh', 'h2', '{"event_type":"error","message":"x"}');
RESET search_path;
SELECT (SELECT count(*) FROM decoy.events) + (SELECT count(*) FROM decoy.scopes)
       + (SELECT count(*) FROM decoy.run_state) AS decoy_rows;
SELECT seq, event_kind, correlation_id FROM durable_sink.read('thread', 'th');
DROP SCHEMA decoy CASCADE;
