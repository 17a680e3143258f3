-- Every set-returning function of the extension (normalize_many, emit,
-- read) in every call style: in FROM, in the select list (alone, next to
-- other set-returning functions, once per row of an outer query), and in
-- LATERAL.  A select-list call reads the function's result from wherever
-- the function left its tuplestore; only a call in FROM rewinds it.  emit
-- used to read its stored rows back to build its live frame, and so
-- returned nothing in the select list when it announced -- although the
-- rows were stored.
--
-- The suite uses its own thread and run ids (srf-*) and runs in one
-- transaction that rolls back: it depends on nothing other suites leave
-- behind, and leaves nothing behind.
\pset null '(null)'
-- A two-draft event (ToolCallSuspended + ToolPermissionRequested) and a
-- one-draft event (ErrorRecorded); neither touches run or compaction state.
\set two '{"event_type":"tool_call_done","id":"c","message_id":"m","outcome":"suspended","result":{"tool_name":"x","status":"pending","data":null,"suspension":{"suspension":{"id":"s1"}}}}'
\set one '{"event_type":"error","message":"m"}'
BEGIN;

-- ------------------------------------------------------ normalize_many
-- In FROM and in the select list: the same rows.
SELECT event_kind, thread_id, run_id FROM durable_sink.normalize_many(:'two', 'srf-n', 'srf-n1');
SELECT (durable_sink.normalize_many(:'two', 'srf-n', 'srf-n1')).event_kind;
SELECT (d).event_kind, (d).thread_id, (d).run_id
FROM (SELECT durable_sink.normalize_many(:'two', 'srf-n', 'srf-n1') AS d) s;
-- Next to other set-returning functions: each yields its own rows, the
-- shorter ones padded with NULLs.
SELECT (durable_sink.normalize_many(:'two', 'srf-n', 'srf-n1')).event_kind AS two_drafts,
       (durable_sink.normalize_many(:'one', 'srf-n', 'srf-n1')).event_kind AS one_draft,
       generate_series(1, 3) AS n;
-- Once per row of an outer query: LATERAL, and the select list.
SELECT v.n, d.ordinality, d.event_kind, d.run_id
FROM (VALUES (1, :'two'::jsonb), (2, :'one'::jsonb), (3, :'two'::jsonb)) v(n, ev),
     LATERAL durable_sink.normalize_many(v.ev, 'srf-n', 'srf-n' || v.n) WITH ORDINALITY d
ORDER BY v.n, d.ordinality;
SELECT v.n, (durable_sink.normalize_many(v.ev, 'srf-n', 'srf-n' || v.n)).event_kind
FROM (VALUES (1, :'two'::jsonb), (2, :'one'::jsonb), (3, :'two'::jsonb)) v(n, ev);

-- ---------------------------------------------------------------- emit
-- The call of the report, in the select list (announce defaults to true).
SELECT (durable_sink.emit('{"event_type":"run_start","thread_id":"srf-t1","run_id":"srf-r1"}',
                          'srf-t1', 'srf-r1')).event_kind;
-- In FROM and in the select list, announcing and not: the same rows.
SELECT event_kind, thread_id, run_id, thread_seq, run_seq
FROM durable_sink.emit(:'two', 'srf-from', 'srf-from');
SELECT event_kind, thread_id, run_id, thread_seq, run_seq
FROM durable_sink.emit(:'two', 'srf-from', 'srf-from', announce => false);
SELECT (e).event_kind, (e).thread_id, (e).run_id, (e).thread_seq, (e).run_seq
FROM (SELECT durable_sink.emit(:'two', 'srf-list', 'srf-list') AS e) s;
SELECT (e).event_kind, (e).thread_id, (e).run_id, (e).thread_seq, (e).run_seq
FROM (SELECT durable_sink.emit(:'two', 'srf-list', 'srf-list', announce => false) AS e) s;
-- (emit(...)).* calls emit once, not once per column.
SELECT count(*) AS returned FROM (SELECT (durable_sink.emit(:'one', 'srf-star', 'srf-star')).*) s;
-- Next to other set-returning functions.
SELECT (durable_sink.emit(:'two', 'srf-multi-on', 'srf-multi-on')).thread_seq AS announced,
       (durable_sink.emit(:'two', 'srf-multi-off', 'srf-multi-off', announce => false)).thread_seq AS silent,
       (durable_sink.emit(:'one', 'srf-multi-one', 'srf-multi-one')).event_kind AS one_row,
       (durable_sink.normalize_many(:'two', 'srf-n', 'srf-n1')).event_kind AS normalized,
       generate_series(1, 3) AS n;
