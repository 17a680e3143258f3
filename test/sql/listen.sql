-- Live forwarding: NOTIFY on channel durable_sink, delivered at commit.
-- These cases send frames in the writing transaction (announce_after_commit
-- off), so they arrive with the command that commits; the announcer, which
-- sends them after commit, is tested in test/t/007_announcer.pl.  They run
-- in a database of their own with that setting, where no announcer sends
-- feed frames for other suites' events.
-- psql prints the sender's PID; the notifications are written to a file
-- in pg_regress's results directory and shown with the PID masked.
\pset null '(null)'
\getenv abs_builddir PG_ABS_BUILDDIR
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_listen;
ALTER DATABASE regress_ds_listen SET lc_messages = 'C';
ALTER DATABASE regress_ds_listen SET durable_sink.announce_after_commit = off;
\c regress_ds_listen
CREATE EXTENSION durable_sink;
LISTEN durable_sink;

-- emit announces every event, observed ones in compacted mode included,
-- with what it stored; a transaction that stored events and announced
-- also announces, at commit, the feed positions they got (contract §17),
-- so a consumer can wake up and read_all from there.
-- By default (durable_sink.announce_events = off)
-- a frame carries the event's type, not the event: any role that can
-- connect can LISTEN.
\o :abs_builddir/results/listen_1.txt
SELECT count(*) FROM durable_sink.emit('{"event_type":"run_start","thread_id":"tl","run_id":"rl"}', 'tl', 'rl');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":"hi"}', 'tl', 'rl');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":42}', 'tl', 'rl');
\o
\! sed -E 's/"(first|last)_position":[0-9]+/"\1_position":N/g; s/PID [0-9]+/PID N/; s/"event_id":[0-9]+/"event_id":N/' "$PG_ABS_BUILDDIR"/results/listen_1.txt

-- Two identical events in one transaction are two announcements (NOTIFY
-- would send identical payloads once: frame_no keeps them apart).
\o :abs_builddir/results/listen_1b.txt
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":"\n"}', 'tl', 'rl');
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":"\n"}', 'tl', 'rl');
COMMIT;
\o
\! sed -E 's/"(first|last)_position":[0-9]+/"\1_position":N/g; s/PID [0-9]+/PID N/' "$PG_ABS_BUILDDIR"/results/listen_1b.txt

-- durable_sink.announce_events = on is the opt-in to event bodies in frames
-- (superuser only: the bodies go to every role that can LISTEN).
SHOW durable_sink.announce_events;
SET durable_sink.announce_events = on;
\o :abs_builddir/results/listen_1c.txt
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"secret"}', 'tl', 'rl');
\o
\! sed -E 's/"(first|last)_position":[0-9]+/"\1_position":N/g; s/PID [0-9]+/PID N/; s/"event_id":[0-9]+/"event_id":N/' "$PG_ABS_BUILDDIR"/results/listen_1c.txt
CREATE ROLE listen_nobody;
SET ROLE listen_nobody;
SET durable_sink.announce_events = on;
RESET ROLE;
DROP ROLE listen_nobody;

-- Nothing is announced for a rolled-back transaction, and nothing when
-- announcing is switched off.
\o :abs_builddir/results/listen_2.txt
BEGIN;
SELECT count(*) FROM durable_sink.emit('{"event_type":"step_end"}', 'tl', 'rl');
ROLLBACK;
SELECT count(*) FROM durable_sink.emit('{"event_type":"step_end"}', 'tl', 'rl', announce => false);
SELECT 'no notification above' AS checked;
\o
\! sed -E 's/"(first|last)_position":[0-9]+/"\1_position":N/g; s/PID [0-9]+/PID N/' "$PG_ABS_BUILDDIR"/results/listen_2.txt

-- A frame too large for a NOTIFY payload is announced by reference.
\o :abs_builddir/results/listen_3.txt
SELECT count(*) FROM durable_sink.emit(jsonb_build_object('event_type', 'text_delta', 'delta', repeat('x', 10000)), 'tl', 'rl');
\o
RESET durable_sink.announce_events;
\! sed -E 's/"(first|last)_position":[0-9]+/"\1_position":N/g; s/PID [0-9]+/PID N/; s/"frame_id":[0-9]+/"frame_id":N/' "$PG_ABS_BUILDDIR"/results/listen_3.txt
SELECT frame->>'source' AS source, length(frame->'event'->>'delta') AS delta_length
FROM durable_sink.live_frames WHERE frame->>'thread_id' = 'tl' ORDER BY frame_id DESC LIMIT 1;
SELECT length(durable_sink.live_frame(max(frame_id))->'event'->>'delta')
FROM durable_sink.live_frames WHERE frame->>'thread_id' = 'tl';
-- Pruning deletes every old frame, other suites' too: rolled back.
BEGIN;
SELECT durable_sink.prune_live_frames('0 seconds') >= 1 AS pruned;
ROLLBACK;

-- Triggers: a multi-row insert announces each stream once (identical
-- payloads are sent once per transaction); the statement trigger
-- announces each stream once per statement, with its seq range.
CREATE TABLE raw_l (thread_id text, run_id text, event jsonb);
CREATE TRIGGER cap AFTER INSERT ON raw_l FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
\o :abs_builddir/results/listen_4.txt
INSERT INTO raw_l VALUES ('ta', 'ra', '{"event_type":"run_start","thread_id":"ta","run_id":"ra"}'),
                         ('ta', 'ra', '{"event_type":"text_delta","delta":"x"}'),
                         ('ta', 'ra', '{"event_type":"error","message":"m"}'),
                         ('tb', 'rb', '{"event_type":"step_end"}');
\o
\! sed -E 's/"(first|last)_position":[0-9]+/"\1_position":N/g; s/PID [0-9]+/PID N/' "$PG_ABS_BUILDDIR"/results/listen_4.txt
DROP TRIGGER cap ON raw_l;
CREATE TRIGGER cap AFTER INSERT ON raw_l REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
\o :abs_builddir/results/listen_5.txt
INSERT INTO raw_l VALUES ('ta', 'ra', '{"event_type":"error","message":"m2"}'),
                         ('ta', 'ra', '{"event_type":"text_delta","delta":"y"}'),
                         ('ta', 'ra', '{"event_type":"error","message":"m3"}'),
                         ('tb', 'rb', '{"event_type":"step_end"}');
\o
\! sed -E 's/"(first|last)_position":[0-9]+/"\1_position":N/g; s/PID [0-9]+/PID N/' "$PG_ABS_BUILDDIR"/results/listen_5.txt
UNLISTEN *;

\c :regress_db
DROP DATABASE regress_ds_listen;
