-- Contract §4: draft validity rules, through durable_sink.validate_draft.
\pset null '(null)'

CREATE FUNCTION pg_temp.check(scopes jsonb, kind text DEFAULT 'MailboxMessageQueued',
                              origin text DEFAULT 'mailbox', version integer DEFAULT 1,
                              thread text DEFAULT NULL, run text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE d durable_sink.canonical_event_draft;
BEGIN
  d := durable_sink.validate_draft(ROW('domain_event', kind, scopes, thread, run, '{"x":1}', NULL, NULL,
                                       origin, 'audit', version)::durable_sink.canonical_event_draft);
  RETURN format('ok thread_id=%s run_id=%s', coalesce(d.thread_id, '(null)'), coalesce(d.run_id, '(null)'));
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT label, pg_temp.check(scopes::jsonb) FROM (VALUES
  ('thread only',        '[{"scope_type":"thread","thread_id":"t1"}]'),
  ('thread and run',     '[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"run","run_id":"r1"}]'),
  ('run only',           '[{"scope_type":"run","run_id":"r1"}]'),
  ('empty array',        '[]'),
  ('object',             '{"scope_type":"thread","thread_id":"t1"}'),
  ('scalar',             '"t1"'),
  ('element not object', '[1]'),
  ('no scope_type',      '[{"thread_id":"t1"}]'),
  ('unknown scope_type', '[{"scope_type":"mailbox","mailbox_id":"m"}]'),
  ('id missing',         '[{"scope_type":"thread"}]'),
  ('id not string',      '[{"scope_type":"run","run_id":5}]'),
  ('id blank',           '[{"scope_type":"thread","thread_id":" \u3000"}]'),
  ('scope repeats',      '[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"thread","thread_id":"t1"}]'),
  ('family repeats',     '[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"thread","thread_id":"t2"}]'),
  ('run family repeats', '[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"run","run_id":"r1"},{"scope_type":"run","run_id":"r2"}]'),
  ('run before thread',  '[{"scope_type":"run","run_id":"r1"},{"scope_type":"thread","thread_id":"t1"}]')
) AS t(label, scopes);

SELECT pg_temp.check('[{"scope_type":"thread","thread_id":"t1"}]', kind => ' ') AS blank_kind;
SELECT pg_temp.check('[{"scope_type":"thread","thread_id":"t1"}]', origin => '') AS blank_origin;
SELECT pg_temp.check('[{"scope_type":"thread","thread_id":"t1"}]', version => 0) AS version_0;
SELECT pg_temp.check('[{"scope_type":"thread","thread_id":"t1"}]', kind => NULL) AS null_kind;
SELECT pg_temp.check('[{"scope_type":"thread","thread_id":"t1"}]', thread => 't1') AS matching_thread_column;
SELECT pg_temp.check('[{"scope_type":"thread","thread_id":"t1"}]', thread => 't2') AS mismatching_thread_column;
SELECT pg_temp.check('[{"scope_type":"thread","thread_id":"t1"}]', run => 'r1') AS run_column_without_run_scope;
SELECT durable_sink.validate_draft(NULL);

-- Every draft the normalizer returns is valid.
SELECT count(*) AS drafts, count(*) FILTER (WHERE durable_sink.validate_draft(d) = d) AS valid
FROM durable_sink.normalize_many('{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"suspended","result":{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"s1"}}}}', 't1', 'r1') d;
