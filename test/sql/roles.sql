-- The README's roles: the grant block of its "Privileges" section, run as
-- written (role names prefixed with regress_), is enough for every README
-- example to work as the role that runs it, and no more.
\pset null '(null)'
-- The examples start from a fresh database, as the README's do: one of
-- their own, dropped at the end, so that they see no other suite's rows.
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_roles;
ALTER DATABASE regress_ds_roles SET lc_messages = 'C';
\c regress_ds_roles
CREATE EXTENSION durable_sink;

CREATE ROLE regress_app_writer;
CREATE ROLE regress_app_reader;
CREATE ROLE regress_app_owner;
CREATE ROLE regress_app_admin;
-- inserts into the raw table; needs nothing from the extension
CREATE ROLE regress_app_inserter;

-- The first sql block of README.md's "Privileges" section, verbatim.
\getenv abs_builddir PG_ABS_BUILDDIR
\! awk '/^## Privileges/ { s = 1 } s && /^```$/ && b { exit } s && b { print } s && /^```sql$/ { b = 1 }' "$PG_ABS_SRCDIR"/../README.md | sed -E 's/\<app_(writer|reader|owner|admin)\>/regress_app_\1/g; s/\<durable_sink_(writer|reader|consumer|admin)\>/regress_ds_\1/g' > "$PG_ABS_BUILDDIR"/results/roles_grants.sql
\i :abs_builddir/results/roles_grants.sql

-- The application's own business: the owner's raw table lives in public.
GRANT CREATE ON SCHEMA public TO regress_app_owner;

-- Quick look, normalize (writer).
SET ROLE regress_app_writer;
SELECT event_kind, fidelity, scopes
FROM durable_sink.normalize_many(
  '{"event_type":"run_start","thread_id":"t1","run_id":"r1"}', 't1', 'r1');
CREATE TEMP TABLE raw (seq integer, thread_id text, run_id text, event jsonb);
INSERT INTO raw VALUES (2, 't2', 'r2', '{"event_type":"text_delta","delta":"Hi"}'),
                       (1, 't2', 'r2', '{"event_type":"run_start","thread_id":"t2","run_id":"r2"}');
SELECT r.seq, d.*
FROM (SELECT * FROM raw ORDER BY seq) r,
     LATERAL durable_sink.normalize_many(r.event, r.thread_id, r.run_id) d;
SELECT event_kind, fidelity, payload
FROM durable_sink.normalize('{"event_type":"text_delta","delta":"Hi"}', 't1', 'r1', 'ai-sdk', 'corr-7');
RESET ROLE;

-- emit (writer).  The README's emit example is "in a fresh database: run r1
-- not seen before": forget what the Quick look recorded.
TRUNCATE durable_sink.run_state;
SET ROLE regress_app_writer;
SELECT event_kind, thread_seq, run_seq
FROM durable_sink.emit('{"event_type":"run_start","thread_id":"t1","run_id":"r1"}', 't1', 'r1');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":"Hi"}', 't1', 'r1');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":42}', 't1', 'r1');
RESET ROLE;

-- capture_failures (admin).
SET ROLE regress_app_admin;
SELECT source, event, sqlstate, message FROM durable_sink.capture_failures;
RESET ROLE;

-- The row trigger, created by the raw table's owner, who also inserts.
SET ROLE regress_app_owner;
CREATE TABLE raw_events (id bigserial PRIMARY KEY, thread_id text, run_id text,
                         request_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON raw_events FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted',
                                        'request_id', 'true');
INSERT INTO raw_events (thread_id, run_id, request_id, event)
VALUES ('t1', 'r1', 'req-9', '{"event_type":"error","message":"rate limited"}');
GRANT INSERT ON raw_events TO regress_app_inserter;
GRANT USAGE ON SEQUENCE raw_events_id_seq TO regress_app_inserter;
RESET ROLE;
-- Roles that insert into the raw table need nothing from the extension.
SET ROLE regress_app_inserter;
INSERT INTO raw_events (thread_id, run_id, event)
VALUES ('t1', 'r1', '{"event_type":"error","message":"from another role"}');
RESET ROLE;

