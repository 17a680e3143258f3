-- Capture of partitioned tables and inheritance trees (contract §15):
-- capture_table(), uncapture_table(), tables that join a captured tree
-- later, and the warning for trees captured by hand.  A statement trigger
-- fires only for statements on its own table, so every table of a tree
-- needs one.  Each part writes its own thread ids (tp-*); the store may
-- hold other suites' rows.
\pset null '(null)'

-- The capture triggers of this suite's tables, and what a thread captured.
CREATE TEMP VIEW capture_triggers AS
SELECT t.tgrelid::regclass AS table_name, t.tgname AS trigger_name, t.tgfoid::regproc AS function,
       replace(encode(t.tgargs, 'escape'), '\000', ',') AS arguments
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE t.tgfoid IN ('durable_sink.capture'::regproc, 'durable_sink.capture_statement'::regproc)
  AND c.relname ~ '^(pr|ir|hp|hi|hw)(_|$)';
CREATE FUNCTION pg_temp.ev(message text) RETURNS jsonb LANGUAGE sql
  RETURN jsonb_build_object('event_type', 'error', 'message', message);
CREATE FUNCTION pg_temp.captured(thread text) RETURNS TABLE (seq bigint, message text, origin text)
  LANGUAGE sql AS $$ SELECT seq, payload->>'message', origin FROM durable_sink.read('thread', thread) $$;
