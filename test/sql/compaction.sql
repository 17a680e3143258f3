-- Contract §8: context-compaction facts from state_snapshot events.
\pset null '(null)'

-- Facts (rows other than StateSnapshotObserved) one snapshot yields.
CREATE FUNCTION pg_temp.snap(thread text, cc jsonb, run text DEFAULT 'r1')
RETURNS TABLE (event_kind text, payload jsonb) LANGUAGE sql AS $$
  SELECT d.event_kind, d.payload
  FROM durable_sink.normalize_many(
         jsonb_build_object('event_type', 'state_snapshot',
                            'snapshot', jsonb_build_object('todo', '[]'::jsonb,
                                                           'extensions', jsonb_build_object('__context_compaction', cc))),
         thread, run, 'server', 'corr-x') d
  WHERE d.event_kind <> 'StateSnapshotObserved' $$;

-- Step 6: a compaction starts.  Columns of a fact, shown once.
SELECT d.event_kind, d.fidelity, d.visibility, d.scopes, d.thread_id, d.run_id,
       d.correlation_id, d.origin, d.payload
FROM durable_sink.normalize_many(
  '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"total_compactions":0,"in_flight":{"task_id":"task-1","boundary_message_id":"msg-9","started_at_ms":1000}}}}}',
  'th-a', 'r1', 'server', 'corr-x') d;
-- The same in-flight again: nothing new.
SELECT * FROM pg_temp.snap('th-a', '{"total_compactions":0,"in_flight":{"task_id":"task-1","boundary_message_id":"msg-9","started_at_ms":1000}}');

-- Step 2: it completes.  The summary enters only as its SHA-256; texts are
-- trimmed; P matches the boundary, so no cancellation.
SELECT * FROM pg_temp.snap('th-a', '{"total_compactions":1,"timestamp_ms":2000,"in_flight":null,"boundaries":[{"task_id":" task-1 ","boundary_message_id":"msg-9","summary":"## Summary\nall good","pre_tokens":50000,"post_tokens":4000,"timestamp_ms":1500}]}');
SELECT encode(sha256(convert_to(E'## Summary\nall good', 'UTF8')), 'hex') AS expected_summary_hash;
-- Repeated snapshot, and the same boundary seen from a new run of the
-- thread: announced once only.
SELECT * FROM pg_temp.snap('th-a', '{"total_compactions":1,"boundaries":[{"task_id":"task-1","boundary_message_id":"msg-9","summary":"## Summary\nall good","pre_tokens":50000,"post_tokens":4000,"timestamp_ms":1500}]}');
SELECT * FROM pg_temp.snap('th-a', '{"total_compactions":1,"boundaries":[{"task_id":"task-1","boundary_message_id":"msg-9","summary":"## Summary\nall good","pre_tokens":50000,"post_tokens":4000,"timestamp_ms":1500}]}', 'r2');

-- Completed defaults: no counts, a non-string summary (hash of ""), no
-- texts, total_compactions absent (length of boundaries), a non-object
-- element consuming index 0.
SELECT * FROM pg_temp.snap('th-b', '{"boundaries":[42,{"summary":7,"task_id":"  "}]}');
SELECT encode(sha256(''::bytea), 'hex') AS hash_of_empty;

-- Step 3: failures, with and without their optional texts.
SELECT * FROM pg_temp.snap('th-c', '{"failures":[{"task_id":"t-9","boundary_message_id":"b-9","error":" provider timeout ","timestamp_ms":77},{"error":"  "},"junk"]}');
SELECT * FROM pg_temp.snap('th-c', '{"failures":[{"task_id":"t-9","boundary_message_id":"b-9","error":"provider timeout","timestamp_ms":77},{"error":"  "},"junk"]}');

-- Step 4: skips, by skip_id or by their fields; absent counts are omitted.
SELECT * FROM pg_temp.snap('th-d', '{"skipped":[{"skip_id":"sk-1","reason":"too small","pre_tokens":100,"post_tokens":90,"savings_ratio_ppm":100000,"min_savings_ratio_ppm":200000,"timestamp_ms":5,"task_id":"t1","boundary_message_id":"b1"},{"pre_tokens":10}]}');
-- Same skip_id with other fields: the same fingerprint, nothing new.  The
-- field-based fingerprint of element 1 changes with its counts.
SELECT * FROM pg_temp.snap('th-d', '{"skipped":[{"skip_id":"sk-1","reason":"changed"},{"pre_tokens":11}]}');

-- Step 5: the in-flight compaction disappears without an outcome.
SELECT * FROM pg_temp.snap('th-e', '{"in_flight":{"task_id":"task-x","boundary_message_id":"bm-x","started_at_ms":10}}');
SELECT * FROM pg_temp.snap('th-e', '{"timestamp_ms":99}');
-- Cancelled once only, even if the same task is started and dropped again.
SELECT * FROM pg_temp.snap('th-e', '{"in_flight":{"task_id":"task-x","boundary_message_id":"bm-x","started_at_ms":20}}');
SELECT * FROM pg_temp.snap('th-e', '{"timestamp_ms":100}');
-- Replaced by another task: the old one is cancelled, the new one starts.
SELECT * FROM pg_temp.snap('th-e', '{"in_flight":{"task_id":"task-y"}}');
SELECT * FROM pg_temp.snap('th-e', '{"in_flight":{"task_id":"task-z","started_at_ms":5}}');

