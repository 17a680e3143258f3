-- Contract §23: the monitoring views on known data, and the counters per
-- entry point (deltas around each call, then a reset).  In a database of
-- its own: counters and views are per database, so other suites' work
-- does not show.  The server has the library preloaded (scripts/lib.sh);
-- test/t/010_monitoring.pl covers a server without it.
\pset null '(null)'
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_monitoring;
ALTER DATABASE regress_ds_monitoring SET lc_messages = 'C';
\c regress_ds_monitoring
CREATE EXTENSION durable_sink;
SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS start FROM durable_sink.feed_position_seq \gset

-- Counter deltas since the last pg_temp.mark().
CREATE TEMP TABLE marked AS SELECT * FROM durable_sink.stats;
CREATE FUNCTION pg_temp.mark() RETURNS void LANGUAGE sql AS $$
  DELETE FROM marked; INSERT INTO marked SELECT * FROM durable_sink.stats;
$$;
CREATE FUNCTION pg_temp.delta()
RETURNS TABLE (entry_point text, calls bigint, normalized bigint, rejected bigint,
               appended bigint, announced bigint)
LANGUAGE sql AS $$
  SELECT s.entry_point, s.calls - m.calls, s.events_normalized - m.events_normalized,
         s.events_rejected - m.events_rejected, s.events_appended - m.events_appended,
         s.frames_announced - m.frames_announced
  FROM durable_sink.stats s JOIN marked m USING (entry_point)
  WHERE s.entry_point <> 'announcer'
    AND (s.calls, s.events_normalized, s.events_rejected, s.events_appended, s.frames_announced)
        IS DISTINCT FROM (m.calls, m.events_normalized, m.events_rejected, m.events_appended, m.frames_announced)
$$;
-- An error's SQLSTATE and message.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- One row per entry point, all zero in a new database; stats_reset is when
-- the database first counted.
SELECT entry_point, calls, events_normalized, events_rejected, events_appended,
       frames_announced, stats_reset <= now() AS reset_in_past
FROM durable_sink.stats;
-- the function and the view agree
SELECT count(*) AS differences
FROM (SELECT * FROM durable_sink.stats() EXCEPT SELECT * FROM durable_sink.stats) d;

-- normalize: accepted, and rejected (counted before the error is raised)
SELECT pg_temp.mark();
SELECT event_kind FROM durable_sink.normalize('{"event_type":"text_delta","delta":"a"}', 'mon-t0', 'mon-r0');
SELECT pg_temp.try($$SELECT durable_sink.normalize('{"event_type":"text_delta","delta":1}', 'mon-t0', 'mon-r0')$$);
SELECT * FROM pg_temp.delta();

-- normalize_many: one event, however many drafts; a rejected one
SELECT pg_temp.mark();
SELECT count(*) FROM durable_sink.normalize_many(
  '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":
     {"total_compactions":0,"in_flight":{"task_id":"c1","started_at_ms":5}}}}}', 'mon-t0', 'mon-r0');
SELECT pg_temp.try($$SELECT * FROM durable_sink.normalize_many('[]', 'mon-t0', 'mon-r0')$$);
SELECT * FROM pg_temp.delta();

-- emit: kept, announced; observed (not kept in compacted mode); rejected;
-- not announced
SELECT pg_temp.mark();
SELECT count(*) FROM durable_sink.emit('{"event_type":"run_start","thread_id":"mon-t1","run_id":"mon-r1"}', 'mon-t1', 'mon-r1');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":"Hi"}', 'mon-t1', 'mon-r1');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":42}', 'mon-t1', 'mon-r1');
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"m1"}', 'mon-t1', 'mon-r1', announce => false);
SELECT * FROM pg_temp.delta();

-- append: appended; an idempotent retry appends nothing; an invalid draft
-- is an error of the call, not counted
SELECT pg_temp.mark();
SELECT d.event_kind
FROM durable_sink.normalize('{"event_type":"error","message":"appended"}', 'mon-t2', 'mon-r2') n,
     LATERAL durable_sink.append(n, 'mon-writer', 'k1') d;
SELECT d.event_kind
FROM durable_sink.normalize('{"event_type":"error","message":"appended"}', 'mon-t2', 'mon-r2') n,
     LATERAL durable_sink.append(n, 'mon-writer', 'k1') d;
SELECT pg_temp.try($$SELECT durable_sink.append(ROW('domain_event', 'X', '[]', NULL, NULL, '{}', NULL, NULL, 'o', 'public', 1))$$);
SELECT * FROM pg_temp.delta();

