-- Contract §21: retention.  prune_events deletes every old event of the
-- database, so the suite runs in a database of its own; events are made
-- old by moving their created_at back.  Positions are shown relative to
-- where the suite's feed started.
\pset null '(null)'
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_retention;
ALTER DATABASE regress_ds_retention SET lc_messages = 'C';
\c regress_ds_retention
CREATE EXTENSION durable_sink;
SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS start FROM durable_sink.feed_position_seq \gset
CREATE TEMP TABLE feed_start AS SELECT :start::bigint AS start;
CREATE FUNCTION pg_temp.rel(p bigint) RETURNS bigint LANGUAGE sql
AS $$ SELECT p - (SELECT start FROM feed_start) $$;
-- An error's SQLSTATE, message, detail and hint, positions made relative.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  detail text;
  hint text;
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' DETAIL: ' || nullif(detail, ''), '')
         || coalesce(' HINT: ' || nullif(hint, ''), '');
END $$;
-- Emit n events of a type (full_fidelity keeps them all).
CREATE FUNCTION pg_temp.emit(event text, thread text, run text, n integer DEFAULT 1)
RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM generate_series(1, n) i,
       LATERAL durable_sink.emit(CASE WHEN i > 0 THEN event::jsonb END, thread, run,
                                 mode => 'full_fidelity') e $$;
CREATE FUNCTION pg_temp.age_all() RETURNS void LANGUAGE sql AS $$
  UPDATE durable_sink.events SET created_at = created_at - interval '2 days' $$;

-- A run whose newest events are observed: run_start, then 4 deltas.
SELECT pg_temp.emit('{"event_type":"run_start","thread_id":"ret-t1","run_id":"ret-r1"}', 'ret-t1', 'ret-r1');
SELECT pg_temp.emit('{"event_type":"text_delta","delta":"x"}', 'ret-t1', 'ret-r1', 4);
SELECT * FROM durable_sink.retained_range('thread', 'ret-t1');
SELECT pg_temp.age_all();
-- Nothing younger than older_than goes.
CALL durable_sink.prune_events(older_than => '3 days');
-- The default: observed events older than a day, in batches of batch_size;
-- returns how many it removed and in how many batches.
CALL durable_sink.prune_events(batch_size => 3);
SELECT thread_seq, run_seq, event_kind FROM durable_sink.events ORDER BY event_id;

-- Seqs never repeat or decrease: the scope's newest events are gone, its
-- head (5) is not; the next append continues after it.
SELECT * FROM durable_sink.retained_range('thread', 'ret-t1');
SELECT * FROM durable_sink.retained_range('run', 'ret-r1');
SELECT event_kind, thread_seq, run_seq
FROM durable_sink.emit('{"event_type":"text_delta","delta":"after"}', 'ret-t1', 'ret-r1', mode => 'full_fidelity');
-- compare-and-append states the head, not the newest retained seq
SELECT pg_temp.try($$SELECT durable_sink.append(ROW('domain_event', 'Noted',
  '[{"scope_type":"thread","thread_id":"ret-t1"}]', NULL, NULL, '{}', NULL, NULL, 'test', 'public', 1)
  ::durable_sink.canonical_event_draft, expected_thread_seq => 1)$$);
SELECT thread_seq FROM durable_sink.append(ROW('domain_event', 'Noted',
  '[{"scope_type":"thread","thread_id":"ret-t1"}]', NULL, NULL, '{}', NULL, NULL, 'test', 'public', 1)
  ::durable_sink.canonical_event_draft, expected_thread_seq => 6);

-- read resumes across the hole.
SELECT seq, event_kind FROM durable_sink.read('thread', 'ret-t1', after_seq => 0);
SELECT seq, event_kind FROM durable_sink.read('thread', 'ret-t1', after_seq => 2, max_rows => 1);

