-- durable_sink 1.0: agent-runtime events in, canonical event drafts out.
-- Every name below is schema-qualified; the C functions qualify their own
-- SQL too, so nothing here depends on the caller's search_path.

\echo Use "CREATE EXTENSION durable_sink" to load this file. \quit

-- SPEC §4/§10 enums.
CREATE TYPE durable_sink.fidelity_class AS ENUM (
    'observed_runtime_event',
    'committed_runtime_event',
    'domain_event',
    'control_event'
);

CREATE TYPE durable_sink.visibility AS ENUM (
    'public',
    'internal',
    'audit',
    'sensitive'
);

CREATE TYPE durable_sink.durability AS ENUM (
    'disabled',
    'compacted',
    'full_fidelity'
);

-- SPEC §4: the canonical event draft (column order is binding).
CREATE TYPE durable_sink.canonical_event_draft AS (
    fidelity        durable_sink.fidelity_class,
    event_kind      text,
    scopes          jsonb,
    thread_id       text,
    run_id          text,
    payload         jsonb,
    causation_id    text,
    correlation_id  text,
    origin          text,
    visibility      durable_sink.visibility,
    schema_version  integer
);

-- SPEC §6: per-run lifecycle state.  Keyed by the SHA-256 of the run id so
-- that ids of any length can be indexed (a btree entry is limited to ~2.7 kB).
CREATE TABLE durable_sink.run_state (
    run_key     bytea   PRIMARY KEY,
    run_id      text    NOT NULL,
    starts      bigint  NOT NULL,           -- run_start events seen; 0 = not known
    finished    boolean NOT NULL,           -- current activation finished
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE durable_sink.run_state IS
    'Per-run lifecycle state (SPEC §6): starts > 0 means the run is known; finished refers to the current activation. run_key = sha256(run_id).';

-- SPEC §8: per-thread compaction observation: T, the in-flight compaction
-- and the four fingerprint sets, stored as one array of SHA-256 digests of
-- '<set>', a zero byte, '<fingerprint>' (sets: completed, failed, skipped,
-- cancelled).
CREATE TABLE durable_sink.compaction_state (
    thread_key                       bytea   PRIMARY KEY,
    thread_id                        text    NOT NULL,
    total_compactions                numeric NOT NULL DEFAULT 0,   -- T
    in_flight_task_id                text,
    in_flight_boundary_message_id    text,
    fingerprints                     bytea[] NOT NULL DEFAULT '{}',
    updated_at                       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (in_flight_boundary_message_id IS NULL OR in_flight_task_id IS NOT NULL)
);
COMMENT ON TABLE durable_sink.compaction_state IS
    'Per-thread context-compaction observation (SPEC §8). thread_key = sha256(thread_id); fingerprints = sha256(set || NUL || fingerprint) of every fact announced since the last reset.';

-- pg_dump keeps the contents of extension-owned state tables.
SELECT pg_catalog.pg_extension_config_dump('durable_sink.run_state', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.compaction_state', '');

-- SPEC §10.  Plain SQL so the planner can inline it.
CREATE FUNCTION durable_sink.should_persist(mode durable_sink.durability,
                                            fidelity durable_sink.fidelity_class)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN mode OPERATOR(pg_catalog.=) 'full_fidelity'::durable_sink.durability
    OR (mode OPERATOR(pg_catalog.=) 'compacted'::durable_sink.durability
        AND fidelity OPERATOR(pg_catalog.<>) 'observed_runtime_event'::durable_sink.fidelity_class);

-- SPEC §5/§6/§11.  Not STRICT: a NULL argument is an error (SPEC §9).
CREATE FUNCTION durable_sink.normalize(event jsonb, thread_id text, run_id text,
                                       origin text DEFAULT 'server',
                                       correlation_id text DEFAULT NULL,
                                       resumed boolean DEFAULT false)
RETURNS durable_sink.canonical_event_draft
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_normalize';

-- SPEC §5–§8/§11.
CREATE FUNCTION durable_sink.normalize_many(event jsonb, thread_id text, run_id text,
                                            origin text DEFAULT 'server',
                                            correlation_id text DEFAULT NULL,
                                            resumed boolean DEFAULT false)
RETURNS SETOF durable_sink.canonical_event_draft
LANGUAGE c VOLATILE PARALLEL UNSAFE ROWS 2
AS 'MODULE_PATHNAME', 'durable_sink_normalize_many';

-- SPEC §4: validate a draft built by hand; returns it with thread_id/run_id
-- derived from scopes.
CREATE FUNCTION durable_sink.validate_draft(draft durable_sink.canonical_event_draft)
RETURNS durable_sink.canonical_event_draft
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'durable_sink_validate_draft';

-- Privileges.  The schema grants no USAGE to PUBLIC, and the functions that
-- change state are not executable by PUBLIC either: an application role gets
-- them by explicit GRANT (README, "Privileges").  The state tables are only
-- ever written by the C code, which switches to the extension owner for that
-- access (src/state_access.c), so callers need no privileges on them.
REVOKE ALL ON durable_sink.run_state, durable_sink.compaction_state FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    durable_sink.normalize(jsonb, text, text, text, text, boolean),
    durable_sink.normalize_many(jsonb, text, text, text, text, boolean)
FROM PUBLIC;
