-- Contract §7: the ToolPermissionRequested companion fact.
\pset null '(null)'

CREATE FUNCTION pg_temp.done(outcome text, result jsonb)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('event_type', 'tool_call_done', 'id', 'c1', 'message_id', 'm1',
                            'outcome', outcome, 'result', result) $$;
CREATE FUNCTION pg_temp.kinds(event jsonb)
RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(event_kind, ',') FROM durable_sink.normalize_many(event, 't1', 'r1') $$;

SELECT label, pg_temp.kinds(pg_temp.done(outcome, result::jsonb)) FROM (VALUES
  ('qualifies: resume_mode absent',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"}}}'),
  ('qualifies: replay_tool_call',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1","action":"confirm"},"pending":{"id":"c1","name":"x","arguments":{}},"resume_mode":"replay_tool_call"}}'),
  ('qualifies: resume_mode null',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"},"resume_mode":null}}'),
  ('no: outcome failed',
   'failed', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"}}}'),
  ('no: status error',
   'suspended', '{"tool_name":"x","status":"error","data":null,"suspension":{"suspension":{"id":"perm-1"}}}'),
  ('no: status success',
   'suspended', '{"tool_name":"x","status":"success","data":null,"suspension":{"suspension":{"id":"perm-1"}}}'),
  ('no: ticket absent',
   'suspended', '{"tool_name":"x","status":"pending","data":null}'),
  ('no: ticket null',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":null}'),
  ('no: use_decision_as_tool_result',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"},"resume_mode":"use_decision_as_tool_result"}}'),
  ('no: pass_decision_to_tool',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"},"resume_mode":"pass_decision_to_tool"}}'),
  ('no: suspension.id absent',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"action":"confirm"}}}'),
  ('no: ticket.suspension absent',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"resume_mode":"replay_tool_call"}}'),
  ('no: suspension.id empty',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":""}}}'),
  ('no: suspension.id blank',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":" \t "}}}'),
  ('no: suspension.id U+3000',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"\u3000"}}}'),
  ('qualifies: id with spaces around',
   'suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":" p "}}}')
) AS t(label, outcome, result);

-- The companion: domain, public, context scopes and correlation, payload =
-- the event, right after the ToolCallSuspended row.
SELECT event_kind, fidelity, visibility, scopes, correlation_id, origin,
       payload = pg_temp.done('suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"}}}') AS payload_is_event
FROM durable_sink.normalize_many(
  pg_temp.done('suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"}}}'),
  't1', 'r1', 'ai-sdk', 'corr-1');

-- normalize returns the mapped row only.
SELECT event_kind FROM durable_sink.normalize(
  pg_temp.done('suspended', '{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"perm-1"}}}'),
  't1', 'r1');