-- read_all resumes across the hole: the pruned events' positions are gone
-- from the feed, so a batch of one after position 1 is the next retained
-- event, never an empty batch before the end.
SELECT pg_temp.rel(position) AS position, event_kind, thread_seq FROM durable_sink.read_all(:start);
SELECT pg_temp.rel(position) AS position, event_kind FROM durable_sink.read_all(:start + 1, 1);
SELECT count(*) AS feed_rows_of_missing_events FROM durable_sink.feed f
WHERE NOT EXISTS (SELECT 1 FROM durable_sink.events e WHERE e.event_id = f.event_id);
-- The feed's retained range.
SELECT pg_temp.rel(first_position) AS first_position, pg_temp.rel(last_position) AS last_position,
       pg_temp.rel(pruned_up_to) AS pruned_up_to, pruned_events
FROM durable_sink.feed_retained_range();
SELECT events, pg_temp.rel(first_position) AS first_position, pg_temp.rel(last_position) AS last_position,
       fidelities, event_kinds, archive
FROM durable_sink.retention_log ORDER BY batch_id;

-- Subscriptions.  One from the beginning is behind the deletions: poll
-- fails (55000, with what to do) until it accepts them, then continues
-- with the retained events.
SELECT name FROM durable_sink.create_subscription('ret-all');
SELECT pg_temp.try($$SELECT * FROM durable_sink.poll('ret-all')$$);
-- one whose filters cannot match what was deleted polls as usual
SELECT name FROM durable_sink.create_subscription('ret-domain', fidelities => '{domain_event}');
SELECT pg_temp.rel(position) AS position, event_kind FROM durable_sink.poll('ret-domain');
SELECT name FROM durable_sink.create_subscription('ret-kinds', event_kinds => '{RunStarted}');
SELECT pg_temp.rel(position) AS position, event_kind FROM durable_sink.poll('ret-kinds');
-- one that starts after the deletions too
SELECT name FROM durable_sink.create_subscription('ret-late', start_after => :start + 5);
SELECT pg_temp.rel(position) AS position, event_kind FROM durable_sink.poll('ret-late');
SELECT pg_temp.rel(durable_sink.accept_pruned('ret-all')) AS accepted_up_to;
SELECT pg_temp.rel(position) AS position, event_kind FROM durable_sink.poll('ret-all');
SELECT pg_temp.rel(durable_sink.ack('ret-all')) AS checkpoint;
-- a later deletion after its checkpoint is an error again
SELECT pg_temp.emit('{"event_type":"text_delta","delta":"late"}', 'ret-t1', 'ret-r1', 2);
SELECT pg_temp.age_all();
CALL durable_sink.prune_events();
SELECT pg_temp.try($$SELECT * FROM durable_sink.poll('ret-all')$$) ~ '^55000: ' AS behind_again;
SELECT pg_temp.try($$SELECT durable_sink.accept_pruned('nope')$$);
SELECT pg_temp.try($$SELECT durable_sink.accept_pruned(NULL)$$);

-- Other fidelities, when asked; events appended with an idempotency key
-- always stay (a retry must still get the original event back).
SELECT event_id AS keyed FROM durable_sink.append(ROW('committed_runtime_event', 'ErrorRecorded',
  '[{"scope_type":"thread","thread_id":"ret-t2"}]', NULL, NULL, '{}', NULL, NULL, 'test', 'public', 1)
  ::durable_sink.canonical_event_draft, writer_id => 'w', idempotency_key => 'k1') \gset
SELECT pg_temp.emit('{"event_type":"error","message":"m"}', 'ret-t2', 'ret-r2', 2);
SELECT pg_temp.age_all();
CALL durable_sink.prune_events(fidelities => '{committed_runtime_event}');
SELECT thread_seq, event_kind, idempotency_key FROM durable_sink.events WHERE thread_id = 'ret-t2';
SELECT event_id = :keyed AS same_event FROM durable_sink.append(ROW('committed_runtime_event', 'ErrorRecorded',
  '[{"scope_type":"thread","thread_id":"ret-t2"}]', NULL, NULL, '{}', NULL, NULL, 'test', 'public', 1)
  ::durable_sink.canonical_event_draft, writer_id => 'w', idempotency_key => 'k1');