-- Every raw row of the thread in raw (with its partitions or children)
-- captured exactly once: rows captured, distinct messages, raw rows.
CREATE FUNCTION pg_temp.tally(raw regclass, thread text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  raw_rows bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s WHERE thread_id = $1', raw) INTO raw_rows USING thread;
  RETURN (SELECT format('%s raw rows, %s captured, %s distinct', raw_rows, count(*),
                        count(DISTINCT payload->>'message'))
          FROM durable_sink.events WHERE thread_id = thread);
END $$;
CREATE FUNCTION pg_temp.try(command text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE command;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- A three-level partitioned table, captured as a whole.
CREATE TABLE pr (k int, thread_id text, run_id text, event jsonb) PARTITION BY RANGE (k);
CREATE TABLE pr_1 PARTITION OF pr FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (k);
CREATE TABLE pr_1a PARTITION OF pr_1 FOR VALUES FROM (0) TO (50);
CREATE TABLE pr_1b PARTITION OF pr_1 FOR VALUES FROM (50) TO (100);
CREATE TABLE pr_2 PARTITION OF pr FOR VALUES FROM (100) TO (200);
SELECT * FROM durable_sink.capture_table('pr', 'event', 'thread_id', 'run_id', 'parts');
SELECT * FROM capture_triggers ORDER BY table_name::text COLLATE "C";

-- INSERT and COPY into the root (routed to partitions at both levels),
-- straight into leaves, and into the middle level: each row once, in order.
INSERT INTO pr VALUES (1, 'tp-tree', 'rp', pg_temp.ev('root 1')), (60, 'tp-tree', 'rp', pg_temp.ev('root 2')),
                      (150, 'tp-tree', 'rp', pg_temp.ev('root 3'));
COPY pr FROM STDIN;
2	tp-tree	rp	{"event_type":"error","message":"root copy 1"}
160	tp-tree	rp	{"event_type":"error","message":"root copy 2"}
\.
INSERT INTO pr_1a VALUES (3, 'tp-tree', 'rp', pg_temp.ev('leaf 1'));
COPY pr_1b FROM STDIN;
61	tp-tree	rp	{"event_type":"error","message":"leaf copy 1"}
62	tp-tree	rp	{"event_type":"error","message":"leaf copy 2"}
\.
INSERT INTO pr_1 VALUES (4, 'tp-tree', 'rp', pg_temp.ev('middle 1')), (63, 'tp-tree', 'rp', pg_temp.ev('middle 2'));
INSERT INTO pr_2 SELECT 100 + g, 'tp-tree', 'rp', pg_temp.ev('leaf bulk ' || g) FROM generate_series(1, 3) g;
-- An UPDATE that moves a row to another partition inserts no event.
UPDATE pr SET k = 170 WHERE k = 1;
SELECT * FROM pg_temp.captured('tp-tree');
SELECT pg_temp.tally('pr', 'tp-tree');

-- Tables that join the tree later get the same trigger, at every level: a
-- new partition, a new sub-partitioned one and its partition, an existing
-- table attached (its columns in other positions: a dropped column), an
-- attached partitioned table with its partition, a partition created by
-- CREATE SCHEMA.  A table with a capture trigger of its own keeps it.
CREATE TABLE pr_3 PARTITION OF pr FOR VALUES FROM (300) TO (400);
CREATE TABLE pr_4 PARTITION OF pr FOR VALUES FROM (400) TO (500) PARTITION BY LIST (thread_id);
CREATE TABLE pr_4a PARTITION OF pr_4 FOR VALUES IN ('tp-tree');
CREATE TABLE pr_5 (junk int, k int, thread_id text, run_id text, event jsonb);
ALTER TABLE pr_5 DROP COLUMN junk;
ALTER TABLE pr ATTACH PARTITION pr_5 FOR VALUES FROM (500) TO (600);
CREATE TABLE pr_6 (k int, thread_id text, run_id text, event jsonb) PARTITION BY RANGE (k);
CREATE TABLE pr_6a PARTITION OF pr_6 FOR VALUES FROM (600) TO (700);
ALTER TABLE pr ATTACH PARTITION pr_6 FOR VALUES FROM (600) TO (700);
CREATE SCHEMA parts_elsewhere CREATE TABLE pr_7 PARTITION OF public.pr FOR VALUES FROM (700) TO (800);
CREATE TABLE pr_8 (k int, thread_id text, run_id text, event jsonb);
CREATE TRIGGER own AFTER INSERT ON pr_8 REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'own', 'compacted');
ALTER TABLE pr ATTACH PARTITION pr_8 FOR VALUES FROM (800) TO (900);
SELECT * FROM capture_triggers ORDER BY table_name::text COLLATE "C";
INSERT INTO pr SELECT k, 'tp-tree', 'rp', pg_temp.ev('root to ' || k) FROM unnest(ARRAY[301, 401, 501, 601, 701, 801]) k;
INSERT INTO pr_3 VALUES (302, 'tp-tree', 'rp', pg_temp.ev('new leaf'));
INSERT INTO pr_4 VALUES (402, 'tp-tree', 'rp', pg_temp.ev('new middle'));
INSERT INTO pr_4a VALUES (403, 'tp-tree', 'rp', pg_temp.ev('new middle''s leaf'));
COPY pr_5 (thread_id, event, k, run_id) FROM STDIN;
tp-tree	{"event_type":"error","message":"attached"}	502	rp
\.
INSERT INTO pr_6a VALUES (602, 'tp-tree', 'rp', pg_temp.ev('attached tree''s leaf'));
INSERT INTO parts_elsewhere.pr_7 VALUES (702, 'tp-tree', 'rp', pg_temp.ev('created by CREATE SCHEMA'));
INSERT INTO pr_8 VALUES (802, 'tp-tree', 'rp', pg_temp.ev('own trigger'));
SELECT * FROM pg_temp.captured('tp-tree') WHERE seq > 12;
SELECT pg_temp.tally('pr', 'tp-tree');

-- DETACH leaves the trigger on the detached table: rows written to it are
-- still captured, once.
ALTER TABLE pr DETACH PARTITION pr_5;
INSERT INTO pr_5 VALUES (503, 'tp-detached', 'rp', pg_temp.ev('detached'));
SELECT * FROM pg_temp.captured('tp-detached');

-- A table that could not be captured cannot join a captured tree, nor
-- one whose row trigger capture() would refuse to fire on a partition.
CREATE FOREIGN DATA WRAPPER ds_parts_fdw;
CREATE SERVER ds_parts_server FOREIGN DATA WRAPPER ds_parts_fdw;
CREATE FOREIGN TABLE pr_f PARTITION OF pr FOR VALUES FROM (900) TO (1000) SERVER ds_parts_server;
CREATE FOREIGN TABLE pr_f (k int, thread_id text, run_id text, event jsonb) SERVER ds_parts_server;
ALTER TABLE pr ATTACH PARTITION pr_f FOR VALUES FROM (900) TO (1000);
CREATE TABLE pr_r (k int, thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture_rows AFTER INSERT ON pr_r FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'rows', 'compacted');
ALTER TABLE pr ATTACH PARTITION pr_r FOR VALUES FROM (900) TO (1000);
DROP TABLE pr_r;
CREATE TABLE hw (k int, thread_id text, run_id text, event jsonb) PARTITION BY LIST (k);
CREATE TRIGGER capture AFTER INSERT ON hw REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  WHEN (pg_catalog.pg_trigger_depth() < 5)
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'when', 'compacted');
CREATE TABLE hw_1 PARTITION OF hw FOR VALUES IN (1);
-- Nor can a member leave it while its parent is captured.
SELECT * FROM durable_sink.uncapture_table('pr_1');
SELECT * FROM capture_triggers WHERE table_name::text ~ '^(pr_f|hw)' ORDER BY table_name::text COLLATE "C";