-- The statement trigger replaces it (owner).  The README loads a file with
-- COPY ... FROM '/path/events.tsv', which needs pg_read_server_files; the
-- owner loads the same rows from the client.
SET ROLE regress_app_owner;
DROP TRIGGER IF EXISTS capture ON raw_events;   -- one capture trigger per table
CREATE TRIGGER capture AFTER INSERT ON raw_events REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
COPY raw_events (thread_id, run_id, event) FROM stdin;
t1	r1	{"event_type":"tool_call_ready","id":"c1","name":"search","arguments":{}}
t1	r1	{"event_type":"text_delta","delta":"observed, not kept"}
\.
RESET ROLE;

-- A partitioned raw table captured whole (owner), rows written straight into
-- a partition included.
SET ROLE regress_app_owner;
CREATE TABLE raw_parted (k int, thread_id text, run_id text, event jsonb) PARTITION BY LIST (k);
CREATE TABLE raw_parted_1 PARTITION OF raw_parted FOR VALUES IN (1);
SELECT * FROM durable_sink.capture_table('raw_parted', 'event', 'thread_id', 'run_id', 'app');
CREATE TABLE raw_parted_2 PARTITION OF raw_parted FOR VALUES IN (2);
INSERT INTO raw_parted VALUES (1, 't-parted', 'r-parted', '{"event_type":"error","message":"via parent"}');
INSERT INTO raw_parted_2 VALUES (2, 't-parted', 'r-parted', '{"event_type":"error","message":"into a partition"}');
RESET ROLE;
SET ROLE regress_app_reader;
SELECT seq, payload->>'message' AS message FROM durable_sink.read('thread', 't-parted');
RESET ROLE;

-- append with compare-and-append (writer): read the thread's latest seq,
-- then append expecting it.
SET ROLE regress_app_writer;
SELECT max(seq) FROM durable_sink.read('thread', 't1') \gset
SELECT event_id, thread_seq FROM durable_sink.append(
  ROW('domain_event', 'PermissionGranted', '[{"scope_type":"thread","thread_id":"t1"}]',
      NULL, NULL, '{"call":"c1"}', NULL, NULL, 'mailbox', 'audit', 1)::durable_sink.canonical_event_draft,
  writer_id => 'mailbox-1', idempotency_key => 'grant-c1', expected_thread_seq => :max);
-- a stale expectation is refused
SELECT event_id, thread_seq FROM durable_sink.append(
  ROW('domain_event', 'PermissionGranted', '[{"scope_type":"thread","thread_id":"t1"}]',
      NULL, NULL, '{"call":"c2"}', NULL, NULL, 'mailbox', 'audit', 1)::durable_sink.canonical_event_draft,
  writer_id => 'mailbox-1', idempotency_key => 'grant-c2', expected_thread_seq => :max);
RESET ROLE;

-- The frames of the statements above go out after their commits, through
-- the announcer: wait until it has sent them, so that none reaches the
-- LISTEN below (what it prints would depend on timing).
DO $$
BEGIN
  FOR i IN 1..1000 LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM durable_sink.outbox);
    PERFORM pg_catalog.pg_sleep(0.01);
  END LOOP;
END $$;
-- read (reader); LISTEN needs no privilege.
SET ROLE regress_app_reader;
SELECT seq, event_kind FROM durable_sink.read('thread', 't1', after_seq => 2, max_rows => 100);
LISTEN durable_sink;
UNLISTEN durable_sink;
RESET ROLE;

