-- The event store: append, idempotent retries, compare-and-append, read,
-- gapless per-scope sequences.
\pset null '(null)'
-- Event ids are shared by all suites: shown relative to the last one
-- handed out before this suite (the first append here is event 1).
SELECT nextval('durable_sink.event_id_seq') AS event_id_base \gset
CREATE FUNCTION pg_temp.event_no(event_id bigint) RETURNS bigint LANGUAGE sql
  RETURN event_id - :event_id_base;

CREATE FUNCTION pg_temp.draft(scopes jsonb, kind text DEFAULT 'MailboxMessageQueued',
                              payload jsonb DEFAULT '{"m":1}', origin text DEFAULT 'mailbox',
                              visibility durable_sink.visibility DEFAULT 'audit',
                              causation text DEFAULT NULL, correlation text DEFAULT NULL,
                              version integer DEFAULT 1,
                              fidelity durable_sink.fidelity_class DEFAULT 'domain_event')
RETURNS durable_sink.canonical_event_draft LANGUAGE sql AS $$
  SELECT ROW(fidelity, kind, scopes, NULL, NULL, payload, causation, correlation, origin,
             visibility, version)::durable_sink.canonical_event_draft $$;
CREATE FUNCTION pg_temp.try_append(d durable_sink.canonical_event_draft, writer text DEFAULT NULL,
                                   idem text DEFAULT NULL, exp_thread bigint DEFAULT NULL,
                                   exp_run bigint DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE e durable_sink.events;
BEGIN
  e := durable_sink.append(d, writer, idem, exp_thread, exp_run);
  RETURN format('event %s: %s thread_seq=%s run_seq=%s', pg_temp.event_no(e.event_id), e.event_kind,
                coalesce(e.thread_seq::text, '-'), coalesce(e.run_seq::text, '-'));
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\set t1 '[{"scope_type":"thread","thread_id":"t1"}]'
\set t1r1 '[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"run","run_id":"r1"}]'
\set t1r2 '[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"run","run_id":"r2"}]'

-- append returns the stored row: event_id, created_at, the draft columns
-- (thread_id/run_id derived from scopes) and a seq per scope.
SELECT pg_temp.event_no(event_id) AS event_id, fidelity, event_kind, scopes, thread_id, run_id, payload, causation_id,
       correlation_id, origin, visibility, schema_version, thread_seq, run_seq,
       created_at = now() AS created_now
FROM durable_sink.append(pg_temp.draft(:'t1r1', causation => 'cause-1', correlation => 'corr-1'));

-- Each scope counts 1, 2, 3, ... on its own.
SELECT pg_temp.try_append(pg_temp.draft(:'t1')) AS thread_only;
SELECT pg_temp.try_append(pg_temp.draft(:'t1r2')) AS second_run;
SELECT pg_temp.try_append(pg_temp.draft(:'t1r1')) AS back_to_r1;
SELECT pg_temp.try_append(pg_temp.draft('[{"scope_type":"run","run_id":"r1"}]')) AS run_only;

-- A rolled-back append gives its numbers back: no gaps.
BEGIN;
SELECT pg_temp.try_append(pg_temp.draft(:'t1r1')) AS rolled_back;
ROLLBACK;
SELECT pg_temp.try_append(pg_temp.draft(:'t1r1')) AS after_rollback;

-- Invalid drafts are rejected and append nothing (contract §4, §9).
SELECT pg_temp.try_append(pg_temp.draft('[]')) AS empty_scopes;
SELECT pg_temp.try_append(pg_temp.draft(:'t1', kind => '  ')) AS blank_kind;
SELECT pg_temp.try_append(pg_temp.draft(:'t1', origin => '')) AS blank_origin;
SELECT pg_temp.try_append(pg_temp.draft(:'t1', version => 0)) AS version_0;
SELECT pg_temp.try_append(pg_temp.draft(:'t1', payload => NULL)) AS null_payload;
SELECT pg_temp.try_append(pg_temp.draft('[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"thread","thread_id":"t1"}]')) AS repeated_scope;
SELECT pg_temp.try_append(NULL) AS null_draft;

-- Idempotent retry: the same (writer_id, idempotency_key) and the same
-- event returns the original row and appends nothing; origin,
-- schema_version and fidelity may differ.
SELECT pg_temp.try_append(pg_temp.draft(:'t1', payload => '{"n":1}'), 'w1', 'k1') AS first;
SELECT pg_temp.try_append(pg_temp.draft(:'t1', payload => '{"n":1}', origin => 'retry', version => 2,
                                        fidelity => 'committed_runtime_event'), 'w1', 'k1') AS retry;
SELECT pg_temp.try_append(pg_temp.draft(:'t1', payload => '{"n":1}'), 'w2', 'k1') AS other_writer;
-- The same identity with a different event is a conflict and appends nothing.
SELECT label, pg_temp.try_append(d, 'w1', 'k1') FROM (VALUES
  ('scopes',         pg_temp.draft(:'t1r1', payload => '{"n":1}')),
  ('event_kind',     pg_temp.draft(:'t1', payload => '{"n":1}', kind => 'Other')),
  ('payload',        pg_temp.draft(:'t1', payload => '{"n":2}')),
  ('visibility',     pg_temp.draft(:'t1', payload => '{"n":1}', visibility => 'internal')),
  ('causation_id',   pg_temp.draft(:'t1', payload => '{"n":1}', causation => 'c')),
  ('correlation_id', pg_temp.draft(:'t1', payload => '{"n":1}', correlation => 'c'))
) AS t(label, d);
-- "The same payload" is exact: 1.00 is not 1 (jsonb = would say it is).
SELECT pg_temp.try_append(pg_temp.draft(:'t1', payload => '{"n":1.00}'), 'w1', 'k1') AS payload_scale;
SELECT pg_temp.try_append(pg_temp.draft(:'t1'), NULL, 'k9') AS key_without_writer;
SELECT writer_id, idempotency_key, count(*) FROM durable_sink.events
WHERE idempotency_key IS NOT NULL AND thread_id = 't1' GROUP BY 1, 2 ORDER BY 1, 2;

-- Compare-and-append: the caller states the seq it expects to be the
-- scope's latest (0 for a scope that has none yet).
SELECT max(seq) AS t1_latest FROM durable_sink.read('thread', 't1');
SELECT pg_temp.try_append(pg_temp.draft(:'t1'), exp_thread => 7) AS expected_7;
SELECT pg_temp.try_append(pg_temp.draft(:'t1'), exp_thread => 7) AS expected_7_again;
SELECT pg_temp.try_append(pg_temp.draft('[{"scope_type":"thread","thread_id":"t-new"}]'), exp_thread => 0) AS new_scope_expected_0;
SELECT pg_temp.try_append(pg_temp.draft(:'t1r1'), exp_thread => 8, exp_run => 2) AS run_behind;
SELECT pg_temp.try_append(pg_temp.draft(:'t1r1'), exp_thread => 8, exp_run => 4) AS both_right;
SELECT pg_temp.try_append(pg_temp.draft(:'t1'), exp_run => 1) AS no_run_scope;
SELECT pg_temp.try_append(pg_temp.draft(:'t1'), exp_thread => -1) AS negative;

-- read: a scope's events after a position, in sequence order.
SELECT seq, pg_temp.event_no(event_id) AS event_id, event_kind, run_id, payload FROM durable_sink.read('thread', 't1');
SELECT seq, pg_temp.event_no(event_id) AS event_id FROM durable_sink.read('thread', 't1', after_seq => 7);
SELECT seq, pg_temp.event_no(event_id) AS event_id FROM durable_sink.read('thread', 't1', after_seq => 2, max_rows => 3);
SELECT seq, pg_temp.event_no(event_id) AS event_id, thread_id FROM durable_sink.read('run', 'r1');
SELECT count(*) AS unknown_scope FROM durable_sink.read('thread', 'never-seen');
SELECT * FROM durable_sink.read('mailbox', 'm1');
SELECT * FROM durable_sink.read(NULL, 't1');
SELECT * FROM durable_sink.read('thread', 't1', max_rows => -1);

-- Sequences are gapless: each scope's seqs are exactly 1..count.
SELECT s.scope_type, left(s.scope_id, 10) AS scope_id, count(x.seq) AS events,
       count(x.seq) = max(x.seq) AND min(x.seq) = 1 AS gapless
FROM durable_sink.scopes s
LEFT JOIN LATERAL (SELECT e.thread_seq AS seq FROM durable_sink.events e
                   WHERE s.scope_type = 'thread' AND e.thread_scope = s.scope_no
                   UNION ALL
                   SELECT e.run_seq FROM durable_sink.events e
                   WHERE s.scope_type = 'run' AND e.run_scope = s.scope_no) x ON true
WHERE s.scope_id IN ('t1', 't-new', 'r1', 'r2')
GROUP BY 1, 2 ORDER BY 1, 2;

-- One transaction appending many events to one scope holds its head in
-- memory after the first append (no growing chain of head row versions).
BEGIN;
CREATE TEMP TABLE scope_writes AS
SELECT n_tup_ins + n_tup_upd AS writes FROM pg_stat_xact_user_tables
WHERE relid = 'durable_sink.scopes'::regclass;
SELECT count(*) AS appended
FROM generate_series(1, 3000) g,
     LATERAL durable_sink.append(pg_temp.draft('[{"scope_type":"thread","thread_id":"t-many"}]',
                                               payload => jsonb_build_object('g', g))) e;
SELECT s.n_tup_ins + s.n_tup_upd - w.writes AS scope_row_writes
FROM pg_stat_xact_user_tables s, scope_writes w WHERE s.relid = 'durable_sink.scopes'::regclass;
COMMIT;
SELECT count(*), min(seq), max(seq), bool_and((payload->>'g')::bigint = seq) AS in_order
FROM durable_sink.read('thread', 't-many', max_rows => 5000);

-- Ids of any length.
SELECT thread_seq, length(thread_id) FROM durable_sink.append(
  pg_temp.draft(jsonb_build_array(jsonb_build_object('scope_type', 'thread', 'thread_id', repeat('x', 100000)))));
SELECT seq, length(thread_id) FROM durable_sink.read('thread', repeat('x', 100000));