-- capture (row trigger): one call per row
CREATE TABLE raw_row (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON raw_row FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
SELECT pg_temp.mark();
INSERT INTO raw_row VALUES ('mon-t3', 'mon-r3', '{"event_type":"run_start","thread_id":"mon-t3","run_id":"mon-r3"}'),
                           ('mon-t3', 'mon-r3', '{"event_type":"error","message":"e1"}'),
                           ('mon-t3', 'mon-r3', '{"event_type":"text_delta"}');
SELECT * FROM pg_temp.delta();

-- capture_statement: one call per statement; frames: one per stream
CREATE TABLE raw_stmt (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON raw_stmt REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'full_fidelity');
SELECT pg_temp.mark();
INSERT INTO raw_stmt VALUES ('mon-t4', 'mon-r4', '{"event_type":"error","message":"e2"}'),
                            ('mon-t4', 'mon-r4', '{"event_type":"text_delta","delta":"x"}'),
                            ('mon-t5', 'mon-r5', '{"event_type":"error","message":"e3"}'),
                            ('mon-t5', 'mon-r5', '{"event_type":"error"}'),
                            ('mon-t5', 'mon-r5', '{"event_type":"nope"}');
SELECT * FROM pg_temp.delta();

-- Rolled-back work stays counted (what was done, not what was kept).
SELECT pg_temp.mark();
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"gone"}', 'mon-t1', 'mon-r1', announce => false);
ROLLBACK;
SELECT * FROM pg_temp.delta();

-- The announcer sends the frames the writers queued (and feed frames):
-- wait until it has sent as many as were queued so far.
DO $$
DECLARE
  queued bigint;
BEGIN
  SELECT sum(frames_announced) INTO queued FROM durable_sink.stats WHERE entry_point <> 'announcer';
  FOR i IN 1..300 LOOP
    EXIT WHEN (SELECT frames_announced FROM durable_sink.stats WHERE entry_point = 'announcer') >= queued;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT calls > 0 AS passes, frames_announced >= (SELECT sum(frames_announced) FROM durable_sink.stats
                                                 WHERE entry_point <> 'announcer') AS sent_all,
       events_normalized + events_rejected + events_appended AS zero
FROM durable_sink.stats WHERE entry_point = 'announcer';

-- Reset: every counter of this database is zero, stats_reset moves.
SELECT durable_sink.stats_reset() AS reset_at \gset
SELECT entry_point, calls, events_normalized, events_rejected, events_appended, frames_announced,
       stats_reset = :'reset_at' AS reset_at
FROM durable_sink.stats;

-- ------------------------------------------------------------------ views

-- events per day, kind and fidelity (created_at is today)
SELECT day = current_date AS today, event_kind, fidelity, events
FROM durable_sink.events_per_day ORDER BY event_kind, fidelity;

-- capture failures per source, table and SQLSTATE, with the newest message
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":true}', 'mon-t1', 'mon-r1', announce => false);
SELECT source, source_table, sqlstate, failures, first_failed_at <= last_failed_at AS ordered,
       newest_failure_id = (SELECT max(failure_id) FROM durable_sink.capture_failures f
                            WHERE f.source = s.source AND f.source_table IS NOT DISTINCT FROM s.source_table
                              AND f.sqlstate = s.sqlstate) AS newest,
       newest_message
FROM durable_sink.capture_failure_summary s ORDER BY source, source_table, sqlstate;

-- scopes, largest first, with their heads
SELECT scope_type, scope_id, head_seq, head_event_kind, head_created_at IS NOT NULL AS has_head
FROM durable_sink.largest_scopes;
SELECT scope_type, scope_id, head_seq FROM durable_sink.largest_scopes LIMIT 2;

-- every table of the extension and its indexes
SELECT relation, kind, table_name, bytes > 0 AS has_bytes, size IS NOT NULL AS has_size
FROM durable_sink.relation_sizes ORDER BY kind DESC, relation::text;
ANALYZE durable_sink.events;
SELECT rows_estimate = (SELECT count(*) FROM durable_sink.events) AS estimated
FROM durable_sink.relation_sizes WHERE relation = 'durable_sink.events'::regclass;

-- feed latency: nothing committing; the newest readable event is the last
-- position; no commit timestamps (track_commit_timestamp is off here)
SELECT pg_temp.mark();
SELECT mode, positions_pending, committing_transactions, holding_xid, holding_prepared, holding_age,
       newest_readable_position - :start AS newest_readable_position,
       last_position - :start AS last_position,
       newest_readable_age >= '0'::interval AS age_known, newest_readable_commit_age
FROM durable_sink.feed_latency;
-- a prepared transaction that appended holds the horizon back
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"held"}', 'mon-t6', 'mon-r6', announce => false);
PREPARE TRANSACTION 'regress_ds_monitoring';
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"after"}', 'mon-t7', 'mon-r7', announce => false);
SELECT positions_pending, committing_transactions,
       holding_xid = (SELECT transaction FROM pg_prepared_xacts WHERE gid = 'regress_ds_monitoring') AS holding,
       holding_prepared, holding_age >= '0'::interval AS age_known,
       last_position - newest_readable_position AS newest_readable_behind