-- A frame too large for NOTIFY (announce_events is superuser-only: set
-- here, before SET ROLE) goes to live_frames; the reader fetches it.  Sent
-- in the writing transaction (announce_after_commit off), so it is stored
-- when emit returns; the announcer stores it the same way after commit
-- (test/t/007_announcer.pl).
SET durable_sink.announce_events = on;
SET durable_sink.announce_after_commit = off;
SET ROLE regress_app_writer;
SELECT count(*) FROM durable_sink.emit(jsonb_build_object('event_type', 'text_delta', 'delta', repeat('x', 9000)), 't1', 'r1');
RESET ROLE;
RESET durable_sink.announce_events;
RESET durable_sink.announce_after_commit;
SET ROLE regress_app_reader;
SELECT f->>'source' AS source, f->>'thread_id' AS thread_id, length(f->'event'->>'delta') AS delta_length
FROM durable_sink.live_frame(1) f;
RESET ROLE;

-- Inspect and clean up (admin).
SET ROLE regress_app_admin;
SELECT source, source_table, event, sqlstate, message FROM durable_sink.capture_failures ORDER BY failure_id;
SELECT thread_seq, event_kind, origin, correlation_id FROM durable_sink.events ORDER BY thread_seq;
SELECT durable_sink.prune_live_frames();
SELECT durable_sink.prune_live_frames('0 seconds');
DELETE FROM durable_sink.capture_failures WHERE source = 'emit';
RESET ROLE;

-- Monitoring (admin): the README's examples, shown by what does not vary.
SET ROLE regress_app_admin;
SELECT count(*) AS entry_points FROM durable_sink.stats;
SELECT event_kind, fidelity, events FROM durable_sink.events_per_day WHERE day >= current_date - 7
ORDER BY event_kind, fidelity;
SELECT source, source_table, sqlstate, failures, newest_message FROM durable_sink.capture_failure_summary;
SELECT scope_type, scope_id, head_seq FROM durable_sink.largest_scopes LIMIT 10;
SELECT count(*) AS subscriptions FROM durable_sink.all_subscription_lag;
SELECT mode, positions_pending, committing_transactions FROM durable_sink.feed_latency;
SELECT count(*) > 0 AS relations FROM durable_sink.relation_sizes;
SELECT durable_sink.stats_reset() IS NOT NULL AS reset;

-- The owner backfills the history of a raw table of its own; the admin
-- watches the progress.
SET ROLE regress_app_owner;
CREATE TABLE raw_history (id int PRIMARY KEY, thread_id text, run_id text, event jsonb);
INSERT INTO raw_history
SELECT g, 't-history', 'r-history', jsonb_build_object('event_type', 'error', 'message', 'h' || g)
FROM generate_series(1, 3) g;
SET client_min_messages = warning;   -- the per-batch NOTICEs carry timings
CALL durable_sink.backfill('raw_history', 'event', 'thread_id', 'run_id', 'app', 'id', batch_size => 2);
RESET client_min_messages;
RESET ROLE;
SET ROLE regress_app_reader;
SELECT seq, payload->>'message' AS message FROM durable_sink.read('thread', 't-history');
RESET ROLE;
SET ROLE regress_app_admin;
SELECT raw_table, running, rows_done, rows_total, percent_done FROM durable_sink.backfill_progress;

-- Retention (admin), the retained ranges and a subscription behind a
-- deletion (reader): the grants suffice.
SET ROLE regress_app_reader;
SELECT name FROM durable_sink.create_subscription('retention-behind');
RESET ROLE;
SET ROLE regress_app_admin;
CALL durable_sink.prune_events(older_than => '0 seconds', fidelities => '{observed_runtime_event,committed_runtime_event}');
SELECT durable_sink.prune_capture_failures('0 seconds');
RESET ROLE;
SET ROLE regress_app_reader;
SELECT first_seq, last_seq, head_seq > 0 AS has_head FROM durable_sink.retained_range('thread', 't1');
SELECT pruned_events > 0 AS pruned FROM durable_sink.feed_retained_range();
SELECT count(*) FROM durable_sink.poll('retention-behind');
SELECT durable_sink.accept_pruned('retention-behind') > 0 AS accepted;
SELECT count(*) > 0 AS polled FROM durable_sink.poll('retention-behind');
RESET ROLE;