-- Once per row of an outer query, announcing and not: LATERAL ...
SELECT v.n, v.announce, e.event_kind, e.thread_seq, e.run_seq
FROM (VALUES (1, :'two'::jsonb, true), (2, :'one'::jsonb, false),
             (3, :'one'::jsonb, true), (4, :'two'::jsonb, false)) v(n, ev, announce),
     LATERAL durable_sink.emit(v.ev, 'srf-lateral', 'srf-lateral-' || v.n, announce => v.announce) e
ORDER BY v.n, e.thread_seq;
-- ... and the select list.
SELECT n, announce, (e).event_kind, (e).thread_seq, (e).run_seq
FROM (SELECT v.n, v.announce,
             durable_sink.emit(v.ev, 'srf-per-row', 'srf-per-row-' || v.n, announce => v.announce) AS e
      FROM (VALUES (1, :'two'::jsonb, true), (2, :'one'::jsonb, false),
                   (3, :'one'::jsonb, true), (4, :'two'::jsonb, false)) v(n, ev, announce)) s;
-- A rejected event: a WARNING and no rows, in either style.
SELECT (durable_sink.emit('{"event_type":"nope"}', 'srf-bad', 'srf-bad')).event_kind;
SELECT event_kind FROM durable_sink.emit('{"event_type":"nope"}', 'srf-bad', 'srf-bad');
-- Every row returned above was stored, and nothing else.
SELECT thread_id, count(*) AS stored, string_agg(event_kind, ', ' ORDER BY thread_seq) AS kinds
FROM durable_sink.events WHERE thread_id LIKE 'srf-%' GROUP BY thread_id ORDER BY thread_id;
SELECT thread_id, count(*) AS failures FROM durable_sink.capture_failures
WHERE thread_id LIKE 'srf-%' GROUP BY thread_id;

-- The live frame lists exactly the rows emit returned, in either style.
-- With the event bodies in frames, a large event makes a frame that is kept
-- in durable_sink.live_frames, where it can be compared (in this
-- transaction: frames sent in the writing transaction, not by the announcer).
SET LOCAL durable_sink.announce_events = on;
SET LOCAL durable_sink.announce_after_commit = off;
CREATE TEMP TABLE srf_big_event AS
SELECT jsonb_set(:'two'::jsonb, '{result,data}', to_jsonb(repeat('x', 9000))) AS ev;
CREATE TEMP TABLE srf_big AS
SELECT 'from' AS style, e.*
FROM durable_sink.emit((SELECT ev FROM srf_big_event), 'srf-big-from', 'srf-big-from') e;
INSERT INTO srf_big
SELECT 'list', (e).*
FROM (SELECT durable_sink.emit((SELECT ev FROM srf_big_event), 'srf-big-list', 'srf-big-list') AS e) s;
SELECT b.style, count(*) AS returned,
       (SELECT f.frame->'stored' FROM durable_sink.live_frames f
        WHERE f.frame->>'thread_id' = 'srf-big-' || b.style) =
       jsonb_agg(jsonb_build_object('event_id', b.event_id, 'event_kind', b.event_kind,
                                    'thread_seq', b.thread_seq, 'run_seq', b.run_seq)
                 ORDER BY b.event_id) AS frame_lists_returned_rows
FROM srf_big b GROUP BY b.style ORDER BY b.style;

-- ---------------------------------------------------------------- read
-- In FROM and in the select list: the same rows.
SELECT seq, event_kind, run_id FROM durable_sink.read('thread', 'srf-lateral');
SELECT (durable_sink.read('thread', 'srf-lateral')).seq;
SELECT (r).seq, (r).event_kind, (r).run_id
FROM (SELECT durable_sink.read('thread', 'srf-lateral', after_seq => 1, max_rows => 3) AS r) s;
-- Next to other set-returning functions.
SELECT (durable_sink.read('thread', 'srf-lateral')).seq AS lateral_seq,
       (durable_sink.read('run', 'srf-per-row-4')).event_kind AS per_row_4,
       (durable_sink.normalize_many(:'one', 'srf-n', 'srf-n1')).event_kind AS normalized,
       (durable_sink.emit(:'one', 'srf-multi-read', 'srf-multi-read')).thread_seq AS emitted;
-- Once per row of an outer query: LATERAL, and the select list.
SELECT v.scope_type, v.scope_id, r.seq, r.event_kind
FROM (VALUES ('thread', 'srf-from'), ('run', 'srf-per-row-1'), ('run', 'srf-none')) v(scope_type, scope_id),
     LATERAL durable_sink.read(v.scope_type, v.scope_id, max_rows => 3) r
ORDER BY v.scope_type, v.scope_id, r.seq;
SELECT v.scope_type, v.scope_id, (durable_sink.read(v.scope_type, v.scope_id, max_rows => 3)).seq
FROM (VALUES ('thread', 'srf-from'), ('run', 'srf-per-row-1'), ('run', 'srf-none')) v(scope_type, scope_id);

ROLLBACK;