FROM durable_sink.feed_latency;
SELECT xid = (SELECT transaction FROM pg_prepared_xacts WHERE gid = 'regress_ds_monitoring') AS prepared_xid,
       first_position - :start AS first_position, prepared, registered_at <= now() AS registered
FROM durable_sink.feed_transactions();
COMMIT PREPARED 'regress_ds_monitoring';
SELECT positions_pending, committing_transactions, holding_xid,
       last_position - newest_readable_position AS newest_readable_behind
FROM durable_sink.feed_latency;
SELECT count(*) FROM durable_sink.feed_transactions();

-- subscriptions: every one, whoever owns it, and how far behind
CREATE ROLE regress_ds_mon_reader;
CREATE ROLE regress_ds_mon_admin;
GRANT USAGE ON SCHEMA durable_sink TO regress_ds_mon_reader, regress_ds_mon_admin;
GRANT EXECUTE ON FUNCTION
  durable_sink.feed_horizon(), durable_sink.feed_events(bigint, bigint, bigint, text[], text[], text[], text),
  durable_sink.feed_backlog(bigint, text[], text[], text[], text),
  durable_sink.create_subscription(text, text[], durable_sink.fidelity_class[], durable_sink.visibility[], text, bigint),
  durable_sink.poll(text, integer), durable_sink.ack(text, bigint) TO regress_ds_mon_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON durable_sink.subscriptions TO regress_ds_mon_reader;
GRANT SELECT ON durable_sink.subscription_lag TO regress_ds_mon_reader;
SET ROLE regress_ds_mon_reader;
SELECT name FROM durable_sink.create_subscription('mon-all', start_after => :start);
SELECT name FROM durable_sink.create_subscription('mon-errors', event_kinds => '{ErrorRecorded}', start_after => :start);
SELECT count(*) FROM durable_sink.poll('mon-all', 3);
SELECT durable_sink.ack('mon-all') - :start AS acked;
-- the operator's view is not for the reader
SELECT pg_temp.try('SELECT * FROM durable_sink.all_subscription_lag');
RESET ROLE;
-- a subscription of another role
SELECT name FROM durable_sink.create_subscription('mon-superuser', start_after => durable_sink.feed_horizon());
SELECT name, CASE WHEN owner = current_user::regrole THEN 'me' ELSE owner::text END AS owner,
       checkpoint - :start AS checkpoint, positions_behind, events_behind,
       (SELECT count(*) FROM durable_sink.feed f WHERE f.position > s.checkpoint) AS feed_after,
       oldest_unacked_age IS NOT NULL AS has_backlog, since_ack >= '0'::interval AS since_ack
FROM durable_sink.all_subscription_lag s ORDER BY name;

-- Privileges: nothing for PUBLIC; the admin grants of README "Privileges"
SELECT c.relname, has_table_privilege('regress_ds_mon_reader', c.oid, 'SELECT') AS reader_can
FROM pg_class c
WHERE c.relnamespace = 'durable_sink'::regnamespace AND c.relkind = 'v'
ORDER BY c.relname;
SELECT p.proname, has_function_privilege('regress_ds_mon_reader', p.oid, 'EXECUTE') AS reader_can
FROM pg_proc p
WHERE p.oid IN ('durable_sink.stats()'::regprocedure, 'durable_sink.stats_reset()'::regprocedure,
                'durable_sink.feed_transactions()'::regprocedure, 'durable_sink.feed_progress()'::regprocedure)
ORDER BY p.proname;
GRANT SELECT ON ALL TABLES IN SCHEMA durable_sink TO regress_ds_mon_admin;
GRANT EXECUTE ON FUNCTION durable_sink.stats(), durable_sink.stats_reset(),
  durable_sink.feed_progress(), durable_sink.feed_transactions(),
  durable_sink.feed_backlog(bigint, text[], text[], text[], text) TO regress_ds_mon_admin;
SET ROLE regress_ds_mon_admin;
SELECT count(*) AS entry_points FROM durable_sink.stats;
SELECT count(*) > 0 AS days FROM durable_sink.events_per_day;
SELECT count(*) AS failure_groups FROM durable_sink.capture_failure_summary;
SELECT count(*) AS scopes FROM durable_sink.largest_scopes;
SELECT name FROM durable_sink.all_subscription_lag ORDER BY name;
SELECT count(*) AS own_subscriptions FROM durable_sink.subscription_lag;
SELECT mode, committing_transactions FROM durable_sink.feed_latency;
SELECT count(*) > 0 AS relations FROM durable_sink.relation_sizes;
SELECT durable_sink.stats_reset() IS NOT NULL AS reset;
RESET ROLE;

\c :regress_db
DROP DATABASE regress_ds_monitoring;
DROP ROLE regress_ds_mon_reader;
DROP ROLE regress_ds_mon_admin;
