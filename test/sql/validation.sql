-- Contract §2/§3/§9: invalid input raises 22023 naming the member, SQL NULL
-- raises 22004 naming the argument, and nothing is changed.
\pset null '(null)'

CREATE FUNCTION pg_temp.try(event jsonb, thread_id text DEFAULT 't1', run_id text DEFAULT 'r1',
                            origin text DEFAULT 'server', resumed boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM durable_sink.normalize_many(event, thread_id, run_id, origin, NULL, resumed);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Not an object; event_type missing, of the wrong type, or unknown.
SELECT label, pg_temp.try(ev::jsonb) FROM (VALUES
  ('array',          '[{"event_type":"step_end"}]'),
  ('string',         '"step_end"'),
  ('number',         '42'),
  ('json null',      'null'),
  ('boolean',        'true'),
  ('empty object',   '{}'),
  ('type 7',         '{"event_type":7}'),
  ('type null',      '{"event_type":null}'),
  ('unknown',        '{"event_type":"text_delta_v2","delta":"x"}'),
  ('camel case',     '{"event_type":"TextDelta","delta":"x"}'),
  ('empty type',     '{"event_type":""}')
) AS t(label, ev);

-- A required member missing from each type that has one.
SELECT ev->>'event_type' AS event_type, pg_temp.try(ev) FROM (VALUES
  ('{"event_type":"run_start","run_id":"r"}'::jsonb),
  ('{"event_type":"run_start","thread_id":"t"}'),
  ('{"event_type":"run_finish","thread_id":"t","run_id":"r"}'),
  ('{"event_type":"text_delta"}'),
  ('{"event_type":"reasoning_delta"}'),
  ('{"event_type":"reasoning_encrypted_value"}'),
  ('{"event_type":"tool_call_start","id":"c"}'),
  ('{"event_type":"tool_call_delta","id":"c"}'),
  ('{"event_type":"tool_call_ready","id":"c","name":"n"}'),
  ('{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"succeeded"}'),
  ('{"event_type":"tool_call_stream_delta","id":"c","name":"n"}'),
  ('{"event_type":"tool_call_resumed","target_id":"c"}'),
  ('{"event_type":"tool_call_cancel","id":"c","name":"n"}'),
  ('{"event_type":"stream_reset"}'),
  ('{"event_type":"inference_complete","model":"m"}'),
  ('{"event_type":"messages_snapshot"}'),
  ('{"event_type":"activity_snapshot","message_id":"m","activity_type":"a"}'),
  ('{"event_type":"activity_delta","message_id":"m","activity_type":"a"}'),
  ('{"event_type":"state_snapshot"}'),
  ('{"event_type":"state_delta"}'),
  ('{"event_type":"error"}')
) AS t(ev);

-- "any" members accept JSON null; required strings do not.
SELECT label, pg_temp.try(ev::jsonb) FROM (VALUES
  ('arguments null',         '{"event_type":"tool_call_ready","id":"c","name":"n","arguments":null}'),
  ('snapshot null',          '{"event_type":"state_snapshot","snapshot":null}'),
  ('resumed result null',    '{"event_type":"tool_call_resumed","target_id":"c","result":null}'),
  ('delta null',             '{"event_type":"text_delta","delta":null}'),
  ('run_id null',            '{"event_type":"run_start","thread_id":"t","run_id":null}')
) AS t(label, ev);

-- Wrong types.
SELECT label, pg_temp.try(ev::jsonb) FROM (VALUES
  ('delta 42',               '{"event_type":"text_delta","delta":42}'),
  ('run_id number',          '{"event_type":"run_start","thread_id":"t","run_id":1}'),
  ('parent_run_id number',   '{"event_type":"run_start","thread_id":"t","run_id":"r","parent_run_id":5}'),
  ('identity string',        '{"event_type":"run_start","thread_id":"t","run_id":"r","identity":"me"}'),
  ('messages object',        '{"event_type":"messages_snapshot","messages":{}}'),
  ('patch string',           '{"event_type":"activity_delta","message_id":"m","activity_type":"a","patch":"[]"}'),
  ('replace string',         '{"event_type":"activity_snapshot","message_id":"m","activity_type":"a","content":1,"replace":"yes"}'),
  ('usage array',            '{"event_type":"inference_complete","model":"m","usage":[],"duration_ms":1}'),
  ('error code number',      '{"event_type":"error","message":"x","code":5}'),
  ('step message_id 5',      '{"event_type":"step_start","message_id":5}'),
  ('state delta object',     '{"event_type":"state_delta","delta":{}}'),
  ('termination string',     '{"event_type":"run_finish","thread_id":"t","run_id":"r","termination":"natural_end"}'),
  ('outcome unknown',        '{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"ok","result":{"tool_name":"x","status":"success","data":1}}'),
  ('result string',          '{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"failed","result":"no"}')
) AS t(label, ev);

-- Optional members that are null count as absent; identity is not
-- validated beyond being an object; unlisted members are allowed.
SELECT label, pg_temp.try(ev::jsonb) FROM (VALUES
  ('step_start message_id null', '{"event_type":"step_start","message_id":null}'),
  ('usage null',                 '{"event_type":"inference_complete","model":"m","usage":null,"duration_ms":0}'),
  ('identity anything inside',   '{"event_type":"run_start","thread_id":"t","run_id":"r-v1","identity":{"x":[1,{"y":null}]}}'),
  ('unlisted members',           '{"event_type":"step_end","foo":1,"bar":{"baz":[]}}'),
  ('metadata null',              '{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"failed","result":{"tool_name":"x","status":"error","data":1,"metadata":null,"message":null,"suspension":null}}')
) AS t(label, ev);

-- Contract §2 integers: no fractional digits, 0 .. 2^64-1.
SELECT d AS duration_ms,
       pg_temp.try(('{"event_type":"inference_complete","model":"m","duration_ms":' || d || '}')::jsonb)
FROM unnest(ARRAY['0', '5', '1e2', '1.0e1', '18446744073709551615', '2.0', '-1', '1.5',
                  '18446744073709551616', '1e20', '"5"', 'true', 'null', '0.0']) AS d;

-- Termination forms.
SELECT term, pg_temp.try(('{"event_type":"run_finish","thread_id":"t","run_id":"r-term","termination":' || term || '}')::jsonb)
FROM unnest(ARRAY[
  '{"type":"natural_end"}', '{"type":"natural_end","value":null}', '{"type":"natural_end","value":1}',
  '{"type":"cancelled","value":"x"}', '{"type":"suspended","extra":true}',
  '{"type":"stopped"}', '{"type":"stopped","value":null}', '{"type":"stopped","value":"max"}',
  '{"type":"stopped","value":{}}', '{"type":"stopped","value":{"code":7}}',
  '{"type":"stopped","value":{"code":"max_steps","detail":5}}',
  '{"type":"stopped","value":{"code":"max_steps","detail":"d"}}',
  '{"type":"blocked"}', '{"type":"blocked","value":{"why":1}}', '{"type":"blocked","value":"policy"}',
  '{"type":"error","value":42}', '{"type":"error","value":"boom"}',
  '{}', '{"type":5}', '{"type":"finished"}', '[]']) AS term;

-- Tool result and suspend ticket.
SELECT result, pg_temp.try(('{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"suspended","result":' || result || '}')::jsonb)
FROM unnest(ARRAY[
  '{"status":"pending","data":null}',
  '{"tool_name":"x","data":null}',
  '{"tool_name":"x","status":"ok","data":null}',
  '{"tool_name":"x","status":"pending"}',
  '{"tool_name":"x","status":"pending","data":null,"message":7}',
  '{"tool_name":"x","status":"pending","data":null,"metadata":[]}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":"t"}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":42}}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"action":5}}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":"s"}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":null,"pending":null}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"pending":{"id":1}}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"pending":{"id":"c","name":"n"}}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"pending":{"id":"c","name":"n","arguments":null}}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"resume_mode":"ask_later"}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"resume_mode":null}}',
  '{"tool_name":"x","status":"pending","data":null,"suspension":{"resume_mode":"pass_decision_to_tool","suspension":{"id":"s","parameters":[1],"response_schema":{}}}}'
  ]) AS result;

-- Context: blank means empty or only Unicode White_Space.
SELECT label, pg_temp.try('{"event_type":"step_end"}', t, r, o) FROM (VALUES
  ('thread empty',        '',                 'r1', 'server'),
  ('thread spaces',       E' \t\n ',          'r1', 'server'),
  ('thread U+3000 U+00A0', U&'\3000\00A0',    'r1', 'server'),
  ('thread U+2028 U+205F', U&'\2028\205F\0085', 'r1', 'server'),
  ('thread U+200B (not White_Space)', U&'\200B', 'r1', 'server'),
  ('run blank',           't1',               U&'\1680', 'server'),
  ('origin blank',        't1',               'r1', ' '),
  ('all fine',            't1',               'r1', 'server')
) AS t(label, t, r, o);

-- A blank id inside run_start/run_finish is an invalid event: the error
-- names the event's member (it would be a blank scope id of the draft).
SELECT pg_temp.try('{"event_type":"run_start","thread_id":" ","run_id":"r-blank"}');
SELECT pg_temp.try('{"event_type":"run_finish","thread_id":"t1","run_id":"","termination":{"type":"natural_end"}}');
SELECT pg_temp.try('{"event_type":"run_start","thread_id":"t1","run_id":"\u3000"}');
\set VERBOSITY sqlstate
SELECT durable_sink.normalize('{"event_type":"run_start","thread_id":"  ","run_id":"r1"}', 't1', 'r1');
\set VERBOSITY default
SELECT durable_sink.normalize('{"event_type":"run_start","thread_id":"  ","run_id":"r1"}', 't1', 'r1');
-- The sink records the same message (emit here; the triggers in capture.sql).
SELECT count(*) FROM durable_sink.emit('{"event_type":"run_finish","thread_id":"t1","run_id":" ","termination":{"type":"natural_end"}}', 't1', 'r1');
SELECT source, sqlstate, message FROM durable_sink.capture_failures
WHERE event->>'event_type' = 'run_finish' AND event->>'run_id' = ' ';

-- SQL NULL arguments: 22004 naming the argument, never a NULL result.
SELECT pg_temp.try(NULL);
SELECT pg_temp.try('{"event_type":"step_end"}', NULL);
SELECT pg_temp.try('{"event_type":"step_end"}', 't1', NULL);
SELECT pg_temp.try('{"event_type":"step_end"}', 't1', 'r1', NULL);
SELECT pg_temp.try('{"event_type":"step_end"}', 't1', 'r1', 'server', NULL);
SELECT durable_sink.normalize(NULL, 't1', 'r1');
SELECT (durable_sink.normalize('{"event_type":"step_end"}', 't1', 'r1', 'server', NULL)).event_kind AS null_correlation_is_fine;

-- Nested members are named by their path.
SELECT durable_sink.normalize('{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"suspended","result":{"tool_name":"x","status":"pending","data":null,"suspension":{"pending":{"id":"c","name":3,"arguments":1}}}}', 't1', 'r1');

-- Nothing changed: invalid events leave no run state behind.
SELECT pg_temp.try('{"event_type":"run_start","thread_id":"t1","run_id":"r-invalid","identity":7}');
SELECT count(*) AS rows_for_r_invalid FROM durable_sink.run_state WHERE run_id = 'r-invalid';

-- Hostile input never crashes the backend: deep nesting, huge members,
-- long ids, every member of the wrong type.
SELECT pg_temp.try(jsonb_build_object('event_type', 'state_snapshot',
         'snapshot', (repeat('[', 5000) || repeat(']', 5000))::jsonb));
SELECT pg_temp.try(jsonb_build_object('event_type', 'text_delta', 'delta', repeat('x', 20000000))) AS huge_delta;
BEGIN;
SELECT event_kind, length(run_id) AS run_id_length
FROM durable_sink.normalize_many(jsonb_build_object('event_type', 'run_start', 'thread_id', 't1',
                                                    'run_id', repeat('r', 100000)), 't1', 'r1');
SELECT count(*) AS long_run_known FROM durable_sink.run_state WHERE run_id = repeat('r', 100000);
ROLLBACK;
SELECT pg_temp.try(jsonb_build_object('event_type', 'text_delta', 'delta', 'x'), repeat('t', 1000000)) AS long_context;
SELECT pg_temp.try(jsonb_build_object('event_type', 'error', 'message', repeat('y', 300), 'code', NULL));
SELECT pg_temp.try(jsonb_build_object('event_type', repeat('z', 300)));
SELECT et, pg_temp.try(jsonb_build_object('event_type', et, 'thread_id', 1, 'run_id', 2, 'delta', 3,
         'id', 4, 'name', 5, 'termination', 6, 'result', 7, 'outcome', 8, 'snapshot', 9, 'messages', 10))
FROM unnest(ARRAY['run_start', 'run_finish', 'text_delta', 'tool_call_done', 'messages_snapshot']) AS et;