-- Matching: an outcome for P in any of the three arrays prevents the
-- cancellation; with a boundary_message_id, both must match.
SELECT * FROM pg_temp.snap('th-f', '{"in_flight":{"task_id":"tf","boundary_message_id":"bf"}}');
SELECT * FROM pg_temp.snap('th-f', '{"failures":[{"task_id":"tf","boundary_message_id":"bf","error":"e"}]}');
SELECT * FROM pg_temp.snap('th-g', '{"in_flight":{"task_id":"tg","boundary_message_id":"bg"}}');
SELECT * FROM pg_temp.snap('th-g', '{"skipped":[{"task_id":"tg","boundary_message_id":"other","skip_id":"s"}]}');
SELECT * FROM pg_temp.snap('th-h', '{"in_flight":{"task_id":"th"}}');
SELECT * FROM pg_temp.snap('th-h', '{"skipped":[{"task_id":"th","boundary_message_id":"any","skip_id":"s"}]}');

-- Step 1: reset after clear.  total_compactions drops below T: the
-- fingerprints and the in-flight compaction are forgotten, so the same
-- boundary is announced again and the forgotten task is not cancelled.
SELECT * FROM pg_temp.snap('th-r', '{"total_compactions":2,"boundaries":[{"task_id":"a","summary":"s1"},{"task_id":"b","summary":"s2"}]}');
SELECT * FROM pg_temp.snap('th-r', '{"total_compactions":2,"boundaries":[{"task_id":"a","summary":"s1"},{"task_id":"b","summary":"s2"}],"in_flight":{"task_id":"c"}}');
SELECT * FROM pg_temp.snap('th-r', '{"total_compactions":0}');
SELECT * FROM pg_temp.snap('th-r', '{"total_compactions":1,"boundaries":[{"task_id":"a","summary":"s1"}]}');
-- An absent (or non-integer) total keeps T: no reset.
SELECT * FROM pg_temp.snap('th-r', '{"total_compactions":"0","boundaries":[{"task_id":"a","summary":"s1"}]}');
SELECT thread_id, total_compactions, in_flight_task_id FROM durable_sink.compaction_state WHERE thread_id = 'th-r';

-- Snapshots without a __context_compaction member yield no facts and no state.
SELECT count(*) FROM durable_sink.normalize_many('{"event_type":"state_snapshot","snapshot":{"extensions":null}}', 'th-none', 'r1');
SELECT count(*) FROM durable_sink.normalize_many('{"event_type":"state_snapshot","snapshot":[1]}', 'th-none', 'r1');
SELECT count(*) FROM durable_sink.normalize_many('{"event_type":"state_snapshot","snapshot":{"extensions":{"other":1}}}', 'th-none', 'r1');
SELECT count(*) AS state_rows_for_th_none FROM durable_sink.compaction_state WHERE thread_id = 'th-none';

-- A member that is null or a scalar is present, with no members (contract
-- §8): nothing in flight, so no facts.
SELECT count(*) FROM pg_temp.snap('th-empty', 'null');
SELECT count(*) FROM pg_temp.snap('th-empty', '"text"');
SELECT count(*) FROM pg_temp.snap('th-empty', '[{"task_id":"a"}]');
-- After a start, a null member cancels the compaction (step 5) and forgets
-- it (step 6), so the same start is announced again.
SELECT event_kind, payload FROM durable_sink.normalize_many(
  '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"k","boundary_message_id":"m","started_at_ms":3}}}}}',
  'th-null', 'r1');
SELECT event_kind, payload FROM durable_sink.normalize_many(
  '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":null}}}',
  'th-null', 'r1');
SELECT event_kind, payload FROM durable_sink.normalize_many(
  '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"k","boundary_message_id":"m","started_at_ms":3}}}}}',
  'th-null', 'r1');
-- A scalar member likewise; its cancellation was announced above, so the
-- cancellation fingerprint is not new: the start is only forgotten.
SELECT * FROM pg_temp.snap('th-null', '7');
SELECT * FROM pg_temp.snap('th-null', '{"in_flight":{"task_id":"k","boundary_message_id":"m"}}');
SELECT * FROM pg_temp.snap('th-scalar', '{"in_flight":{"task_id":"k2"}}');
SELECT * FROM pg_temp.snap('th-scalar', '"reset"');

-- normalize (single) never updates the observation.
SELECT event_kind FROM durable_sink.normalize(
  '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"in_flight":{"task_id":"q"}}}}}', 'th-single', 'r1');
SELECT count(*) AS state_rows_for_th_single FROM durable_sink.compaction_state WHERE thread_id = 'th-single';

