-- Contract §19/§20: the feed (read_all) and subscriptions.  Positions are
-- shown relative to where this suite started, so other suites' events do
-- not matter (ack's errors are shown with positions masked).  It runs in a
-- database of its own all the same, with a feed that starts empty.
\pset null '(null)'
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_feed;
ALTER DATABASE regress_ds_feed SET lc_messages = 'C';
\c regress_ds_feed
CREATE EXTENSION durable_sink;
SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS start FROM durable_sink.feed_position_seq \gset
CREATE TEMP TABLE feed_start AS SELECT :start::bigint AS start;
CREATE FUNCTION pg_temp.rel(p bigint) RETURNS bigint LANGUAGE sql
AS $$ SELECT p - (SELECT start FROM feed_start) $$;
-- An error's SQLSTATE and message, positions masked.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'position \d+', 'position N', 'g');
END $$;

SELECT mode FROM durable_sink.feed_status();

-- Positions are taken at commit, in commit order; within a transaction in
-- append order.  An open transaction's events have none yet.
SELECT count(*) FROM durable_sink.emit('{"event_type":"run_start","thread_id":"feed-1","run_id":"feed-r1"}', 'feed-1', 'feed-r1');
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"m1"}', 'feed-1', 'feed-r1');
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"m2"}', 'feed-2', 'feed-r2');
-- only the committed run_start is in the feed yet
SELECT event_kind FROM durable_sink.read_all(:start);
COMMIT;
SELECT pg_temp.rel(position) AS position, event_kind, thread_id, run_id, thread_seq, run_seq,
       payload->>'message' AS message
FROM durable_sink.read_all(:start);

-- Every column of the draft, and created_at, as stored.
SELECT (r.event_id, r.fidelity, r.event_kind, r.scopes, r.thread_id, r.run_id, r.payload,
        r.causation_id, r.correlation_id, r.origin, r.visibility, r.schema_version,
        r.thread_seq, r.run_seq, r.created_at)
     IS NOT DISTINCT FROM (e.event_id, e.fidelity, e.event_kind, e.scopes, e.thread_id, e.run_id, e.payload,
        e.causation_id, e.correlation_id, e.origin, e.visibility, e.schema_version,
        e.thread_seq, e.run_seq, e.created_at) AS same_as_stored
FROM durable_sink.read_all(:start) r
JOIN durable_sink.events e USING (event_id);

-- Resuming after a position, and max_rows.
SELECT pg_temp.rel(position) AS position, event_kind
FROM durable_sink.read_all(:start + 1, 1);
SELECT count(*) FROM durable_sink.read_all(:start, 0);

-- A rolled-back savepoint's events never get a position; append, triggers
-- and idempotent retries (nothing new) go through the same path.
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"rolled back"}', 'feed-1', 'feed-r1');
ROLLBACK TO SAVEPOINT s;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"kept"}', 'feed-1', 'feed-r1');
SELECT event_kind FROM durable_sink.append(
  ROW('domain_event', 'MailboxQueued', '[{"scope_type":"thread","thread_id":"feed-1"}]', NULL, NULL,
      '{"m":1}', NULL, NULL, 'mailbox', 'audit', 1)::durable_sink.canonical_event_draft, 'feed-w', 'k1');
SELECT event_kind FROM durable_sink.append(
  ROW('domain_event', 'MailboxQueued', '[{"scope_type":"thread","thread_id":"feed-1"}]', NULL, NULL,
      '{"m":1}', NULL, NULL, 'mailbox', 'audit', 1)::durable_sink.canonical_event_draft, 'feed-w', 'k1');
COMMIT;
CREATE TABLE feed_raw (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON feed_raw REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'raw', 'compacted');
INSERT INTO feed_raw VALUES ('feed-3', 'feed-r3', '{"event_type":"error","message":"t1"}'),
                            ('feed-3', 'feed-r3', '{"event_type":"text_delta","delta":"not kept"}'),
                            ('feed-3', 'feed-r3', '{"event_type":"error","message":"t2"}');
SELECT pg_temp.rel(position) AS position, event_kind, thread_id, payload->>'message' AS message
FROM durable_sink.read_all(:start + 3);
-- Positions are unique, increasing, and one per stored event.
SELECT count(*) = count(DISTINCT position) AS unique_positions,
       count(*) = (SELECT count(*) FROM durable_sink.events WHERE thread_id LIKE 'feed-%') AS one_per_event
FROM durable_sink.read_all(:start);