-- Inheritance: an INSERT into the parent inserts into the parent only; the
-- children need their own trigger, and children added later get it.
CREATE TABLE ir (thread_id text, run_id text, event jsonb);
CREATE TABLE ir_1 (note text) INHERITS (ir);
CREATE TABLE ir_1x () INHERITS (ir_1);
SELECT * FROM durable_sink.capture_table('ir', 'event', 'thread_id', 'run_id', 'inherit',
                                         'full_fidelity', 'thread_id', announce => false);
CREATE TABLE ir_2 () INHERITS (ir);
CREATE TABLE ir_3 (run_id text, event jsonb, thread_id text);
ALTER TABLE ir_3 INHERIT ir;
SELECT * FROM capture_triggers WHERE table_name::text LIKE 'ir%' ORDER BY table_name::text COLLATE "C";
INSERT INTO ir VALUES ('tp-inherit', 'rp', pg_temp.ev('parent'));
INSERT INTO ir_1 VALUES ('tp-inherit', 'rp', pg_temp.ev('child'), 'n');
COPY ir_1x (thread_id, run_id, event) FROM STDIN;
tp-inherit	rp	{"event_type":"error","message":"grandchild"}
\.
INSERT INTO ir_2 VALUES ('tp-inherit', 'rp', pg_temp.ev('later child'));
INSERT INTO ir_3 VALUES ('rp', pg_temp.ev('later INHERIT'), 'tp-inherit');
SELECT * FROM pg_temp.captured('tp-inherit');
SELECT pg_temp.tally('ir', 'tp-inherit');
SELECT DISTINCT correlation_id, origin FROM durable_sink.events WHERE thread_id = 'tp-inherit';

-- A tree captured by hand with CREATE TRIGGER on the parent only: rows
-- inserted straight into a partition would be lost, so CREATE TRIGGER
-- warns (a warning, since pg_dump restores a tree's triggers one by one).
CREATE TABLE hp (k int, thread_id text, run_id text, event jsonb) PARTITION BY LIST (k);
CREATE TABLE hp_1 PARTITION OF hp FOR VALUES IN (1);
CREATE TABLE hp_2 PARTITION OF hp FOR VALUES IN (2) PARTITION BY LIST (k);
CREATE TABLE hp_2a PARTITION OF hp_2 FOR VALUES IN (2);
CREATE TRIGGER capture AFTER INSERT ON hp REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'hand', 'compacted');
CREATE TRIGGER capture AFTER INSERT ON hp_2 REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'hand', 'compacted');
INSERT INTO hp VALUES (1, 'tp-hand', 'rp', pg_temp.ev('hand root'));
INSERT INTO hp_1 VALUES (1, 'tp-hand', 'rp', pg_temp.ev('hand leaf: lost'));
-- A partition created now gets the parent's trigger (same name, arguments).
CREATE TABLE hp_3 PARTITION OF hp FOR VALUES IN (3);
SELECT * FROM capture_triggers WHERE table_name::text LIKE 'hp%' ORDER BY table_name::text COLLATE "C";
-- capture_table() completes the tree, replacing the hand-made triggers.
SELECT * FROM durable_sink.capture_table('hp', 'event', 'thread_id', 'run_id', 'hand');
SELECT * FROM capture_triggers WHERE table_name::text LIKE 'hp%' ORDER BY table_name::text COLLATE "C";
INSERT INTO hp_1 VALUES (1, 'tp-hand', 'rp', pg_temp.ev('hand leaf: captured'));
SELECT * FROM pg_temp.captured('tp-hand');
-- The same for an inheritance parent with the row trigger: a new child gets
-- the row trigger.
CREATE TABLE hi (thread_id text, run_id text, event jsonb);
CREATE TABLE hi_1 () INHERITS (hi);
CREATE TRIGGER capture_rows AFTER INSERT ON hi FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'hand-row', 'compacted');
CREATE TABLE hi_2 () INHERITS (hi);
SELECT * FROM capture_triggers WHERE table_name::text LIKE 'hi%' ORDER BY table_name::text COLLATE "C";

-- uncapture_table() removes the triggers of the whole tree (not of the
-- detached table); then nothing is captured, nor given to new partitions.
SELECT * FROM durable_sink.uncapture_table('pr');
SELECT * FROM capture_triggers WHERE table_name::text LIKE '%pr%' ORDER BY table_name::text COLLATE "C";
INSERT INTO pr VALUES (5, 'tp-uncaptured', 'rp', pg_temp.ev('root'));
INSERT INTO pr_1a VALUES (6, 'tp-uncaptured', 'rp', pg_temp.ev('leaf'));
CREATE TABLE pr_9 PARTITION OF pr FOR VALUES FROM (1000) TO (1100);
INSERT INTO pr_9 VALUES (1001, 'tp-uncaptured', 'rp', pg_temp.ev('new leaf'));
SELECT count(*) AS captured FROM durable_sink.events WHERE thread_id = 'tp-uncaptured';
SELECT * FROM durable_sink.uncapture_table('ir');
SELECT * FROM durable_sink.uncapture_table('ir');

