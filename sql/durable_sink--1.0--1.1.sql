-- durable_sink 1.0 -> 1.1.  Run by ALTER EXTENSION durable_sink UPDATE.
-- "contract §N" is a section of docs/CONTRACT.md.

\echo Use "ALTER EXTENSION durable_sink UPDATE TO '1.1'" to load this file. \quit

-- 1.0 named durable_sink as the extension's schema in its control file, so
-- CREATE EXTENSION created the schema outside the extension (DROP EXTENSION
-- left it behind) or silently used one that already existed.  From 1.1 the
-- install script creates the schema as a member, and the extension's own
-- schema is pg_catalog, as for pg_cron.  PostgreSQL cannot make the schema
-- that holds an extension a member of it, so move the extension's record to
-- pg_catalog first (pg_catalog is pinned: no dependency row is needed).
-- Only a schema owned by the extension's owner is adopted.
DO $update$
DECLARE
    ext_oid   oid;
    ext_owner oid;
    schema_owner oid;
BEGIN
    SELECT e.oid, e.extowner INTO ext_oid, ext_owner
    FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'durable_sink';
    SELECT n.nspowner INTO schema_owner
    FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'durable_sink';
    IF schema_owner OPERATOR(pg_catalog.<>) ext_owner THEN
        RAISE EXCEPTION 'schema durable_sink is owned by role %, not by the extension''s owner %',
            schema_owner::pg_catalog.regrole, ext_owner::pg_catalog.regrole
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Check the schema''s contents, then ALTER SCHEMA durable_sink OWNER TO the extension''s owner and update again.';
    END IF;
    DELETE FROM pg_catalog.pg_depend d
    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
      AND d.objid OPERATOR(pg_catalog.=) ext_oid
      AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
      AND d.refobjid OPERATOR(pg_catalog.=) 'durable_sink'::pg_catalog.regnamespace;
    UPDATE pg_catalog.pg_extension e
    SET extnamespace = 'pg_catalog'::pg_catalog.regnamespace
    WHERE e.oid OPERATOR(pg_catalog.=) ext_oid;
END
$update$;
ALTER EXTENSION durable_sink ADD SCHEMA durable_sink;

-- Capture triggers are checked when they are created (contract §15).
CREATE FUNCTION durable_sink.check_capture_trigger()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'durable_sink_check_capture_trigger';

CREATE EVENT TRIGGER durable_sink_check_capture_trigger ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER')
    EXECUTE FUNCTION durable_sink.check_capture_trigger();

REVOKE EXECUTE ON FUNCTION durable_sink.check_capture_trigger() FROM PUBLIC;

-- The table comments name the contract as in the 1.1 install script (1.0
-- said "SPEC"); test/t/003_upgrade.pl compares an updated and a fresh 1.1.
COMMENT ON TABLE durable_sink.run_state IS
    'Per-run lifecycle state (contract §6): starts > 0 means the run is known; finished refers to the current activation. run_key = sha256(run_id).';

-- Compaction fingerprints move from one array per thread (rewritten whole on
-- every change) to a table with one row per fact (contract §8).
CREATE TABLE durable_sink.compaction_fingerprints (
    thread_key  bytea   NOT NULL,           -- compaction_state.thread_key
    digest      bytea   NOT NULL,
    PRIMARY KEY (thread_key, digest)
);
COMMENT ON TABLE durable_sink.compaction_fingerprints IS
    'Fingerprints of the compaction facts announced per thread (contract §8): digest = sha256(set || NUL || fingerprint).';
INSERT INTO durable_sink.compaction_fingerprints (thread_key, digest)
SELECT DISTINCT c.thread_key, f.digest
FROM durable_sink.compaction_state c, pg_catalog.unnest(c.fingerprints) AS f(digest);
ALTER TABLE durable_sink.compaction_state DROP COLUMN fingerprints;
COMMENT ON TABLE durable_sink.compaction_state IS
    'Per-thread context-compaction observation (contract §8): T and the in-flight compaction. thread_key = sha256(thread_id).';
SELECT pg_catalog.pg_extension_config_dump('durable_sink.compaction_fingerprints', '');
REVOKE ALL ON durable_sink.compaction_fingerprints FROM PUBLIC;