-- Threads are independent; the observation survives in the tables.
SELECT * FROM pg_temp.snap('th-other', '{"total_compactions":1,"boundaries":[{"task_id":"task-1","boundary_message_id":"msg-9","summary":"## Summary\nall good","pre_tokens":50000,"post_tokens":4000,"timestamp_ms":1500}]}');
SELECT thread_id, total_compactions, in_flight_task_id, in_flight_boundary_message_id
FROM durable_sink.compaction_state WHERE thread_id LIKE 'th-%' ORDER BY thread_id;
CREATE FUNCTION pg_temp.facts_remembered(thread text) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM durable_sink.compaction_fingerprints f
  WHERE f.thread_key = sha256(convert_to(thread, 'UTF8')) $$;
SELECT thread_id, pg_temp.facts_remembered(thread_id) AS facts_remembered
FROM durable_sink.compaction_state WHERE thread_id LIKE 'th-%' ORDER BY 1;
-- The digests are sha256(set || NUL || fingerprint), e.g. th-e's cancellation:
SELECT EXISTS (SELECT FROM durable_sink.compaction_fingerprints
               WHERE thread_key = sha256(convert_to('th-e', 'UTF8'))
                 AND digest = sha256(convert_to('cancelled', 'UTF8') || '\x00'::bytea
                                     || convert_to('cancelled/task-x/bm-x', 'UTF8')))
       AS cancelled_task_x_remembered;

-- The fingerprint texts, byte for byte (contract §8), as remembered digests.
CREATE FUNCTION pg_temp.remembered(thread text, fact text, fingerprint text) RETURNS boolean
LANGUAGE sql AS $$
  SELECT EXISTS (SELECT FROM durable_sink.compaction_fingerprints f
                 WHERE f.thread_key = sha256(convert_to(thread, 'UTF8'))
                   AND f.digest = sha256(convert_to(fact, 'UTF8') || '\x00'::bytea
                                         || convert_to(fingerprint, 'UTF8'))) $$;
SELECT f.thread, f.fact, f.fingerprint, pg_temp.remembered(f.thread, f.fact, f.fingerprint)
FROM (VALUES
  ('th-a', 'completed', 'completed/task-1/msg-9/0/1500/50000/4000/39f5a401d9ccf95510e79407fda231e900658d60bbac7b9d26e255db2827c40a'),
  ('th-b', 'completed', 'completed///1/0/0/0/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'),
  ('th-c', 'failed',    'failed/0/77/t-9/b-9/provider timeout'),
  ('th-c', 'failed',    'failed/1/0///unknown error'),
  ('th-d', 'skipped',   'sk-1'),
  ('th-d', 'skipped',   'skipped/1///unknown/Some(10)/None/None/None/0'),
  ('th-d', 'skipped',   'skipped/1///unknown/Some(11)/None/None/None/0'),
  ('th-e', 'cancelled', 'cancelled/task-y/'),
  ('th-g', 'cancelled', 'cancelled/tg/bg'),
  -- not remembered: wrong set, or a near miss
  ('th-d', 'completed', 'sk-1'),
  ('th-c', 'failed',    'failed/1/0///unknown  error')
) AS f(thread, fact, fingerprint);

-- Big facts stay intact: a 200 kB task id, and a snapshot with 500 boundaries.
SELECT event_kind, length(payload->>'task_id') AS task_id_length,
       payload->>'task_id' = repeat('k', 200000) AS intact
FROM pg_temp.snap('th-big', jsonb_build_object('in_flight', jsonb_build_object('task_id', repeat('k', 200000))));
SELECT count(*) AS completed_facts, min((payload->>'boundary_index')::int), max((payload->>'boundary_index')::int),
       bool_and(payload->>'task_id' = 'task-' || (payload->>'boundary_index')) AS payloads_intact
FROM pg_temp.snap('th-many', jsonb_build_object('boundaries',
       (SELECT jsonb_agg(jsonb_build_object('task_id', 'task-' || i, 'summary', repeat('s', 100) || i)) FROM generate_series(0, 499) i)));
SELECT count(*) AS repeated FROM pg_temp.snap('th-many', jsonb_build_object('boundaries',
       (SELECT jsonb_agg(jsonb_build_object('task_id', 'task-' || i, 'summary', repeat('s', 100) || i)) FROM generate_series(0, 499) i)));

-- Several snapshots of one thread in one transaction (the observation is
-- kept in memory between them): each boundary is announced once.
BEGIN;
SELECT n, (SELECT string_agg(event_kind || ':' || (payload->>'boundary_index'), ',')
           FROM pg_temp.snap('th-tx', jsonb_build_object('total_compactions', n, 'boundaries',
                  (SELECT jsonb_agg(jsonb_build_object('task_id', 'b' || i, 'summary', 's' || i))
                   FROM generate_series(1, n) i)))) AS facts
FROM generate_series(1, 4) n;
SELECT count(*) AS repeated FROM pg_temp.snap('th-tx', jsonb_build_object('total_compactions', 4, 'boundaries',
         (SELECT jsonb_agg(jsonb_build_object('task_id', 'b' || i, 'summary', 's' || i)) FROM generate_series(1, 4) i)));
COMMIT;
SELECT pg_temp.facts_remembered('th-tx');
