-- A large snapshot responds to cancel promptly (every loop over user data
-- checks for interrupts): with statement_timeout, the statement ends long
-- before the snapshot would have been processed.  The time is compared with
-- the uncancelled run of the same snapshot in this session, never with a
-- fixed figure.
CREATE TEMP TABLE big AS
SELECT jsonb_build_object('event_type', 'state_snapshot', 'snapshot',
         jsonb_build_object('extensions', jsonb_build_object('__context_compaction',
           jsonb_build_object('boundaries',
             (SELECT jsonb_agg(jsonb_build_object('task_id', 't' || i, 'summary', 's' || i))
              FROM generate_series(1, 200000) i))))) AS ev;

-- Baseline: the whole snapshot (200,000 new boundaries), rolled back.
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM big, durable_sink.normalize_many(big.ev, 'cancel-th', 'r1');
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS full_seconds \gset
ROLLBACK;

SET statement_timeout = '100ms';
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM big, durable_sink.normalize_many(big.ev, 'cancel-th', 'r1');
RESET statement_timeout;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) < :full_seconds / 4
       AS cancelled_well_before_the_end;
SELECT count(*) AS state_rows FROM durable_sink.compaction_state WHERE thread_id = 'cancel-th';
