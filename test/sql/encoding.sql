-- Blank/trim (contract §2) in a database whose encoding is not UTF-8: the
-- Unicode White_Space set still applies, and empty strings stay empty.
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c regress_ds_latin1
SET client_encoding = 'UTF8';
CREATE EXTENSION durable_sink;

CREATE FUNCTION pg_temp.try(event jsonb, thread_id text DEFAULT 't1', origin text DEFAULT 'server')
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN coalesce((SELECT string_agg(event_kind || coalesce(' ' || (payload - 'thread_id' - 'event_type' - 'snapshot')::text, ''), '; ')
                    FROM durable_sink.normalize_many(event, thread_id, 'r1', origin) WHERE event_kind <> 'StateSnapshotObserved'),
                   '(no facts)');
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Context values: empty, ASCII blanks, U+00A0 (a LATIN1 character).
SELECT pg_temp.try('{"event_type":"step_end"}', '') AS empty_thread,
       pg_temp.try('{"event_type":"step_end"}', ' ' || chr(160) || ' ') AS nbsp_thread,
       pg_temp.try('{"event_type":"step_end"}', 't1', '') AS empty_origin,
       pg_temp.try('{"event_type":"step_end"}', 't1', chr(160)) AS nbsp_origin,
       pg_temp.try('{"event_type":"step_end"}', 't' || chr(233)) AS latin1_thread;

CREATE FUNCTION pg_temp.snapshot(cc jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('event_type', 'state_snapshot', 'snapshot',
           jsonb_build_object('extensions', jsonb_build_object('__context_compaction', cc))) $$;

-- text(x, k): trimmed, or absent when blank or empty.
SELECT pg_temp.try(pg_temp.snapshot(jsonb_build_object('failures', jsonb_build_array(
         jsonb_build_object('error', '', 'task_id', 'abc'),
         jsonb_build_object('error', chr(160) || ' disk full ' || chr(160), 'boundary_message_id', ' ')))),
       't-fail') AS failures;
SELECT pg_temp.try(pg_temp.snapshot(jsonb_build_object('in_flight',
         jsonb_build_object('task_id', '', 'boundary_message_id', 'zzzz'))), 't-empty') AS empty_task_is_no_compaction;
SELECT pg_temp.try(pg_temp.snapshot(jsonb_build_object('in_flight',
         jsonb_build_object('task_id', chr(160) || 'caf' || chr(233) || chr(160)))), 't-latin1')
       = 'ContextCompactionStarted {"task_id": "caf' || chr(233) || '", "started_at_ms": 0, "boundary_message_id": ""}'
       AS latin1_task_trimmed;

-- The permission companion's blank suspension id.
SELECT string_agg(event_kind, ',') AS nbsp_suspension_id
FROM durable_sink.normalize_many(jsonb_build_object('event_type', 'tool_call_done', 'id', 'c', 'message_id', 'm',
       'outcome', 'suspended', 'result', jsonb_build_object('tool_name', 'x', 'status', 'pending', 'data', NULL,
       'suspension', jsonb_build_object('suspension', jsonb_build_object('id', chr(160))))), 't1', 'r1');

\c :regress_db
DROP DATABASE regress_ds_latin1;
