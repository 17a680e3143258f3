-- State is transactional with the caller: it rolls back with the caller's
-- transaction, subtransaction or failed statement.
\pset null '(null)'

CREATE FUNCTION pg_temp.start(run text) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(event_kind, ',')
  FROM durable_sink.normalize_many(jsonb_build_object('event_type', 'run_start', 'thread_id', 't1', 'run_id', run), 't1', run) $$;
CREATE FUNCTION pg_temp.snap(thread text, cc jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(event_kind, ',')
  FROM durable_sink.normalize_many(jsonb_build_object('event_type', 'state_snapshot',
         'snapshot', jsonb_build_object('extensions', jsonb_build_object('__context_compaction', cc))), thread, 'r1') $$;

-- Rolled-back run_start: the run is still unknown afterwards.
BEGIN;
SELECT pg_temp.start('tx-1');
ROLLBACK;
SELECT pg_temp.start('tx-1');

-- Rolled-back compaction observation: the facts come again.
BEGIN;
SELECT pg_temp.snap('tx-thread', '{"in_flight":{"task_id":"k"},"boundaries":[{"task_id":"j"}]}');
ROLLBACK;
SELECT pg_temp.snap('tx-thread', '{"in_flight":{"task_id":"k"},"boundaries":[{"task_id":"j"}]}');

-- Savepoints.
BEGIN;
SAVEPOINT a;
SELECT pg_temp.start('tx-2');
ROLLBACK TO SAVEPOINT a;
SELECT pg_temp.start('tx-2');
COMMIT;

-- A statement that fails half-way keeps none of its state changes.
SELECT d.event_kind
FROM (VALUES (1, '{"event_type":"run_start","thread_id":"t1","run_id":"tx-3"}'::jsonb),
             (2, '{"event_type":"run_start","thread_id":"t1"}')) AS e(n, ev),
     LATERAL durable_sink.normalize_many(e.ev, 't1', 'r1') d;
SELECT count(*) AS rows_for_tx_3 FROM durable_sink.run_state WHERE run_id = 'tx-3';

-- Catching the error in PL/pgSQL rolls back just that call.
DO $$
BEGIN
  PERFORM pg_temp.start('tx-4');
  BEGIN
    PERFORM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"t1","run_id":"tx-5"}', 't1', 'r1');
    PERFORM durable_sink.normalize_many('{"event_type":"nope"}', 't1', 'r1');
  EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE 'caught: %', SQLERRM;
  END;
END $$;
SELECT run_id FROM durable_sink.run_state WHERE run_id IN ('tx-4', 'tx-5') ORDER BY 1;

-- Within one transaction the observation is kept in memory after the first
-- snapshot; a rolled-back savepoint must forget what it changed.
BEGIN;
SELECT pg_temp.snap('tx-memo', '{"in_flight":{"task_id":"a"}}') AS first;
SELECT pg_temp.snap('tx-memo', '{"in_flight":{"task_id":"a"}}') AS unchanged;
SAVEPOINT s;
SELECT pg_temp.snap('tx-memo', '{"in_flight":{"task_id":"b"}}') AS in_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.snap('tx-memo', '{"in_flight":{"task_id":"b"}}') AS after_rollback_to_savepoint;
SELECT pg_temp.snap('tx-memo', '{"in_flight":{"task_id":"b"}}') AS unchanged_again;
COMMIT;
SELECT in_flight_task_id,
       (SELECT count(*) FROM durable_sink.compaction_fingerprints f WHERE f.thread_key = c.thread_key) AS fingerprints
FROM durable_sink.compaction_state c WHERE thread_id = 'tx-memo';