-- read_all reads a batch with one range scan of events over the batch's
-- event_ids, or, when they span far more ids than the batch has events,
-- with a join (src/feed.c).  Both give what the join of feed and events
-- gives, with event_ids burnt by rolled-back subtransactions (a narrow
-- hole, then one far wider than a batch), in batches of 1, 3 and 1000.
-- (Commit order other than event_id order: specs/feed_skip.spec.)
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"early id"}', 'feed-span', 'feed-span');
SAVEPOINT s;
SELECT count(*) FROM generate_series(1, 5) g,
  LATERAL durable_sink.emit('{"event_type":"error","message":"burnt"}', 'feed-span', 'feed-span') e;
ROLLBACK TO s;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"after a narrow hole"}', 'feed-span', 'feed-span');
SAVEPOINT s2;
SELECT count(*) FROM generate_series(1, 300) g,
  LATERAL durable_sink.emit('{"event_type":"error","message":"burnt"}', 'feed-span', 'feed-span') e;
ROLLBACK TO s2;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"after a wide hole"}', 'feed-span', 'feed-span');
COMMIT;
CREATE FUNCTION pg_temp.read_in_batches(batch integer) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $$
DECLARE after bigint := (SELECT start FROM feed_start); r record; got boolean;
BEGIN
  LOOP
    got := false;
    FOR r IN SELECT a.position, to_jsonb(a) AS j FROM durable_sink.read_all(after, batch) a LOOP
      RETURN NEXT r.j; after := r.position; got := true;
    END LOOP;
    EXIT WHEN NOT got;
  END LOOP;
END $$;
CREATE TEMP VIEW feed_joined AS
SELECT to_jsonb(j) AS j FROM (
  SELECT f.position, e.event_id, e.fidelity, e.event_kind, e.scopes, e.thread_id, e.run_id, e.payload,
         e.causation_id, e.correlation_id, e.origin, e.visibility, e.schema_version,
         e.thread_seq, e.run_seq, e.created_at
  FROM durable_sink.feed f JOIN durable_sink.events e USING (event_id)
  WHERE f.position > (SELECT start FROM feed_start)) j;
SELECT b AS batch, count(*) AS events,
       bool_and(prev IS NULL OR (j->>'position')::bigint > prev) AS strictly_increasing,
       (SELECT count(*) FROM feed_joined) AS joined,
       NOT EXISTS (SELECT j FROM pg_temp.read_in_batches(b) j EXCEPT ALL SELECT j FROM feed_joined)
       AND NOT EXISTS (SELECT j FROM feed_joined EXCEPT ALL SELECT j FROM pg_temp.read_in_batches(b) j) AS same_as_join
FROM unnest(ARRAY[1, 3, 1000]) b,
     LATERAL (SELECT j, lag((j->>'position')::bigint) OVER (ORDER BY n) AS prev
              FROM pg_temp.read_in_batches(b) WITH ORDINALITY r(j, n)) x
GROUP BY b ORDER BY b;
SELECT payload->>'message' AS message FROM durable_sink.read_all(:start, 1000) WHERE thread_id = 'feed-span' ORDER BY position;

-- Bad arguments.
SELECT * FROM durable_sink.read_all(NULL);
SELECT * FROM durable_sink.read_all(0, NULL);
SELECT * FROM durable_sink.read_all(-1);
SELECT * FROM durable_sink.read_all(0, -5);
-- Both call styles.
SELECT count(*) FROM (SELECT durable_sink.read_all(:start)) x;

-- Subscriptions.
SELECT name, checkpoint = :start AS at_start, event_kinds, thread_id
FROM durable_sink.create_subscription('feed-errors', event_kinds => '{ErrorRecorded}',
                                      start_after => :start);
SELECT name FROM durable_sink.create_subscription('feed-errors');
SELECT name FROM durable_sink.create_subscription(' ');
SELECT name FROM durable_sink.create_subscription('x', start_after => -1);
SELECT pg_temp.rel(position) AS position, event_kind, payload->>'message' AS message
FROM durable_sink.poll('feed-errors', 2);
-- Not acknowledged: the same batch again (at-least-once).
SELECT pg_temp.rel(position) AS position FROM durable_sink.poll('feed-errors', 2);
SELECT pg_temp.rel(durable_sink.ack('feed-errors')) AS checkpoint;
SELECT pg_temp.rel(position) AS position, payload->>'message' AS message FROM durable_sink.poll('feed-errors', 10);
-- Acknowledging what was never handed, or going back, is an error.
SELECT pg_temp.try($$SELECT durable_sink.ack('feed-errors', 1000000000)$$);
SELECT pg_temp.try(format($$SELECT durable_sink.ack('feed-errors', %s)$$, :start + 1));
SELECT durable_sink.ack('no-such');
SELECT * FROM durable_sink.poll('no-such');
SELECT * FROM durable_sink.poll('feed-errors', 0);
SELECT name, events_behind, oldest_unacked_age IS NOT NULL AS has_age FROM durable_sink.subscription_lag
WHERE name = 'feed-errors';
SELECT pg_temp.rel(durable_sink.ack('feed-errors')) AS checkpoint;
SELECT name, events_behind, oldest_unacked_age FROM durable_sink.subscription_lag WHERE name = 'feed-errors';
-- acknowledging the same position again is fine
SELECT pg_temp.rel(durable_sink.ack('feed-errors')) AS checkpoint;

