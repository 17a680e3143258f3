-- Contract §22: durable_sink.backfill() captures the rows already in a raw
-- table as the statement trigger would, in ordering-column order, one
-- committed transaction per batch, resuming after the last committed batch;
-- durable_sink.backfill_progress shows the committed progress.  Uses thread
-- and run ids bf-* / ref-* and raw tables bf_* of its own.  The per-batch
-- NOTICEs carry timings and are tested in test/t/008_backfill.pl.
SET client_min_messages = warning;

-- The events of one stream: run_start, text deltas, errors, a compaction
-- snapshot, rejected events (a text_delta without delta), run_finish.
CREATE FUNCTION bf_event(p text, id int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN id <= 2 THEN jsonb_build_object('event_type', 'run_start', 'thread_id', p || '-t' || id % 2,
                                         'run_id', p || '-r' || id % 2)
    WHEN id >= 39 THEN jsonb_build_object('event_type', 'run_finish', 'thread_id', p || '-t' || id % 2,
                                          'run_id', p || '-r' || id % 2,
                                          'termination', jsonb_build_object('type', 'natural_end'))
    WHEN id % 9 = 0 THEN '{"event_type":"text_delta"}'::jsonb
    WHEN id = 20 THEN '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"total_compactions":0,"in_flight":{"task_id":"c1","started_at_ms":5}}}}}'::jsonb
    WHEN id % 5 = 0 THEN jsonb_build_object('event_type', 'error', 'message', 'e' || id)
    ELSE jsonb_build_object('event_type', 'text_delta', 'delta', 'd' || id)
  END
$$;

-- 40 raw rows in two streams, stored in a physical order unlike id order,
-- with gaps in the ids.
CREATE TABLE bf_raw (id bigint PRIMARY KEY, thread_id text, run_id varchar, tag text, event jsonb);
INSERT INTO bf_raw
SELECT g * 10, 'bf-t' || g % 2, 'bf-r' || g % 2, 'x' || g, bf_event('bf', g)
FROM generate_series(1, 40) g ORDER BY (g * 7) % 41;

-- The same events through the statement trigger, in id order: the reference.
CREATE TABLE bf_ref (id bigint PRIMARY KEY, thread_id text, run_id text, tag text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON bf_ref REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'bf', 'full_fidelity', 'tag');
INSERT INTO bf_ref
SELECT g * 10, 'ref-t' || g % 2, 'ref-r' || g % 2, 'x' || g, bf_event('ref', g)
FROM generate_series(1, 40) g ORDER BY g;

-- Batches of 7: a WARNING per batch with rejected rows, as the statement trigger.
CALL durable_sink.backfill('bf_raw', 'event', 'thread_id', 'run_id', 'bf', 'id',
                           mode => 'full_fidelity', correlation_id_column => 'tag', batch_size => 7);

-- Exactly the reference's canonical rows, seqs and order (ids renamed):
-- nothing on one side only.
CREATE VIEW bf_captured AS
SELECT split_part(thread_id, '-', 1) AS side, replace(thread_id, 'ref-', 'bf-') AS thread,
       replace(run_id, 'ref-', 'bf-') AS run, event_kind, fidelity, visibility, thread_seq,
       run_seq, correlation_id, origin, replace(payload::text, 'ref-', 'bf-') AS payload
FROM durable_sink.events WHERE thread_id LIKE 'bf-%' OR thread_id LIKE 'ref-%';
SELECT side, count(*) FROM bf_captured GROUP BY side ORDER BY side;
(SELECT thread, run, event_kind, fidelity, visibility, thread_seq, run_seq, correlation_id, origin, payload
 FROM bf_captured WHERE side = 'bf'
 EXCEPT
 SELECT thread, run, event_kind, fidelity, visibility, thread_seq, run_seq, correlation_id, origin, payload
 FROM bf_captured WHERE side = 'ref')
UNION ALL
(SELECT thread, run, event_kind, fidelity, visibility, thread_seq, run_seq, correlation_id, origin, payload
 FROM bf_captured WHERE side = 'ref'
 EXCEPT
 SELECT thread, run, event_kind, fidelity, visibility, thread_seq, run_seq, correlation_id, origin, payload
 FROM bf_captured WHERE side = 'bf');

-- In id order: within each thread, seqs follow the raw ids.
SELECT thread, count(*) AS rows, bool_and(prev_id < id) AS in_id_order
FROM (SELECT thread, substr(correlation_id, 2)::int AS id,
             lag(substr(correlation_id, 2)::int) OVER (PARTITION BY thread ORDER BY thread_seq) AS prev_id
      FROM bf_captured WHERE side = 'bf' AND correlation_id IS NOT NULL) s
GROUP BY thread ORDER BY thread;

-- Rejected rows: in capture_failures with source 'backfill', once each.
SELECT source, source_table, thread_id, run_id, origin, event, sqlstate, message
FROM durable_sink.capture_failures WHERE source_table = 'public.bf_raw' ORDER BY failure_id;

-- The backfill's state and its progress view.
SELECT raw_table, event_column, thread_id_column, run_id_column, origin, mode,
       correlation_id_column, order_column, target_value, last_value, rows_total, rows_done,
       rows_failed, finished_at IS NOT NULL AS finished
FROM durable_sink.backfills WHERE raw_table = 'public.bf_raw';
SELECT raw_table, order_column, running, pid, rows_done, rows_total, rows_failed, percent_done,
       rows_per_second > 0 AS has_rate, time_left, last_value, target_value,
       started_at <= updated_at AND updated_at <= finished_at AS timestamps_in_order
FROM durable_sink.backfill_progress WHERE raw_table = 'public.bf_raw';

-- A re-run is a no-op: it says so and captures nothing.
SELECT count(*) AS events_before FROM durable_sink.events WHERE thread_id LIKE 'bf-%' \gset
SET client_min_messages = notice;
CALL durable_sink.backfill('bf_raw', 'event', 'thread_id', 'run_id', 'bf', 'id',
                           mode => 'full_fidelity', correlation_id_column => 'tag', batch_size => 7);
SET client_min_messages = warning;
SELECT count(*) - :events_before AS captured_again FROM durable_sink.events WHERE thread_id LIKE 'bf-%';
SELECT count(*) AS failures FROM durable_sink.capture_failures WHERE source_table = 'public.bf_raw';
-- ... also with rows added since: the range was fixed by the first CALL.
INSERT INTO bf_raw VALUES (1000, 'bf-t0', 'bf-r0', 'x100', '{"event_type":"error","message":"late"}');
CALL durable_sink.backfill('bf_raw', 'event', 'thread_id', 'run_id', 'bf', 'id',
                           mode => 'full_fidelity', correlation_id_column => 'tag', batch_size => 7);
SELECT count(*) - :events_before AS captured_again FROM durable_sink.events WHERE thread_id LIKE 'bf-%';

-- Commits after each batch: a batch that fails (here: capture_failures
-- refuses one rejected event) loses only itself; the batches before it
-- stay, and the re-run continues after them, capturing each row once.
CREATE TABLE bf_cut (n int PRIMARY KEY, thread_id text, run_id text, event jsonb);
INSERT INTO bf_cut
SELECT g, 'bf-cut', 'bf-cut-r',
       CASE WHEN g = 17 THEN '"boom"'::jsonb ELSE jsonb_build_object('event_type', 'error', 'message', 'm' || g) END
FROM generate_series(1, 30) g;
ALTER TABLE durable_sink.capture_failures ADD CONSTRAINT bf_boom CHECK (event IS DISTINCT FROM '"boom"');
\set VERBOSITY terse
CALL durable_sink.backfill('bf_cut', 'event', 'thread_id', 'run_id', 'bf', 'n', batch_size => 7);
\set VERBOSITY default
ALTER TABLE durable_sink.capture_failures DROP CONSTRAINT bf_boom;
SELECT last_value, rows_done, rows_failed, running, finished_at IS NULL AS unfinished
FROM durable_sink.backfill_progress WHERE raw_table = 'public.bf_cut';
SELECT count(*), min(payload->>'message'), max(thread_seq) FROM durable_sink.events WHERE thread_id = 'bf-cut';
-- a row added meanwhile is after the range the first CALL fixed: not backfilled
INSERT INTO bf_cut VALUES (31, 'bf-cut', 'bf-cut-r', '{"event_type":"error","message":"m31"}');
CALL durable_sink.backfill('bf_cut', 'event', 'thread_id', 'run_id', 'bf', 'n', batch_size => 7);
SELECT last_value, rows_done, rows_failed, running, percent_done
FROM durable_sink.backfill_progress WHERE raw_table = 'public.bf_cut';
SELECT count(*) AS events, count(DISTINCT payload->>'message') AS distinct_events,
       max(thread_seq) AS last_seq,
       bool_and(thread_seq = substr(payload->>'message', 2)::int - (substr(payload->>'message', 2)::int > 17)::int) AS seq_follows_n
FROM durable_sink.events WHERE thread_id = 'bf-cut';

-- Any ordering type with a unique btree index: text, in its own order.
CREATE TABLE bf_text (k text PRIMARY KEY, thread_id text, run_id text, event jsonb);
INSERT INTO bf_text
SELECT 'k' || g, 'bf-text', 'bf-text-r', jsonb_build_object('event_type', 'error', 'message', 'k' || g)
FROM generate_series(1, 12) g;
CALL durable_sink.backfill('bf_text', 'event', 'thread_id', 'run_id', 'bf', 'k', batch_size => 5);
SELECT string_agg(payload->>'message', ' ' ORDER BY thread_seq) FROM durable_sink.events WHERE thread_id = 'bf-text';
SELECT last_value, target_value, rows_done FROM durable_sink.backfills WHERE raw_table = 'public.bf_text';

-- A partitioned raw table: all partitions, in order.
CREATE TABLE bf_part (id int PRIMARY KEY, thread_id text, run_id text, event jsonb) PARTITION BY RANGE (id);
CREATE TABLE bf_part_1 PARTITION OF bf_part FOR VALUES FROM (0) TO (10);
CREATE TABLE bf_part_2 PARTITION OF bf_part FOR VALUES FROM (10) TO (100);
INSERT INTO bf_part
SELECT g, 'bf-part', 'bf-part-r', jsonb_build_object('event_type', 'error', 'message', 'p' || g)
FROM generate_series(1, 20) g ORDER BY -g;
CALL durable_sink.backfill('bf_part', 'event', 'thread_id', 'run_id', 'bf', 'id', batch_size => 6);
SELECT string_agg(payload->>'message', ' ' ORDER BY thread_seq) FROM durable_sink.events WHERE thread_id = 'bf-part';

-- An empty table: nothing to do, finished at once.
CREATE TABLE bf_empty (id int PRIMARY KEY, thread_id text, run_id text, event jsonb);
CALL durable_sink.backfill('bf_empty', 'event', 'thread_id', 'run_id', 'bf', 'id');
SELECT rows_total, rows_done, percent_done, target_value, finished_at IS NOT NULL AS finished
FROM durable_sink.backfill_progress WHERE raw_table = 'public.bf_empty';

-- A table that already has a capture trigger: up_to says where the
-- trigger's rows begin; the backfill captures the rows before, the trigger
-- the rows after, each once.
CREATE TABLE bf_live (id bigserial PRIMARY KEY, thread_id text, run_id text, event jsonb);
INSERT INTO bf_live (thread_id, run_id, event)
SELECT 'bf-live', 'bf-live-r', jsonb_build_object('event_type', 'error', 'message', 'old' || g)
FROM generate_series(1, 5) g;
CREATE TRIGGER capture AFTER INSERT ON bf_live REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'bf', 'compacted');
INSERT INTO bf_live (thread_id, run_id, event)
SELECT 'bf-live', 'bf-live-r', jsonb_build_object('event_type', 'error', 'message', 'new' || g)
FROM generate_series(1, 3) g;
CALL durable_sink.backfill('bf_live', 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_live', 'event', 'thread_id', 'run_id', 'bf', 'id', up_to => '5');
SELECT count(*), count(DISTINCT payload->>'message') FROM durable_sink.events WHERE thread_id = 'bf-live';
-- up_to is fixed with the range
CALL durable_sink.backfill('bf_live', 'event', 'thread_id', 'run_id', 'bf', 'id', up_to => '6');
\echo :LAST_ERROR_SQLSTATE

-- Bad arguments.
CALL durable_sink.backfill(NULL, 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_ref', 'event', 'thread_id', 'run_id', 'bf', NULL);
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_ref', 'event', 'thread_id', 'run_id', 'bf', 'id', mode => NULL);
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_ref', 'event', 'thread_id', 'run_id', 'bf', 'id', batch_size => 0);
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_ref', 'event', 'thread_id', 'run_id', ' ', 'id');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_ref', 'evnt', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_ref', 'tag', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_ref', 'event', 'thread_id', 'run_id', 'bf', 'idx');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_captured', 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
-- the ordering column must be NOT NULL with a unique btree index on it alone
CREATE TABLE bf_dup (id int NOT NULL, u int UNIQUE, a int NOT NULL, b int NOT NULL, p int NOT NULL,
                     thread_id text, run_id text, event jsonb, UNIQUE (a, b));
CREATE UNIQUE INDEX ON bf_dup (p) WHERE p > 0;
CALL durable_sink.backfill('bf_dup', 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_dup', 'event', 'thread_id', 'run_id', 'bf', 'u');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_dup', 'event', 'thread_id', 'run_id', 'bf', 'a');
\echo :LAST_ERROR_SQLSTATE
CALL durable_sink.backfill('bf_dup', 'event', 'thread_id', 'run_id', 'bf', 'p');
\echo :LAST_ERROR_SQLSTATE
-- a re-run must be the same backfill
CALL durable_sink.backfill('bf_raw', 'event', 'thread_id', 'run_id', 'bf', 'id', mode => 'compacted',
                           correlation_id_column => 'tag');
\echo :LAST_ERROR_SQLSTATE
-- it commits, so not inside a transaction block
BEGIN;
CALL durable_sink.backfill('bf_empty', 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- nothing was recorded for the refused calls
SELECT raw_table FROM durable_sink.backfills WHERE raw_table LIKE 'public.bf_%' ORDER BY raw_table;

-- Privileges: EXECUTE, TRIGGER privilege and SELECT on the raw table; a
-- monitoring role reads the view without privileges on durable_sink.backfills.
CREATE ROLE bf_owner;
CREATE ROLE bf_monitor;
GRANT USAGE ON SCHEMA durable_sink TO bf_owner, bf_monitor;
SET ROLE bf_owner;
CALL durable_sink.backfill('bf_ref', 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON PROCEDURE durable_sink.backfill(regclass, text, text, text, text, text,
  durable_sink.durability, text, boolean, integer, text) TO bf_owner;
CREATE TABLE bf_grant (id int PRIMARY KEY, thread_id text, run_id text, event jsonb);
INSERT INTO bf_grant VALUES (1, 'bf-grant', 'bf-grant-r', '{"event_type":"error","message":"g"}');
SET ROLE bf_owner;
CALL durable_sink.backfill('bf_grant', 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT TRIGGER ON bf_grant TO bf_owner;
SET ROLE bf_owner;
CALL durable_sink.backfill('bf_grant', 'event', 'thread_id', 'run_id', 'bf', 'id');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON bf_grant TO bf_owner;
SET ROLE bf_owner;
CALL durable_sink.backfill('bf_grant', 'event', 'thread_id', 'run_id', 'bf', 'id');
RESET ROLE;
SELECT count(*) FROM durable_sink.events WHERE thread_id = 'bf-grant';
SET ROLE bf_monitor;
SELECT raw_table FROM durable_sink.backfill_progress WHERE raw_table = 'public.bf_grant';
RESET ROLE;
GRANT SELECT ON durable_sink.backfill_progress TO bf_monitor;
SET ROLE bf_monitor;
SELECT raw_table, rows_done, percent_done FROM durable_sink.backfill_progress WHERE raw_table = 'public.bf_grant';
SELECT count(*) FROM durable_sink.backfills;
RESET ROLE;
REVOKE ALL ON durable_sink.backfill_progress FROM bf_monitor;
REVOKE ALL ON SCHEMA durable_sink FROM bf_owner, bf_monitor;
REVOKE ALL ON PROCEDURE durable_sink.backfill(regclass, text, text, text, text, text,
  durable_sink.durability, text, boolean, integer, text) FROM bf_owner;
DROP TABLE bf_grant;
DROP ROLE bf_owner, bf_monitor;