-- Bad arguments: errors naming the argument or the table, before any DDL.
SELECT pg_temp.try($$SELECT durable_sink.capture_table(NULL, 'event', 'thread_id', 'run_id', 'x')$$) AS null_table;
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr', 'event', 'thread_id', 'run_id', 'x', NULL)$$) AS null_mode;
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr', 'event', 'thread_id', 'run_id', 'x', announce => NULL)$$) AS null_announce;
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr', 'evt', 'thread_id', 'run_id', 'x')$$) AS unknown_column;
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr', 'k', 'thread_id', 'run_id', 'x')$$) AS event_not_jsonb;
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr', 'event', 'thread_id', 'run_id', ' ')$$) AS blank_origin;
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr', 'event', 'thread_id', 'run_id', 'x', correlation_id_column => 'nope')$$) AS bad_correlation;
CREATE VIEW pr_view AS SELECT * FROM pr;
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr_view', 'event', 'thread_id', 'run_id', 'x')$$) AS a_view;
SELECT pg_temp.try($$SELECT durable_sink.uncapture_table('pr_view')$$) AS uncapture_view;
SELECT pg_temp.try($$SELECT durable_sink.uncapture_table(NULL)$$) AS uncapture_null;
ALTER TABLE pr ATTACH PARTITION pr_f FOR VALUES FROM (900) TO (1000);
SELECT pg_temp.try($$SELECT durable_sink.capture_table('pr', 'event', 'thread_id', 'run_id', 'x')$$) AS foreign_partition;
SELECT count(*) AS capture_triggers_left FROM capture_triggers WHERE table_name::text LIKE 'pr%' AND table_name::text <> 'pr_5';

-- Privileges: nothing for PUBLIC; a table owner with EXECUTE on
-- capture_table() and capture_statement() captures its own tree, and
-- creating a partition of a captured table needs EXECUTE on the latter.
SELECT has_function_privilege('public', 'durable_sink.capture_table(regclass,text,text,text,text,durable_sink.durability,text,boolean)', 'EXECUTE') AS public_capture_table,
       has_function_privilege('public', 'durable_sink.uncapture_table(regclass)', 'EXECUTE') AS public_uncapture_table,
       has_function_privilege('public', 'durable_sink.capture_new_partitions()', 'EXECUTE') AS public_new_partitions;
CREATE ROLE regress_ds_parts;
GRANT USAGE ON SCHEMA durable_sink TO regress_ds_parts;
GRANT CREATE ON SCHEMA public TO regress_ds_parts;
GRANT EXECUTE ON FUNCTION durable_sink.capture_table(regclass,text,text,text,text,durable_sink.durability,text,boolean),
                          durable_sink.capture_statement() TO regress_ds_parts;
SET ROLE regress_ds_parts;
CREATE TABLE pr_owned (k int, thread_id text, run_id text, event jsonb) PARTITION BY LIST (k);
CREATE TABLE pr_owned_1 PARTITION OF pr_owned FOR VALUES IN (1);
SELECT * FROM durable_sink.capture_table('pr_owned', 'event', 'thread_id', 'run_id', 'owner');
CREATE TABLE pr_owned_2 PARTITION OF pr_owned FOR VALUES IN (2);
INSERT INTO pr_owned VALUES (1, 'tp-owned', 'rp', pg_temp.ev('routed')), (2, 'tp-owned', 'rp', pg_temp.ev('routed'));
INSERT INTO pr_owned_2 VALUES (2, 'tp-owned', 'rp', pg_temp.ev('direct'));
RESET ROLE;
REVOKE EXECUTE ON FUNCTION durable_sink.capture_statement() FROM regress_ds_parts;
SET ROLE regress_ds_parts;
SELECT pg_temp.try($$CREATE TABLE pr_owned_3 PARTITION OF pr_owned FOR VALUES IN (3)$$) AS without_execute;
RESET ROLE;
SELECT * FROM pg_temp.captured('tp-owned');
DROP TABLE pr_owned;
REVOKE ALL ON SCHEMA durable_sink FROM regress_ds_parts;
REVOKE ALL ON SCHEMA public FROM regress_ds_parts;
REVOKE ALL ON FUNCTION durable_sink.capture_table(regclass,text,text,text,text,durable_sink.durability,text,boolean) FROM regress_ds_parts;
DROP ROLE regress_ds_parts;

DROP TABLE pr, pr_5, ir, hp, hi, hw CASCADE;
DROP SCHEMA parts_elsewhere;
DROP SERVER ds_parts_server;
DROP FOREIGN DATA WRAPPER ds_parts_fdw;