-- A reader role: reads the feed and manages its own subscriptions, not
-- another role's.
CREATE ROLE regress_feed_reader;
CREATE ROLE regress_feed_other;
GRANT USAGE ON SCHEMA durable_sink TO regress_feed_reader, regress_feed_other;
GRANT EXECUTE ON FUNCTION durable_sink.read_all(bigint, integer),
  durable_sink.create_subscription(text, text[], durable_sink.fidelity_class[], durable_sink.visibility[], text, bigint),
  durable_sink.drop_subscription(text), durable_sink.poll(text, integer), durable_sink.ack(text, bigint),
  durable_sink.feed_horizon(), durable_sink.feed_events(bigint, bigint, bigint, text[], text[], text[], text),
  durable_sink.feed_backlog(bigint, text[], text[], text[], text)
  TO regress_feed_reader, regress_feed_other;
GRANT SELECT, INSERT, UPDATE, DELETE ON durable_sink.subscriptions TO regress_feed_reader, regress_feed_other;
GRANT SELECT ON durable_sink.subscription_lag TO regress_feed_reader, regress_feed_other;
SET ROLE regress_feed_other;
SELECT name FROM durable_sink.create_subscription('feed-other', thread_id => 'feed-3');
RESET ROLE;
SET ROLE regress_feed_reader;
SELECT count(*) > 0 AS reads_the_feed FROM durable_sink.read_all(:start);
SELECT name FROM durable_sink.create_subscription('feed-mine', thread_id => 'feed-3',
                                                  start_after => :start);
SELECT position - :start AS position, payload->>'message' AS message FROM durable_sink.poll('feed-mine');
SELECT name FROM durable_sink.subscription_lag ORDER BY name;
SELECT * FROM durable_sink.poll('feed-other');
SELECT durable_sink.ack('feed-other');
SELECT durable_sink.drop_subscription('feed-other');
UPDATE durable_sink.subscriptions SET checkpoint = 0 WHERE name = 'feed-other';
INSERT INTO durable_sink.subscriptions (name, owner, checkpoint, handed_up_to)
VALUES ('forged', (SELECT oid FROM pg_roles WHERE rolname = 'regress_feed_other'), 0, 0);
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"x"}', 'feed-x', 'feed-x');
SELECT count(*) FROM durable_sink.feed;
RESET ROLE;
SELECT name, owner::regrole FROM durable_sink.subscriptions WHERE name LIKE 'feed-%' ORDER BY name;
SELECT durable_sink.drop_subscription(name) FROM durable_sink.subscriptions WHERE name LIKE 'feed-%';
DROP TABLE feed_raw;
REVOKE ALL ON durable_sink.subscriptions, durable_sink.subscription_lag FROM regress_feed_reader, regress_feed_other;
DROP OWNED BY regress_feed_reader, regress_feed_other;
DROP ROLE regress_feed_reader, regress_feed_other;
-- The extension dropped and created again in one transaction: the events
-- appended to the old one get no position in the new one.
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"old incarnation"}', 'feed-inc', 'feed-inc');
DROP EXTENSION durable_sink CASCADE;
CREATE EXTENSION durable_sink;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"new incarnation"}', 'feed-inc', 'feed-inc');
COMMIT;
SELECT position, payload->>'message' AS message, thread_seq FROM durable_sink.read_all();
SELECT count(*) AS feed_rows FROM durable_sink.feed;
-- TRUNCATE starts the feed over with the store; positions continue and
-- never point at a reused event_id.
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"before truncate"}', 'feed-tr', 'feed-tr');
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"truncated in the same transaction"}', 'feed-tr', 'feed-tr');
TRUNCATE durable_sink.events, durable_sink.scopes RESTART IDENTITY;
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"after truncate"}', 'feed-tr', 'feed-tr');
COMMIT;
SELECT position, event_id, payload->>'message' AS message FROM durable_sink.read_all();
\c :regress_db
DROP DATABASE regress_ds_feed;
