-- Contract §4/§5/§10: the mapping of every event type to its canonical draft.
\pset null '(null)'

-- One valid event of each of the 22 types.  Context: thread t1, run r1.
CREATE TEMP TABLE sample (n serial, event jsonb);
INSERT INTO sample (event) VALUES
 ('{"event_type":"run_start","thread_id":"t-own","run_id":"r-own","parent_run_id":null,"identity":{"agent":"coder"}}'),
 ('{"event_type":"text_delta","delta":"Hello"}'),
 ('{"event_type":"reasoning_delta","delta":"Let me think"}'),
 ('{"event_type":"reasoning_encrypted_value","encrypted_value":"b64=="}'),
 ('{"event_type":"tool_call_start","id":"c1","name":"read_file"}'),
 ('{"event_type":"tool_call_delta","id":"c1","args_delta":"{\"pa"}'),
 ('{"event_type":"tool_call_ready","id":"c1","name":"read_file","arguments":{"path":"a"}}'),
 ('{"event_type":"tool_call_done","id":"c1","message_id":"m1","outcome":"succeeded","result":{"tool_name":"read_file","status":"success","data":"x"}}'),
 ('{"event_type":"tool_call_stream_delta","id":"c2","name":"run_shell","delta":"ok\n"}'),
 ('{"event_type":"tool_call_resumed","target_id":"c3","result":{"approved":true}}'),
 ('{"event_type":"tool_call_cancel","id":"c4","name":"deploy","reason":"user"}'),
 ('{"event_type":"stream_reset","reason":"provider hiccup"}'),
 ('{"event_type":"step_start"}'),
 ('{"event_type":"step_end"}'),
 ('{"event_type":"inference_complete","model":"m","usage":{"in":1},"duration_ms":12}'),
 ('{"event_type":"messages_snapshot","messages":[]}'),
 ('{"event_type":"activity_snapshot","message_id":"m2","activity_type":"progress","content":{"pct":5},"replace":null}'),
 ('{"event_type":"activity_delta","message_id":"m2","activity_type":"progress","patch":[]}'),
 ('{"event_type":"state_snapshot","snapshot":{"todo":[]}}'),
 ('{"event_type":"state_delta","delta":[{"op":"add","path":"/a","value":1}]}'),
 ('{"event_type":"error","message":"rate limited","code":null}'),
 ('{"event_type":"run_finish","thread_id":"t-own","run_id":"r-own","termination":{"type":"natural_end"},"result":null}');

-- Kind, fidelity, visibility and scopes of each; the payload is the event.
SELECT s.n, s.event->>'event_type' AS event_type, d.event_kind, d.fidelity, d.visibility,
       d.thread_id, d.run_id, d.payload = s.event AS payload_is_event
FROM sample s, LATERAL durable_sink.normalize_many(s.event, 't1', 'r1', 'ai-sdk', 'corr-9') d
ORDER BY s.n;

-- The other columns of a draft, shown once.
SELECT * FROM durable_sink.normalize('{"event_type":"text_delta","delta":"x"}', 't1', 'r1', 'ai-sdk', 'corr-9');
SELECT * FROM durable_sink.normalize('{"event_type":"text_delta","delta":"x"}', 't1', 'r1');

-- run_start/run_finish take their scopes from the event, everything else
-- from the context.
SELECT event_kind, scopes FROM durable_sink.normalize_many(
  '{"event_type":"run_start","thread_id":"t-event","run_id":"r-event"}', 't-ctx', 'r-ctx');
SELECT event_kind, scopes FROM durable_sink.normalize_many(
  '{"event_type":"step_end"}', 't-ctx', 'r-ctx');

-- The payload is the event exactly as sent: unlisted members stay, no
-- defaults are filled (step_start has no message_id), aliases are kept.
SELECT payload FROM durable_sink.normalize('{"event_type":"step_start","x-trace":[1,2]}', 't1', 'r1');
SELECT event_kind, payload->'termination' AS termination FROM durable_sink.normalize(
  '{"event_type":"run_finish","thread_id":"t1","run_id":"r-alias","termination":{"type":"plugin_requested"}}', 't1', 'r1');

-- Context values are used verbatim, never trimmed.
SELECT thread_id, run_id, origin, scopes FROM durable_sink.normalize('{"event_type":"step_end"}', ' t1 ', 'r1 ', ' srv');

-- run_finish kinds, one fresh run per termination type.
SELECT t.type, d.event_kind, d.fidelity
FROM (VALUES ('natural_end', NULL), ('behavior_requested', NULL), ('plugin_requested', NULL),
             ('suspended', NULL), ('cancelled', NULL), ('error', '"boom"'),
             ('stopped', '{"code":"max_steps","detail":null}'), ('blocked', '"policy"')) AS t(type, value),
     LATERAL durable_sink.normalize_many(
        jsonb_build_object('event_type', 'run_finish', 'thread_id', 't1', 'run_id', 'r-term-' || t.type,
                           'termination', jsonb_strip_nulls(jsonb_build_object('type', t.type, 'value', t.value::jsonb))),
        't1', 'r1') d;

-- tool_call_done: outcome and result.metadata decide the kind.
SELECT t.label, d.event_kind, d.fidelity
FROM (VALUES
  ('succeeded',                    'succeeded', NULL),
  ('failed, no metadata',          'failed',    NULL),
  ('failed, metadata null',        'failed',    'null'),
  ('failed, rejected true',        'failed',    '{"rejected":true}'),
  ('failed, rejected false',       'failed',    '{"rejected":false}'),
  ('failed, rejected null',        'failed',    '{"rejected":null}'),
  ('failed, timed_out true',       'failed',    '{"timed_out":true}'),
  ('failed, timed_out "true"',     'failed',    '{"timed_out":"true"}'),
  ('failed, timed_out false',      'failed',    '{"timed_out":false}'),
  ('failed, rejected + timed_out', 'failed',    '{"rejected":1,"timed_out":true}'),
  ('succeeded, rejected',          'succeeded', '{"rejected":true}'),
  ('succeeded, timed_out',         'succeeded', '{"timed_out":true}'),
  ('suspended',                    'suspended', NULL),
  ('suspended, rejected',          'suspended', '{"rejected":true}')
) AS t(label, outcome, metadata),
LATERAL durable_sink.normalize_many(
  jsonb_build_object('event_type', 'tool_call_done', 'id', 'c1', 'message_id', 'm1', 'outcome', t.outcome,
                     'result', jsonb_build_object('tool_name', 'x', 'status', 'error', 'data', NULL)
                               || CASE WHEN t.metadata IS NULL THEN '{}'::jsonb
                                       ELSE jsonb_build_object('metadata', t.metadata::jsonb) END),
  't1', 'r1') d;

-- Contract §10: should_persist for every mode and fidelity; STRICT.
SELECT m.mode, f.fidelity, durable_sink.should_persist(m.mode, f.fidelity)
FROM unnest(enum_range(NULL::durable_sink.durability)) AS m(mode),
     unnest(enum_range(NULL::durable_sink.fidelity_class)) AS f(fidelity)
ORDER BY 1, 2;
SELECT durable_sink.should_persist(NULL, 'domain_event') IS NULL AS null_mode,
       durable_sink.should_persist('compacted', NULL) IS NULL AS null_fidelity;

-- normalize_many also works in a target list.
SELECT (durable_sink.normalize_many('{"event_type":"step_end"}', 't1', 'r1')).event_kind;