SELECT * FROM durable_sink.retained_range('thread', 'ret-t2');

-- Moving to an archive instead of deleting.
CREATE TABLE ret_archive (LIKE durable_sink.events, archived_at timestamptz DEFAULT now());
SELECT pg_temp.emit('{"event_type":"text_delta","delta":"keep me"}', 'ret-t3', 'ret-r3', 2);
SELECT pg_temp.age_all();
CALL durable_sink.prune_events(archive => 'ret_archive');
SELECT thread_seq, event_kind, payload->>'delta' AS delta, archived_at IS NOT NULL AS stamped
FROM ret_archive ORDER BY event_id;
SELECT count(*) FROM durable_sink.events WHERE thread_id = 'ret-t3';
SELECT archive FROM durable_sink.retention_log ORDER BY batch_id DESC LIMIT 1;
-- A table that cannot be an archive is refused before anything is deleted.
CREATE TABLE ret_missing (event_id bigint);
CREATE TABLE ret_wrong_type (LIKE durable_sink.events);
ALTER TABLE ret_wrong_type ALTER COLUMN payload TYPE text;
CREATE TABLE ret_extra (LIKE durable_sink.events, note text NOT NULL);
CREATE VIEW ret_view AS SELECT * FROM ret_archive;
SELECT pg_temp.emit('{"event_type":"text_delta","delta":"stays"}', 'ret-t4', 'ret-r4');
SELECT pg_temp.age_all();
SELECT pg_temp.try($$CALL durable_sink.prune_events(archive => 'ret_missing')$$);
SELECT pg_temp.try($$CALL durable_sink.prune_events(archive => 'ret_wrong_type')$$);
SELECT pg_temp.try($$CALL durable_sink.prune_events(archive => 'ret_extra')$$);
SELECT pg_temp.try($$CALL durable_sink.prune_events(archive => 'ret_view')$$);
SELECT pg_temp.try($$CALL durable_sink.prune_events(archive => 'durable_sink.events')$$);
SELECT count(*) FROM durable_sink.events WHERE thread_id = 'ret-t4';

-- Bad arguments.
SELECT pg_temp.try($$CALL durable_sink.prune_events(older_than => NULL)$$);
SELECT pg_temp.try($$CALL durable_sink.prune_events(fidelities => NULL)$$);
SELECT pg_temp.try($$CALL durable_sink.prune_events(older_than => '-1 day')$$);
SELECT pg_temp.try($$CALL durable_sink.prune_events(batch_size => 0)$$);
SELECT pg_temp.try($$SELECT durable_sink.retained_range('thread', NULL)$$);
SELECT pg_temp.try($$SELECT durable_sink.retained_range('scope', 'x')$$);
SELECT pg_temp.try($$SELECT durable_sink.pruned_after(NULL, NULL, NULL)$$);
-- In a transaction block the procedure cannot commit its batches.
BEGIN;
CALL durable_sink.prune_events();
ROLLBACK;
-- A scope never seen.
SELECT * FROM durable_sink.retained_range('run', 'ret-never');

-- Capture failures and live frames: deleted by age.
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":1}', 'ret-t5', 'ret-r5');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":2}', 'ret-t5', 'ret-r5');
UPDATE durable_sink.capture_failures SET failed_at = failed_at - interval '40 days'
WHERE event->>'delta' = '1';
SELECT durable_sink.prune_capture_failures();
SELECT event->>'delta' AS delta FROM durable_sink.capture_failures;
SELECT durable_sink.prune_capture_failures(NULL);
SELECT durable_sink.prune_capture_failures('0 seconds');
INSERT INTO durable_sink.live_frames (created_at, frame) VALUES (now() - interval '2 days', '{"old":1}'), (now(), '{"new":1}');
SELECT durable_sink.prune_live_frames();
SELECT frame FROM durable_sink.live_frames;

\c :regress_db
DROP DATABASE regress_ds_retention;
