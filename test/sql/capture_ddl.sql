-- Contract §15: every way a capture trigger comes into being is checked at
-- DDL time, and DDL that would break one fails (instead of the
-- application's next INSERT).
SET client_min_messages = warning;
CREATE TABLE ddl_raw (thread_id text, run_id text, event jsonb, n int);

-- A constraint trigger cannot be a capture trigger.
CREATE CONSTRAINT TRIGGER k1 AFTER INSERT ON ddl_raw FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
CREATE CONSTRAINT TRIGGER k1 AFTER INSERT ON ddl_raw FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('evnt', 'thread_id', 'run_id', 'app', 'compacted');

-- Triggers created inside CREATE SCHEMA are checked like any other: bad
-- arguments, and a second capture trigger on one table.
CREATE SCHEMA ddl_s1
  CREATE TABLE raw (thread_id text, run_id text, event jsonb)
  CREATE TRIGGER a1 AFTER INSERT ON raw FOR EACH ROW
    EXECUTE FUNCTION durable_sink.capture('evnt', 'thread_id', 'run_id', 'app', 'compacted');
CREATE SCHEMA ddl_s2
  CREATE TABLE raw (thread_id text, run_id text, event jsonb)
  CREATE TRIGGER a1 AFTER INSERT ON raw FOR EACH ROW
    EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted')
  CREATE TRIGGER a2 AFTER INSERT ON raw FOR EACH ROW
    EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
SELECT count(*) AS schemas_created FROM pg_namespace WHERE nspname IN ('ddl_s1', 'ddl_s2');
CREATE SCHEMA ddl_s3
  CREATE TABLE raw (thread_id text, run_id text, event jsonb)
  CREATE TRIGGER a1 AFTER INSERT ON raw FOR EACH ROW
    EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'app', 'compacted');
INSERT INTO ddl_s3.raw VALUES ('t-ddl3', 'r-ddl3', '{"event_type":"error","message":"in a schema"}');
SELECT seq, event_kind FROM durable_sink.read('thread', 't-ddl3');
DROP SCHEMA ddl_s3 CASCADE;

-- ALTER TABLE that would break the capture trigger fails; other changes
-- pass.
CREATE TRIGGER capture AFTER INSERT ON ddl_raw REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
ALTER TABLE ddl_raw RENAME COLUMN event TO ev;
ALTER TABLE ddl_raw DROP COLUMN run_id;
ALTER TABLE ddl_raw ALTER COLUMN thread_id TYPE int USING 0;
ALTER TABLE ddl_raw ALTER COLUMN event TYPE json;
ALTER TABLE ddl_raw RENAME COLUMN n TO m;
ALTER TABLE ddl_raw ADD COLUMN extra text;
INSERT INTO ddl_raw (thread_id, run_id, event) VALUES ('t-ddl', 'r-ddl', '{"event_type":"error","message":"still captured"}');
SELECT seq, event_kind FROM durable_sink.read('thread', 't-ddl');

-- Disabling the capture trigger is allowed, with a warning.
ALTER TABLE ddl_raw DISABLE TRIGGER capture;
ALTER TABLE ddl_raw ENABLE TRIGGER capture;
DROP TABLE ddl_raw;

-- capture_table/uncapture_table check the caller's TRIGGER privilege before
-- they lock anything (an uncaptured table would otherwise stay locked by a
-- role that may not touch it, until its transaction ends).
CREATE TABLE ddl_payroll (thread_id text, run_id text, event jsonb);
CREATE ROLE regress_ddl_owner;
GRANT USAGE ON SCHEMA durable_sink TO regress_ddl_owner;
GRANT EXECUTE ON FUNCTION durable_sink.uncapture_table(regclass),
  durable_sink.capture_table(regclass, text, text, text, text, durable_sink.durability, text, boolean)
  TO regress_ddl_owner;
SET ROLE regress_ddl_owner;
SELECT * FROM durable_sink.uncapture_table('ddl_payroll');
SELECT * FROM durable_sink.capture_table('ddl_payroll', 'event', 'thread_id', 'run_id', 'app');
RESET ROLE;
DROP TABLE ddl_payroll;
REVOKE ALL ON SCHEMA durable_sink FROM regress_ddl_owner;
DROP OWNED BY regress_ddl_owner;
DROP ROLE regress_ddl_owner;
RESET client_min_messages;

-- A partition of a captured tree that loses its capture trigger warns; a
-- table outside any captured tree does not.
CREATE TABLE ddl_tree (k int, thread_id text, run_id text, event jsonb) PARTITION BY LIST (k);
CREATE TABLE ddl_tree_1 PARTITION OF ddl_tree FOR VALUES IN (1);
SELECT count(*) FROM durable_sink.capture_table('ddl_tree', 'event', 'thread_id', 'run_id', 'app');
DROP TRIGGER durable_sink_capture ON ddl_tree_1;
CREATE TABLE ddl_lone (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON ddl_lone REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
DROP TRIGGER capture ON ddl_lone;
DROP TABLE ddl_tree, ddl_lone;
