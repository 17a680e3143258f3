-- durable_sink.emit: normalize, keep what the durability mode says, record
-- what the normalizer rejects -- without ever aborting the caller.
\pset null '(null)'

CREATE FUNCTION pg_temp.emitted(event jsonb, mode durable_sink.durability DEFAULT 'compacted',
                                thread text DEFAULT 'te', run text DEFAULT 're',
                                resumed boolean DEFAULT false)
RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(format('%s(%s/%s)', event_kind, thread_seq, coalesce(run_seq::text, '-')), ', '
                             ORDER BY event_id), '(nothing stored)')
  FROM durable_sink.emit(event, thread, run, 'srv', mode, 'corr-e', resumed, false) $$;

-- Each mode keeps what should_persist says (contract §10).
SELECT pg_temp.emitted('{"event_type":"run_start","thread_id":"te","run_id":"re"}') AS run_start;
SELECT m.mode, pg_temp.emitted('{"event_type":"text_delta","delta":"x"}', m.mode) AS text_delta
FROM unnest(enum_range(NULL::durable_sink.durability)) AS m(mode);
SELECT m.mode, pg_temp.emitted('{"event_type":"tool_call_ready","id":"c","name":"n","arguments":{}}', m.mode) AS tool_call_ready
FROM unnest(enum_range(NULL::durable_sink.durability)) AS m(mode);
-- Companion and compaction facts persist in compacted mode; the snapshot
-- that carries them does not.
SELECT pg_temp.emitted('{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"suspended","result":{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"s1"}}}}') AS suspended_tool;
SELECT pg_temp.emitted('{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"k1"}}}}}') AS snapshot;
SELECT pg_temp.emitted('{"event_type":"run_finish","thread_id":"te","run_id":"re","termination":{"type":"natural_end"}}') AS run_finish;
SELECT pg_temp.emitted('{"event_type":"run_finish","thread_id":"te","run_id":"re","termination":{"type":"natural_end"}}') AS repeated_finish;
SELECT pg_temp.emitted('{"event_type":"run_start","thread_id":"te","run_id":"re2"}', resumed => true) AS resumed_start;

-- The stored rows are returned in full.
SELECT event_kind, fidelity, scopes, thread_id, run_id, payload, causation_id, correlation_id,
       origin, visibility, schema_version, thread_seq, run_seq
FROM durable_sink.emit('{"event_type":"error","message":"rate limited"}', 'te', 're', 'srv', 'compacted', 'corr-x');

-- A bad event: a WARNING, one row in capture_failures, nothing stored, and
-- the caller's transaction goes on.
BEGIN;
SELECT pg_temp.emitted('{"event_type":"text_delta","delta":42}') AS wrong_type;
SELECT pg_temp.emitted('"just a string"') AS not_an_object;
SELECT pg_temp.emitted('{"event_type":"nope"}', thread => ' ') AS blank_thread;
SELECT pg_temp.emitted(NULL) AS null_event;
SELECT count(*) AS emit_null_thread FROM durable_sink.emit('{"event_type":"step_end"}', NULL, 're');
SELECT count(*) AS emit_null_resumed FROM durable_sink.emit('{"event_type":"step_end"}', 'te', 're', resumed => NULL);
SELECT 'the transaction is still usable' AS status;
COMMIT;
SELECT failure_id - min(failure_id) OVER () + 1 AS failure_id,
       source, source_table, thread_id, run_id, origin, event, sqlstate, message
FROM durable_sink.capture_failures WHERE run_id = 're' ORDER BY failure_id;

-- A rejected run_start changes no run state.
SELECT pg_temp.emitted('{"event_type":"run_start","thread_id":"te","run_id":"re3","identity":7}') AS bad_start;
SELECT pg_temp.emitted('{"event_type":"run_start","thread_id":"te","run_id":"re3"}') AS good_start;

-- Rolled back with the caller: nothing stored, no failure kept.
BEGIN;
SELECT pg_temp.emitted('{"event_type":"run_start","thread_id":"te","run_id":"re4"}') AS in_rolled_back_tx;
SELECT pg_temp.emitted('{"event_type":"bad"}') AS bad_in_rolled_back_tx;
ROLLBACK;
SELECT count(*) AS stored_for_re4 FROM durable_sink.events WHERE run_id = 're4';
SELECT count(*) AS failures FROM durable_sink.capture_failures WHERE run_id = 're';

-- Arguments of the sink itself are not event input: errors.
SELECT * FROM durable_sink.emit('{"event_type":"step_end"}', 'te', 're', mode => NULL);
SELECT * FROM durable_sink.emit('{"event_type":"step_end"}', 'te', 're', announce => NULL);

-- Many events in one statement, in order, one sequence per scope.
SELECT count(*) AS stored
FROM generate_series(1, 50) g,
     LATERAL durable_sink.emit(jsonb_build_object('event_type', 'error', 'message', 'e' || g), 'tm', 'rm', announce => false);
SELECT count(*) = 50 AS gapless, min(seq), max(seq),
       bool_and(payload->>'message' = 'e' || seq) AS in_order
FROM durable_sink.read('thread', 'tm');

-- The drafts of one event keep their own scopes (a long thread id: the
-- scopes cache must not be reused under a draft that is still pending).
SELECT event_kind, jsonb_array_length(scopes) AS nscopes, run_id, run_seq IS NOT NULL AS has_run_seq
FROM (VALUES (1, '{"event_type":"step_end"}'::jsonb),
             (2, '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"k1"}}}}}')) v(n, ev),
     LATERAL durable_sink.emit(v.ev, repeat('T', 150), 'r-long', mode => 'full_fidelity', announce => false) e
ORDER BY v.n, e.event_id;

-- emit inside a savepoint that rolls back gives its seqs back.
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"kept 1"}', 'tsp', 'rsp');
SAVEPOINT s;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"undone"}', 'tsp', 'rsp');
ROLLBACK TO SAVEPOINT s;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"kept 2"}', 'tsp', 'rsp');
COMMIT;
SELECT seq, payload->>'message' AS message FROM durable_sink.read('thread', 'tsp');
-- ... and inside a PL/pgSQL exception block.
DO $$
BEGIN
  PERFORM durable_sink.emit('{"event_type":"error","message":"kept 3"}', 'tsp', 'rsp');
  BEGIN
    PERFORM durable_sink.emit('{"event_type":"error","message":"undone too"}', 'tsp', 'rsp');
    RAISE EXCEPTION 'boom';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  PERFORM durable_sink.emit('{"event_type":"error","message":"kept 4"}', 'tsp', 'rsp');
END $$;
SELECT seq, payload->>'message' AS message FROM durable_sink.read('run', 'rsp');