-- What the roles cannot do.
SET ROLE regress_app_reader;
SELECT count(*) FROM durable_sink.emit('{"event_type":"step_end"}', 't1', 'r1');
RESET ROLE;
SET ROLE regress_app_writer;
DELETE FROM durable_sink.capture_failures;
SELECT count(*) FROM durable_sink.events;
SELECT durable_sink.live_frame(1);
RESET ROLE;
SET ROLE regress_app_inserter;
SELECT count(*) FROM durable_sink.read('thread', 't1');
RESET ROLE;

-- The group roles' lists, and taking a kind back.
SELECT kind, count(*) AS privileges
FROM unnest(ARRAY['writer', 'reader', 'consumer', 'admin']) kind,
     LATERAL durable_sink.role_privileges(kind)
GROUP BY kind ORDER BY kind;
SELECT privilege FROM durable_sink.role_privileges('consumer');
SELECT count(*) FROM durable_sink.role_privileges('nobody');
SELECT durable_sink.grant_privileges('regress_app_inserter', 'nobody');
SELECT durable_sink.revoke_privileges('regress_ds_reader', 'reader');
SET ROLE regress_app_reader;
SELECT count(*) FROM durable_sink.read('thread', 't1');
RESET ROLE;
SELECT durable_sink.grant_privileges('regress_ds_reader', 'reader');
SET ROLE regress_app_reader;
SELECT count(*) FROM durable_sink.read('thread', 't1');
-- only the extension's owner (or a superuser) hands out privileges
SELECT durable_sink.grant_privileges('regress_app_inserter', 'admin');
RESET ROLE;

-- reset() starts the store and the state over: admin only.
SET ROLE regress_app_writer;
SELECT durable_sink.reset();
RESET ROLE;
SELECT (SELECT count(*) FROM durable_sink.events) > 0 AS has_events,
       (SELECT count(*) FROM durable_sink.run_state) > 0 AS has_runs;
SELECT last_value AS last_position_before_reset FROM durable_sink.feed_position_seq \gset
SET ROLE regress_app_admin;
SELECT durable_sink.reset();
RESET ROLE;
SELECT (SELECT count(*) FROM durable_sink.events) AS events,
       (SELECT count(*) FROM durable_sink.scopes) AS scopes,
       (SELECT count(*) FROM durable_sink.run_state) AS runs,
       (SELECT count(*) FROM durable_sink.compaction_state) AS compactions,
       (SELECT count(*) FROM durable_sink.capture_failures) AS failures,
       (SELECT count(*) FROM durable_sink.subscriptions) AS subscriptions,
       (SELECT count(*) FROM durable_sink.feed) AS feed_rows;
-- event_ids start at 1 again, positions continue, and a run starts afresh
SET ROLE regress_app_writer;
SELECT event_id, event_kind, thread_seq FROM durable_sink.emit('{"event_type":"run_start","thread_id":"t1","run_id":"r1"}', 't1', 'r1');
RESET ROLE;
SELECT position > :last_position_before_reset AS position_continues FROM durable_sink.feed;

DROP TABLE raw_events;
DROP OWNED BY regress_app_writer, regress_app_reader, regress_app_owner, regress_app_admin,
              regress_app_inserter, regress_ds_writer, regress_ds_reader, regress_ds_consumer,
              regress_ds_admin;
DROP ROLE regress_app_writer, regress_app_reader, regress_app_owner, regress_app_admin,
          regress_app_inserter, regress_ds_writer, regress_ds_reader, regress_ds_consumer,
          regress_ds_admin;
\c :regress_db
DROP DATABASE regress_ds_roles;
