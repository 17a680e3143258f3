-- Schema durable_sink belongs to the extension (1.1): CREATE EXTENSION
-- refuses a schema of that name that already exists and creates nothing,
-- DROP EXTENSION removes the schema with its grants.  The event trigger
-- that checks capture triggers leaves ordinary CREATE TRIGGER alone.
-- (The suites start with the extension installed; this one drops and
-- re-creates it, and ends with it installed as by a fresh CREATE EXTENSION.)
\pset null '(null)'

-- The event trigger fires for every CREATE TRIGGER, by any role, and needs
-- no grant.  A role with no privilege on the extension creates an ordinary
-- trigger on its own table.
CREATE ROLE regress_ds_plain;
CREATE ROLE regress_ds_capturer;
GRANT CREATE ON SCHEMA public TO regress_ds_plain, regress_ds_capturer;
SELECT has_schema_privilege('regress_ds_plain', 'durable_sink', 'USAGE') AS usage,
       has_function_privilege('regress_ds_plain', 'durable_sink.check_capture_trigger()', 'EXECUTE') AS execute_check;
SET ROLE regress_ds_plain;
CREATE TABLE plain_table (x integer);
CREATE FUNCTION plain_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER plain AFTER INSERT ON plain_table FOR EACH ROW EXECUTE FUNCTION plain_trigger();
CREATE TRIGGER plain_statement AFTER INSERT ON plain_table REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION plain_trigger();
INSERT INTO plain_table VALUES (1);
RESET ROLE;

-- A role with EXECUTE on capture_statement() (and USAGE) creates a capture
-- trigger on its own table; the event trigger checks it (a second capture
-- trigger, a wrong column) as that role, with no further grant.
GRANT USAGE ON SCHEMA durable_sink TO regress_ds_capturer;
GRANT EXECUTE ON FUNCTION durable_sink.capture_statement() TO regress_ds_capturer;
SET ROLE regress_ds_capturer;
CREATE TABLE capturer_raw (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON capturer_raw REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
CREATE TRIGGER capture_again AFTER INSERT ON capturer_raw REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
CREATE TABLE capturer_other (thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON capturer_other REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('payload', 'thread_id', 'run_id', 'app', 'compacted');
INSERT INTO capturer_raw VALUES ('ext-t', 'ext-r', '{"event_type":"error","message":"captured"}');
RESET ROLE;
SELECT event_kind, payload->>'message' AS message FROM durable_sink.events WHERE thread_id = 'ext-t';
SELECT tgrelid::regclass AS "table", tgname FROM pg_trigger
WHERE tgrelid IN ('plain_table'::regclass, 'capturer_raw'::regclass, 'capturer_other'::regclass)
ORDER BY 1, 2;

DROP TABLE plain_table, capturer_raw, capturer_other;
DROP FUNCTION plain_trigger();
REVOKE CREATE ON SCHEMA public FROM regress_ds_plain, regress_ds_capturer;
DROP ROLE regress_ds_plain;

-- The schema is a member of the extension, which is recorded in pg_catalog.
CREATE VIEW extension_schema AS
SELECT e.extnamespace::regnamespace AS extension_recorded_in,
       (SELECT string_agg(d.deptype::text, ',') FROM pg_depend d
        WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
          AND d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid) AS schema_deptype,
       (SELECT string_agg(a.grantee::regrole::text || ':' || a.privilege_type, ',')
        FROM aclexplode(n.nspacl) a WHERE a.grantee <> n.nspowner) AS schema_grants
FROM pg_extension e, pg_namespace n
WHERE e.extname = 'durable_sink' AND n.nspname = 'durable_sink';
SELECT * FROM extension_schema;

-- DROP EXTENSION removes the schema and the grants on it and in it.
CREATE ROLE regress_ds_grantee;
GRANT USAGE ON SCHEMA durable_sink TO regress_ds_grantee;
GRANT EXECUTE ON FUNCTION durable_sink.read(text, text, bigint, integer) TO regress_ds_grantee;
SELECT count(*) AS grants FROM pg_shdepend
WHERE refobjid = 'regress_ds_grantee'::regrole
  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database());
SET client_min_messages = warning;
DROP EXTENSION durable_sink CASCADE;
RESET client_min_messages;
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'durable_sink';
SELECT count(*) AS event_triggers FROM pg_event_trigger WHERE evtname LIKE 'durable_sink%';
SELECT count(*) AS grants FROM pg_shdepend
WHERE refobjid = 'regress_ds_grantee'::regrole
  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database());
DROP ROLE regress_ds_grantee;

-- CREATE EXTENSION fails when another role already created a schema
-- durable_sink (it could hold objects or grants of that role), and creates
-- nothing.
DO $$ BEGIN
  EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_ds_capturer', current_database());
END $$;
SET ROLE regress_ds_capturer;
CREATE SCHEMA durable_sink;
CREATE TABLE durable_sink.events (event_id bigint);
RESET ROLE;
CREATE EXTENSION durable_sink;
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'durable_sink';
SELECT count(*) AS event_triggers FROM pg_event_trigger WHERE evtname LIKE 'durable_sink%';
SELECT pg_describe_object(classid, objid, objsubid) AS object_in_schema,
       pg_get_userbyid(CASE classid WHEN 'pg_class'::regclass THEN (SELECT relowner FROM pg_class WHERE oid = objid)
                                    WHEN 'pg_type'::regclass THEN (SELECT typowner FROM pg_type WHERE oid = objid) END) AS owner
FROM pg_depend
WHERE refclassid = 'pg_namespace'::regclass AND refobjid = 'durable_sink'::regnamespace
ORDER BY 1;
SELECT count(*) AS functions FROM pg_proc WHERE proname IN ('emit', 'normalize_many', 'check_capture_trigger');
DROP SCHEMA durable_sink CASCADE;
DO $$ BEGIN
  EXECUTE format('REVOKE CREATE ON DATABASE %I FROM regress_ds_capturer', current_database());
END $$;
DROP OWNED BY regress_ds_capturer;
DROP ROLE regress_ds_capturer;

-- Without the squatter, CREATE EXTENSION works again: the schema is a
-- member again, with no grant left over from before.
CREATE EXTENSION durable_sink;
SELECT * FROM extension_schema;
SELECT count(*) AS event_triggers FROM pg_event_trigger WHERE evtname = 'durable_sink_check_capture_trigger';
DROP VIEW extension_schema;
