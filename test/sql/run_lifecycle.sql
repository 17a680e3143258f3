-- Contract §6: per-run lifecycle state.
\pset null '(null)'

CREATE FUNCTION pg_temp.start(run text, resumed boolean DEFAULT false, ctx_run text DEFAULT 'ctx-run')
RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(event_kind, ','), '(no row)')
  FROM durable_sink.normalize_many(jsonb_build_object('event_type', 'run_start', 'thread_id', 't1', 'run_id', run),
                                   't1', ctx_run, 'server', NULL, resumed) $$;
CREATE FUNCTION pg_temp.finish(run text, termination text DEFAULT 'natural_end')
RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(event_kind, ','), '(no row)')
  FROM durable_sink.normalize_many(jsonb_build_object('event_type', 'run_finish', 'thread_id', 't1', 'run_id', run,
                                                      'termination', jsonb_build_object('type', termination)),
                                   't1', 'ctx-run') $$;

-- First start, a repeated start, a finish and a repeated finish.
SELECT pg_temp.start('r1') AS first_start;
SELECT pg_temp.start('r1') AS second_start;
SELECT pg_temp.finish('r1') AS finish;
SELECT pg_temp.finish('r1') AS repeated_finish;
SELECT durable_sink.normalize('{"event_type":"run_finish","thread_id":"t1","run_id":"r1","termination":{"type":"natural_end"}}',
                              't1', 'r1') IS NULL AS normalize_returns_null;

-- Suspend -> resume -> finish: a new run_start opens a new activation.
SELECT pg_temp.start('r2') AS start;
SELECT pg_temp.finish('r2', 'suspended') AS suspend;
SELECT pg_temp.finish('r2', 'suspended') AS repeated_suspend;
SELECT pg_temp.start('r2') AS resume;
SELECT pg_temp.finish('r2') AS finish;
SELECT pg_temp.finish('r2') AS repeated_finish;

-- resumed => true: a start of a known run, and the run becomes known.
SELECT pg_temp.start('r3', resumed => true) AS resumed_stream_start;
SELECT pg_temp.start('r3') AS later_start;
-- ... and it does not affect other event types: they stay stateless.
SELECT event_kind FROM durable_sink.normalize_many('{"event_type":"text_delta","delta":"x"}', 't1', 'r-never', resumed => true);
SELECT count(*) AS state_rows_for_r_never FROM durable_sink.run_state WHERE run_id = 'r-never';

-- A run_finish alone does not make a run known.
SELECT pg_temp.finish('r4', 'cancelled') AS finish_unknown;
SELECT pg_temp.finish('r4', 'cancelled') AS finish_again;
SELECT pg_temp.start('r4') AS first_start_after_finish;

-- State is keyed by the event's run_id alone, whatever the context says.
SELECT pg_temp.start('r5', ctx_run => 'a') AS start_in_context_a;
SELECT pg_temp.start('r5', ctx_run => 'b') AS start_in_context_b;

-- normalize (single) keeps run state too.
SELECT event_kind FROM durable_sink.normalize('{"event_type":"run_start","thread_id":"t1","run_id":"r6"}', 't1', 'r6');
SELECT event_kind FROM durable_sink.normalize('{"event_type":"run_start","thread_id":"t1","run_id":"r6"}', 't1', 'r6');

-- What the table holds for this suite's runs (other suites add their own).
SELECT run_id, starts, finished, run_key = sha256(convert_to(run_id, 'UTF8')) AS key_is_sha256
FROM durable_sink.run_state WHERE run_id IN ('r1', 'r2', 'r3', 'r4', 'r5', 'r6') ORDER BY run_id;

-- Events that need no state touch no table (the hot path).  Table
-- statistics of the current transaction, before and after.
CREATE FUNCTION pg_temp.state_table_stats()
RETURNS TABLE (relname name, reads bigint, writes bigint) LANGUAGE sql AS $$
  SELECT relname, seq_scan + coalesce(idx_scan, 0), n_tup_ins + n_tup_upd + n_tup_del
  FROM pg_stat_xact_user_tables WHERE schemaname = 'durable_sink' $$;
BEGIN;
CREATE TEMP TABLE stats_before AS SELECT * FROM pg_temp.state_table_stats();
SELECT count(*) AS drafts
FROM (VALUES ('{"event_type":"text_delta","delta":"x"}'::jsonb), ('{"event_type":"step_end"}'),
             ('{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"suspended","result":{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"s1"}}}}'),
             ('{"event_type":"state_snapshot","snapshot":{"extensions":{"other":1}}}'),
             ('{"event_type":"error","message":"m"}')) AS e(ev),
     LATERAL durable_sink.normalize_many(e.ev, 't-quiet', 'r-quiet', resumed => true) d;
SELECT a.relname, a.reads - b.reads AS reads, a.writes - b.writes AS writes
FROM pg_temp.state_table_stats() a JOIN stats_before b USING (relname) ORDER BY 1;
-- A run_start touches run_state, and only run_state: a new run is one
-- index lookup (a dirty snapshot: rows committed or being inserted) and
-- one insert.
DELETE FROM stats_before;
INSERT INTO stats_before SELECT * FROM pg_temp.state_table_stats();
SELECT pg_temp.start('r7');
SELECT a.relname, a.reads - b.reads AS reads, a.writes - b.writes AS writes
FROM pg_temp.state_table_stats() a JOIN stats_before b USING (relname) ORDER BY 1;
COMMIT;
