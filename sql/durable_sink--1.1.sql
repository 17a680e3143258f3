-- durable_sink 1.1: agent-runtime events in, canonical event drafts out.
-- Every name below is schema-qualified; the C functions qualify their own
-- SQL too, so nothing here depends on the caller's search_path.
-- "contract §N" is a section of docs/CONTRACT.md.

\echo Use "CREATE EXTENSION durable_sink" to load this file. \quit

-- The extension's own schema, created here so that it is a member of the
-- extension (DROP EXTENSION drops it) and so that CREATE EXTENSION fails
-- when a schema of that name already exists: a schema someone else created
-- could hold objects or privileges of theirs.  (The control file names
-- pg_catalog as the extension's schema, as pg_cron does.)
CREATE SCHEMA durable_sink;

-- contract §4/§10 enums.
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

-- contract §4: the canonical event draft (column order is binding).
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

-- contract §6: per-run lifecycle state.  Keyed by the SHA-256 of the run id so
-- that ids of any length can be indexed (a btree entry is limited to ~2.7 kB).
CREATE TABLE durable_sink.run_state (
    run_key     bytea   PRIMARY KEY,
    run_id      text    NOT NULL,
    starts      bigint  NOT NULL,           -- run_start events seen; 0 = not known
    finished    boolean NOT NULL,           -- current activation finished
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE durable_sink.run_state IS
    'Per-run lifecycle state (contract §6): starts > 0 means the run is known; finished refers to the current activation. run_key = sha256(run_id).';

-- Contract §8: per-thread compaction observation: T and the in-flight
-- compaction, one row per thread.  Snapshots of a thread lock its row (FOR
-- UPDATE, src/compaction_state.c) and write it only when T or the
-- in-flight compaction change.
CREATE TABLE durable_sink.compaction_state (
    thread_key                       bytea   PRIMARY KEY,
    thread_id                        text    NOT NULL,
    total_compactions                numeric NOT NULL DEFAULT 0,   -- T
    in_flight_task_id                text,
    in_flight_boundary_message_id    text,
    updated_at                       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (in_flight_boundary_message_id IS NULL OR in_flight_task_id IS NOT NULL)
);
COMMENT ON TABLE durable_sink.compaction_state IS
    'Per-thread context-compaction observation (contract §8): T and the in-flight compaction. thread_key = sha256(thread_id).';

-- The four fingerprint sets of contract §8 (completed, failed, skipped,
-- cancelled), one row per fact announced since the thread's last reset:
-- digest = sha256(set || NUL || fingerprint).  A snapshot looks up only the
-- fingerprints it carries and inserts only the new ones.
CREATE TABLE durable_sink.compaction_fingerprints (
    thread_key  bytea   NOT NULL,           -- compaction_state.thread_key
    digest      bytea   NOT NULL,
    PRIMARY KEY (thread_key, digest)
);
COMMENT ON TABLE durable_sink.compaction_fingerprints IS
    'Fingerprints of the compaction facts announced per thread (contract §8): digest = sha256(set || NUL || fingerprint).';

-- pg_dump keeps the contents of extension-owned state tables.
SELECT pg_catalog.pg_extension_config_dump('durable_sink.run_state', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.compaction_state', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.compaction_fingerprints', '');

-- contract §10: what each durability mode keeps.  The same C function the
-- sink uses (src/durability.c), so the rule lives in one place.
CREATE FUNCTION durable_sink.should_persist(mode durable_sink.durability,
                                            fidelity durable_sink.fidelity_class)
RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'durable_sink_should_persist';

-- contract §5/§6/§11.  Not STRICT: a NULL argument is an error (contract §9).
CREATE FUNCTION durable_sink.normalize(event jsonb, thread_id text, run_id text,
                                       origin text DEFAULT 'server',
                                       correlation_id text DEFAULT NULL,
                                       resumed boolean DEFAULT false)
RETURNS durable_sink.canonical_event_draft
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_normalize';

-- contract §5–§8/§11.
CREATE FUNCTION durable_sink.normalize_many(event jsonb, thread_id text, run_id text,
                                            origin text DEFAULT 'server',
                                            correlation_id text DEFAULT NULL,
                                            resumed boolean DEFAULT false)
RETURNS SETOF durable_sink.canonical_event_draft
LANGUAGE c VOLATILE PARALLEL UNSAFE ROWS 2
AS 'MODULE_PATHNAME', 'durable_sink_normalize_many';

-- contract §4: validate a draft built by hand; returns it with thread_id/run_id
-- derived from scopes.
CREATE FUNCTION durable_sink.validate_draft(draft durable_sink.canonical_event_draft)
RETURNS durable_sink.canonical_event_draft
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'durable_sink_validate_draft';

-- ------------------------------------------------------------------------
-- The sink: event store, capture failures, live forwarding.
-- ------------------------------------------------------------------------

-- One row per scope that ever received an event.  The first append to a
-- scope in a transaction locks its row until the transaction ends (see
-- src/store.c), which makes per-scope sequences gapless and strictly
-- increasing in commit order.  A scope's latest seq is max(seq) of its
-- events.  (No CHECK constraints here or on events: the extension is their
-- only writer, and a CHECK is re-parsed by every statement that writes.)
CREATE TABLE durable_sink.scopes (
    scope_no    bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope_type  text    NOT NULL,           -- 'thread' or 'run'
    scope_key   bytea   NOT NULL,           -- sha256(scope_id)
    scope_id    text    NOT NULL,
    UNIQUE (scope_type, scope_key)
);
COMMENT ON TABLE durable_sink.scopes IS
    'Scopes of the event store (thread, run); appends lock a scope''s row until commit.';

CREATE SEQUENCE durable_sink.event_id_seq;

-- The event store: one row per appended canonical event.  The draft columns
-- of contract §4, event_id, created_at, and for each scope its sequence number.
CREATE TABLE durable_sink.events (
    event_id        bigint  PRIMARY KEY DEFAULT pg_catalog.nextval('durable_sink.event_id_seq'),
    fidelity        durable_sink.fidelity_class NOT NULL,
    event_kind      text    NOT NULL,
    scopes          jsonb   NOT NULL,
    thread_id       text,
    run_id          text,
    payload         jsonb   NOT NULL,
    causation_id    text,
    correlation_id  text,
    origin          text    NOT NULL,
    visibility      durable_sink.visibility NOT NULL,
    schema_version  integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    thread_scope    bigint,                 -- scopes.scope_no of the thread scope
    thread_seq      bigint,                 -- seq in the thread scope
    run_scope       bigint,                 -- scopes.scope_no of the run scope
    run_seq         bigint,                 -- seq in the run scope
    writer_id       text,
    idempotency_key text,
    -- thread_scope and thread_seq are both NULL or both set; likewise run_*
    CONSTRAINT events_thread_seq UNIQUE (thread_scope, thread_seq),
    CONSTRAINT events_run_seq UNIQUE (run_scope, run_seq)
);
ALTER SEQUENCE durable_sink.event_id_seq OWNED BY durable_sink.events.event_id;
COMMENT ON TABLE durable_sink.events IS
    'The event store: canonical events appended by durable_sink.append/emit and the capture triggers.';

-- Idempotent retries: (writer_id, idempotency_key) -> the event it appended.
CREATE TABLE durable_sink.idempotency_keys (
    key_digest      bytea   PRIMARY KEY,    -- sha256(writer_id, NUL, idempotency_key)
    writer_id       text    NOT NULL,
    idempotency_key text    NOT NULL,
    event_id        bigint  NOT NULL
);

-- Agent events the sink could not normalize: each rejected event, once.
CREATE TABLE durable_sink.capture_failures (
    failure_id      bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    failed_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source          text    NOT NULL CHECK (source IN ('emit', 'trigger')),
    source_table    text,                   -- the raw table, for triggers
    thread_id       text,
    run_id          text,
    origin          text,
    event           jsonb,                  -- as given, even when not an object
    sqlstate        text    NOT NULL,
    message         text    NOT NULL
);

-- Live frames too large for a NOTIFY payload, announced by reference.
CREATE TABLE durable_sink.live_frames (
    frame_id    bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    frame       jsonb   NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('durable_sink.scopes', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.events', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.idempotency_keys', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.capture_failures', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.live_frames', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('durable_sink.scopes', 'scope_no')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('durable_sink.capture_failures', 'failure_id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('durable_sink.live_frames', 'frame_id')::regclass, '');

-- append: validate a draft (contract §4) and append it.
CREATE FUNCTION durable_sink.append(draft durable_sink.canonical_event_draft,
                                    writer_id text DEFAULT NULL,
                                    idempotency_key text DEFAULT NULL,
                                    expected_thread_seq bigint DEFAULT NULL,
                                    expected_run_seq bigint DEFAULT NULL)
RETURNS durable_sink.events
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_append';

-- emit: the seed's DurableEventSink::emit.
CREATE FUNCTION durable_sink.emit(event jsonb, thread_id text, run_id text,
                                  origin text DEFAULT 'server',
                                  mode durable_sink.durability DEFAULT 'compacted',
                                  correlation_id text DEFAULT NULL,
                                  resumed boolean DEFAULT false,
                                  announce boolean DEFAULT true)
RETURNS SETOF durable_sink.events
LANGUAGE c VOLATILE PARALLEL UNSAFE ROWS 1
AS 'MODULE_PATHNAME', 'durable_sink_emit';

-- Capture triggers on raw event tables.  The C code resolves no name
-- through search_path: every statement it runs is schema- and
-- operator-qualified (test/sql/capture.sql fires both triggers under a
-- hostile search_path).  capture_statement() pins search_path as well;
-- capture() does not, because a SET clause wraps every per-row call in a
-- GUC save/restore (measured: +13% on a 200k-row COPY).
CREATE FUNCTION durable_sink.capture()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'durable_sink_capture';

CREATE FUNCTION durable_sink.capture_statement()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'durable_sink_capture_statement';

-- read: a scope's events after a position, in sequence order.
CREATE FUNCTION durable_sink.read(scope_type text, scope_id text,
                                  after_seq bigint DEFAULT 0,
                                  max_rows integer DEFAULT 1000)
RETURNS TABLE (seq bigint, event_id bigint, fidelity durable_sink.fidelity_class,
               event_kind text, scopes jsonb, thread_id text, run_id text,
               payload jsonb, causation_id text, correlation_id text, origin text,
               visibility durable_sink.visibility, schema_version integer,
               created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- a generic plan made while the store was small could keep a sequential scan
SET plan_cache_mode = force_custom_plan
AS $read$
DECLARE
    head durable_sink.scopes;
BEGIN
    IF scope_type IS NULL OR scope_id IS NULL OR after_seq IS NULL OR max_rows IS NULL THEN
        RAISE EXCEPTION '% must not be null',
            CASE WHEN scope_type IS NULL THEN 'scope_type' WHEN scope_id IS NULL THEN 'scope_id'
                 WHEN after_seq IS NULL THEN 'after_seq' ELSE 'max_rows' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF scope_type NOT IN ('thread', 'run') THEN
        RAISE EXCEPTION 'scope_type must be "thread" or "run", not "%"', scope_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_rows < 0 OR after_seq < 0 THEN
        RAISE EXCEPTION '% must not be negative', CASE WHEN max_rows < 0 THEN 'max_rows' ELSE 'after_seq' END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO head FROM durable_sink.scopes s
    WHERE s.scope_type = read.scope_type AND s.scope_key = sha256(convert_to(read.scope_id, pg_catalog.getdatabaseencoding()));
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF read.scope_type = 'thread' THEN
        RETURN QUERY
        SELECT e.thread_seq, e.event_id, e.fidelity, e.event_kind, e.scopes, e.thread_id, e.run_id,
               e.payload, e.causation_id, e.correlation_id, e.origin, e.visibility,
               e.schema_version, e.created_at
        FROM durable_sink.events e
        WHERE e.thread_scope = head.scope_no AND e.thread_seq > after_seq
        ORDER BY e.thread_seq LIMIT max_rows;
    ELSE
        RETURN QUERY
        SELECT e.run_seq, e.event_id, e.fidelity, e.event_kind, e.scopes, e.thread_id, e.run_id,
               e.payload, e.causation_id, e.correlation_id, e.origin, e.visibility,
               e.schema_version, e.created_at
        FROM durable_sink.events e
        WHERE e.run_scope = head.scope_no AND e.run_seq > after_seq
        ORDER BY e.run_seq LIMIT max_rows;
    END IF;
END
$read$;

-- The live frame a by-reference announcement points to.
CREATE FUNCTION durable_sink.live_frame(frame_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT f.frame FROM durable_sink.live_frames f WHERE f.frame_id = live_frame.frame_id);

-- Delete live frames older than the given age; returns how many.
CREATE FUNCTION durable_sink.prune_live_frames(older_than interval DEFAULT '1 day')
RETURNS bigint
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $prune$
    WITH gone AS (DELETE FROM durable_sink.live_frames
                  WHERE created_at < now() - older_than RETURNING 1)
    SELECT count(*) FROM gone;
$prune$;

-- Capture triggers are checked when they are created, not at the first
-- INSERT into the raw table (contract §15): wrong arguments, a wrong
-- declaration, or a second capture trigger on the same table are errors of
-- CREATE TRIGGER (also inside CREATE SCHEMA); an ALTER TABLE that would
-- break a capture trigger fails.
CREATE FUNCTION durable_sink.check_capture_trigger()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'durable_sink_check_capture_trigger';

CREATE EVENT TRIGGER durable_sink_check_capture_trigger ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER', 'CREATE SCHEMA', 'ALTER TABLE')
    EXECUTE FUNCTION durable_sink.check_capture_trigger();

-- Privileges.  The schema grants no USAGE to PUBLIC, and the functions that
-- change state are not executable by PUBLIC either: an application role gets
-- them by explicit GRANT (README, "Privileges").  The state tables are only
-- ever written by the C code, which switches to the extension owner for that
-- access (src/state_access.c), so callers need no privileges on them.
REVOKE ALL ON durable_sink.run_state, durable_sink.compaction_state,
              durable_sink.compaction_fingerprints,
              durable_sink.scopes, durable_sink.events, durable_sink.event_id_seq,
              durable_sink.idempotency_keys, durable_sink.capture_failures,
              durable_sink.live_frames FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    durable_sink.normalize(jsonb, text, text, text, text, boolean),
    durable_sink.normalize_many(jsonb, text, text, text, text, boolean),
    durable_sink.append(durable_sink.canonical_event_draft, text, text, bigint, bigint),
    durable_sink.emit(jsonb, text, text, text, durable_sink.durability, text, boolean, boolean),
    durable_sink.capture(), durable_sink.capture_statement(),
    durable_sink.read(text, text, bigint, integer),
    durable_sink.live_frame(bigint),
    durable_sink.prune_live_frames(interval),
    durable_sink.check_capture_trigger()
FROM PUBLIC;

-- Capture of partitioned tables and inheritance trees (contract §15).  A
-- statement trigger fires only for statements on its own table: rows
-- INSERTed or COPYed straight into a partition or inheritance child fire
-- that table's triggers, not the parent's.  capture_table() puts the
-- capture trigger on every table of a tree; the event trigger gives it to
-- tables that join a captured tree later.  Whether a table is captured is
-- read from its capture trigger, so pg_dump restores it with the triggers.
CREATE FUNCTION durable_sink.capture_table(raw_table regclass, event_column text,
                                           thread_id_column text, run_id_column text,
                                           origin text,
                                           mode durable_sink.durability DEFAULT 'compacted',
                                           correlation_id_column text DEFAULT NULL,
                                           announce boolean DEFAULT true)
RETURNS SETOF regclass
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'durable_sink_capture_table';
COMMENT ON FUNCTION durable_sink.capture_table(regclass, text, text, text, text,
                                               durable_sink.durability, text, boolean) IS
$$Captures raw_table and every partition or inheritance child of it, at every level, now and later: puts on each the statement trigger "durable_sink_capture" (AFTER INSERT, REFERENCING NEW TABLE AS durable_sink_new_rows, FOR EACH STATEMENT, durable_sink.capture_statement(event_column, thread_id_column, run_id_column, origin, mode, correlation_id_column or '', announce)), replacing any capture trigger it had, so that each row INSERTed or COPYed into any table of the tree is captured exactly once. Returns the tables, raw_table first. Partitions created or attached later, and tables made inheritance children later, get the same trigger (event trigger durable_sink_capture_new_partitions). Arguments: event_column a jsonb column; thread_id_column, run_id_column, correlation_id_column (NULL: none) text or varchar columns; origin a non-blank label; mode the durability mode; announce whether to NOTIFY (contract §15, §17). Locks the tree against writes until the transaction ends. Needs EXECUTE on durable_sink.capture_statement() and TRIGGER privilege on (ownership of, to replace a trigger) every table. Errors: 22004 a NULL argument other than correlation_id_column; 42809 not a table or partitioned table; 42703 unknown column; 42804 column of the wrong type; 22023 blank origin; 0A000 a member is a foreign table (it cannot have a transition table); CREATE TRIGGER's own errors, with a context line naming the table.$$;

CREATE FUNCTION durable_sink.uncapture_table(raw_table regclass)
RETURNS SETOF regclass
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'durable_sink_uncapture_table';
COMMENT ON FUNCTION durable_sink.uncapture_table(regclass) IS
$$Drops every capture trigger (durable_sink.capture() or capture_statement(), whatever its name) of raw_table and of every partition or inheritance child of it at every level; returns the tables that had one. A table detached earlier keeps its trigger. Errors: 22004 NULL; 42809 not a table or partitioned table; 55000 raw_table is a partition or inheritance child of a captured table (uncapture that table, or detach raw_table first).$$;

CREATE FUNCTION durable_sink.capture_new_partitions()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'durable_sink_capture_new_partitions';
COMMENT ON FUNCTION durable_sink.capture_new_partitions() IS
$$Event trigger function: a table that CREATE TABLE ... PARTITION OF / INHERITS, ALTER TABLE ... ATTACH PARTITION / INHERIT makes a partition or inheritance child of a captured table gets, with its own partitions, the capture trigger of its nearest captured ancestor (same name, kind and arguments); a table that has a capture trigger keeps it. When that is impossible the command fails (0A000 the ancestor's trigger has a WHEN condition; a foreign table cannot have a transition table).$$;

CREATE EVENT TRIGGER durable_sink_capture_new_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE FOREIGN TABLE', 'CREATE SCHEMA',
                 'ALTER TABLE', 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION durable_sink.capture_new_partitions();

REVOKE EXECUTE ON FUNCTION
    durable_sink.capture_table(regclass, text, text, text, text, durable_sink.durability, text, boolean),
    durable_sink.uncapture_table(regclass),
    durable_sink.capture_new_partitions()
FROM PUBLIC;

-- ------------------------------------------------------------------------
-- Comments on the objects 1.0 created without one, so that \dx+, \dT+,
-- \df+ and \dt+ explain every object of the extension.
-- ------------------------------------------------------------------------
COMMENT ON TYPE durable_sink.fidelity_class IS
    'How much an event matters (contract §4): observed_runtime_event (streaming deltas, transient), committed_runtime_event, domain_event, control_event.';
COMMENT ON TYPE durable_sink.visibility IS
    'Who may see an event (contract §4): public, internal, audit, sensitive.';
COMMENT ON TYPE durable_sink.durability IS
    'What the sink keeps (contract §10): disabled (nothing), compacted (everything but observed_runtime_event; the default), full_fidelity (everything).';
COMMENT ON TYPE durable_sink.canonical_event_draft IS
    'A canonical event before it is stored (contract §4; column order is binding): fidelity, event_kind, scopes (jsonb array of {"scope_type":"thread","thread_id":...} / {"scope_type":"run","run_id":...}), thread_id, run_id, payload, causation_id, correlation_id, origin, visibility, schema_version.';
COMMENT ON FUNCTION durable_sink.should_persist(durable_sink.durability, durable_sink.fidelity_class) IS
    'Whether durability mode keeps a draft of this fidelity (contract §10). STRICT: NULL in, NULL out.';
COMMENT ON FUNCTION durable_sink.normalize(jsonb, text, text, text, text, boolean) IS
    'The canonical draft of one agent event (contract §5), or NULL when the event is deliberately not represented; updates run state only (§6). Arguments: event (jsonb object with event_type), thread_id, run_id, origin (default server), correlation_id (may be NULL), resumed (the run resumes: a run_start is no new RunStarted). Errors: 22004 NULL event/thread_id/run_id/origin/resumed; 22023 invalid context or event, naming the member (§9).';
COMMENT ON FUNCTION durable_sink.normalize_many(jsonb, text, text, text, text, boolean) IS
    'Every canonical draft of one agent event, in order (contract §5-§8): the mapped draft, the ToolPermissionRequested companion, the context-compaction facts; updates run and compaction state. Arguments and errors as normalize.';
COMMENT ON FUNCTION durable_sink.validate_draft(durable_sink.canonical_event_draft) IS
    'Returns the draft if it is a valid canonical event draft (contract §4), else raises 22004 (a required member is NULL) or 22023 (invalid canonical event draft: member ...).';
COMMENT ON FUNCTION durable_sink.append(durable_sink.canonical_event_draft, text, text, bigint, bigint) IS
    'Append one validated draft to the event store in the caller''s transaction (contract §13) and return the stored row with its gapless per-scope seqs. writer_id + idempotency_key: a retry returns the stored row instead of appending again; expected_thread_seq / expected_run_seq: append only if the scope''s latest seq is that (compare-and-append). Errors: 22004/22023 invalid draft, 23505 idempotency key reused with another draft, 40001 expected seq mismatch.';
COMMENT ON FUNCTION durable_sink.emit(jsonb, text, text, text, durable_sink.durability, text, boolean, boolean) IS
    'The sink for one agent event (contract §14): normalize_many, append what mode keeps, return the appended rows, announce live (§17) unless announce is false. A rejected event (22004/22023) raises a WARNING, is recorded in capture_failures and returns no rows; NULL mode or announce is an ERROR (22004).';
COMMENT ON FUNCTION durable_sink.capture() IS
    'Row trigger (AFTER INSERT ... FOR EACH ROW) that captures each raw event row into the store (contract §15). Trigger arguments: event column, thread_id column, run_id column, origin, durability mode, [correlation_id column], [announce true/false]. Rejected rows go to capture_failures; the insert succeeds.';
COMMENT ON FUNCTION durable_sink.capture_statement() IS
    'Statement trigger (AFTER INSERT ... REFERENCING NEW TABLE AS ... FOR EACH STATEMENT) that captures all inserted raw event rows at once (contract §15); arguments as capture(). Rejected rows go to capture_failures; the statement succeeds.';
COMMENT ON FUNCTION durable_sink.read(text, text, bigint, integer) IS
    'The events of one scope (scope_type thread or run, scope_id) with seq > after_seq, in seq order, at most max_rows (contract §12). Errors: 22004 NULL argument, 22023 unknown scope_type or negative after_seq/max_rows.';
COMMENT ON FUNCTION durable_sink.live_frame(bigint) IS
    'A live frame too long for a NOTIFY payload, announced as {"frame_id":N} (contract §17); NULL if unknown or pruned.';
COMMENT ON FUNCTION durable_sink.prune_live_frames(interval) IS
    'Delete stored live frames older than older_than (default 1 day); returns how many (contract §17). Runs with the caller''s privileges (DELETE on durable_sink.live_frames).';
COMMENT ON TABLE durable_sink.idempotency_keys IS
    'Idempotent appends (contract §13): the digest of (writer_id, idempotency_key), the draft''s digest and the event it stored.';
COMMENT ON TABLE durable_sink.capture_failures IS
    'Events the sink rejected (contract §16): when, from which source (emit, capture, capture_statement) and table, the context, the event as given, and the SQLSTATE and message of the rejection.';
COMMENT ON TABLE durable_sink.live_frames IS
    'Live frames too long for a NOTIFY payload, announced by reference as {"frame_id":N} (contract §17).';
COMMENT ON SEQUENCE durable_sink.event_id_seq IS
    'event_id of durable_sink.events (insert order; the feed''s positions are commit order).';

-- ------------------------------------------------------------------------
-- Privileges by role kind, and a reset for test suites (README "Privileges").
-- ------------------------------------------------------------------------

-- The one list of what each kind of role needs.  grant_privileges and
-- revoke_privileges apply it; the README shows it.
CREATE FUNCTION durable_sink.role_privileges(kind text)
RETURNS TABLE (privilege text)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT p.privilege FROM (VALUES
        ('writer', 1, 'USAGE ON SCHEMA durable_sink'),
        ('writer', 2, 'EXECUTE ON FUNCTION durable_sink.emit(jsonb, text, text, text, durable_sink.durability, text, boolean, boolean)'),
        ('writer', 3, 'EXECUTE ON FUNCTION durable_sink.append(durable_sink.canonical_event_draft, text, text, bigint, bigint)'),
        ('writer', 4, 'EXECUTE ON FUNCTION durable_sink.read(text, text, bigint, integer)'),
        ('writer', 5, 'EXECUTE ON FUNCTION durable_sink.normalize(jsonb, text, text, text, text, boolean)'),
        ('writer', 6, 'EXECUTE ON FUNCTION durable_sink.normalize_many(jsonb, text, text, text, text, boolean)'),
        ('writer', 7, 'EXECUTE ON FUNCTION durable_sink.capture()'),
        ('writer', 8, 'EXECUTE ON FUNCTION durable_sink.capture_statement()'),
        ('writer', 9, 'EXECUTE ON FUNCTION durable_sink.capture_table(regclass, text, text, text, text, durable_sink.durability, text, boolean)'),
        ('writer', 10, 'EXECUTE ON FUNCTION durable_sink.uncapture_table(regclass)'),
        ('writer', 11, 'EXECUTE ON PROCEDURE durable_sink.backfill(regclass, text, text, text, text, text, durable_sink.durability, text, boolean, integer, text)'),
        ('reader', 1, 'USAGE ON SCHEMA durable_sink'),
        ('reader', 2, 'EXECUTE ON FUNCTION durable_sink.read(text, text, bigint, integer)'),
        ('reader', 3, 'EXECUTE ON FUNCTION durable_sink.live_frame(bigint)'),
        ('reader', 4, 'EXECUTE ON FUNCTION durable_sink.read_all(bigint, integer)'),
        ('reader', 5, 'EXECUTE ON FUNCTION durable_sink.feed_horizon()'),
        ('reader', 6, 'EXECUTE ON FUNCTION durable_sink.feed_status()'),
        ('reader', 7, 'EXECUTE ON FUNCTION durable_sink.retained_range(text, text)'),
        ('reader', 8, 'EXECUTE ON FUNCTION durable_sink.feed_retained_range()'),
        ('consumer', 1, 'USAGE ON SCHEMA durable_sink'),
        ('consumer', 2, 'EXECUTE ON FUNCTION durable_sink.read_all(bigint, integer)'),
        ('consumer', 3, 'EXECUTE ON FUNCTION durable_sink.feed_horizon()'),
        ('consumer', 4, 'EXECUTE ON FUNCTION durable_sink.feed_events(bigint, bigint, bigint, text[], text[], text[], text)'),
        ('consumer', 5, 'EXECUTE ON FUNCTION durable_sink.feed_backlog(bigint, text[], text[], text[], text)'),
        ('consumer', 6, 'EXECUTE ON FUNCTION durable_sink.create_subscription(text, text[], durable_sink.fidelity_class[], durable_sink.visibility[], text, bigint)'),
        ('consumer', 7, 'EXECUTE ON FUNCTION durable_sink.drop_subscription(text)'),
        ('consumer', 8, 'EXECUTE ON FUNCTION durable_sink.poll(text, integer)'),
        ('consumer', 9, 'EXECUTE ON FUNCTION durable_sink.ack(text, bigint)'),
        ('consumer', 10, 'SELECT, INSERT, UPDATE, DELETE ON durable_sink.subscriptions'),
        ('consumer', 11, 'SELECT ON durable_sink.subscription_lag'),
        ('consumer', 12, 'EXECUTE ON FUNCTION durable_sink.retained_range(text, text)'),
        ('consumer', 13, 'EXECUTE ON FUNCTION durable_sink.feed_retained_range()'),
        ('consumer', 14, 'EXECUTE ON FUNCTION durable_sink.accept_pruned(text)'),
        ('admin', 1, 'USAGE ON SCHEMA durable_sink'),
        ('admin', 2, 'SELECT ON ALL TABLES IN SCHEMA durable_sink'),
        ('admin', 3, 'DELETE ON durable_sink.capture_failures, durable_sink.live_frames'),
        ('admin', 4, 'EXECUTE ON FUNCTION durable_sink.prune_live_frames(interval)'),
        ('admin', 5, 'EXECUTE ON FUNCTION durable_sink.feed_status()'),
        ('admin', 6, 'EXECUTE ON FUNCTION durable_sink.reset()'),
        ('admin', 7, 'EXECUTE ON FUNCTION durable_sink.stats()'),
        ('admin', 8, 'EXECUTE ON FUNCTION durable_sink.stats_reset()'),
        ('admin', 9, 'EXECUTE ON FUNCTION durable_sink.feed_progress()'),
        ('admin', 10, 'EXECUTE ON FUNCTION durable_sink.feed_transactions()'),
        ('admin', 11, 'EXECUTE ON FUNCTION durable_sink.feed_backlog(bigint, text[], text[], text[], text)'),
        ('admin', 12, 'DELETE ON durable_sink.events, durable_sink.feed'),
        ('admin', 13, 'UPDATE (pruned_head) ON durable_sink.scopes'),
        ('admin', 14, 'INSERT ON durable_sink.retention_log'),
        ('admin', 15, 'EXECUTE ON PROCEDURE durable_sink.prune_events(interval, durable_sink.fidelity_class[], regclass, integer, bigint, integer)'),
        ('admin', 16, 'EXECUTE ON FUNCTION durable_sink.prune_events_batch(timestamptz, durable_sink.fidelity_class[], bigint, integer, regclass)'),
        ('admin', 17, 'EXECUTE ON FUNCTION durable_sink.check_archive(regclass)'),
        ('admin', 18, 'EXECUTE ON FUNCTION durable_sink.prune_capture_failures(interval)')
    ) AS p(kind, n, privilege)
    WHERE p.kind OPERATOR(pg_catalog.=) role_privileges.kind
    ORDER BY p.n;
END;
COMMENT ON FUNCTION durable_sink.role_privileges(text) IS
    'The privileges a kind of role needs (README "Privileges"): writer (emit, append, read, normalize, capture triggers), reader (read, live_frame, read_all), consumer (read_all and subscriptions of its own), admin (inspect everything, prune, reset). One GRANT clause per row, in order; no rows for an unknown kind.';

-- Grant or revoke a kind's privileges (role_privileges) to or from a role:
-- usually a NOLOGIN group role that applications are then made members of.
-- grant_privileges and revoke_privileges: run one statement per clause of
-- role_privileges(kind), statement being 'GRANT %s TO %s' or
-- 'REVOKE %s FROM %s'.
CREATE FUNCTION durable_sink.apply_role_privileges(grantee regrole, kind text, statement text)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    clause text;
    applied integer := 0;
BEGIN
    FOR clause IN SELECT p.privilege FROM durable_sink.role_privileges(kind) p LOOP
        EXECUTE pg_catalog.format(statement, clause, grantee);
        applied := applied OPERATOR(pg_catalog.+) 1;
    END LOOP;
    IF applied OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'unknown role kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use writer, reader, consumer or admin.';
    END IF;
    RETURN applied;
END
$$;
COMMENT ON FUNCTION durable_sink.apply_role_privileges(regrole, text, text) IS
    'Internal (grant_privileges, revoke_privileges): runs statement (a format string with two %s: the clause, then the role) for each clause of role_privileges(kind); returns how many. Errors: 22023 unknown kind.';

CREATE FUNCTION durable_sink.grant_privileges(grantee regrole, kind text)
RETURNS integer
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
RETURN durable_sink.apply_role_privileges(grantee, kind, 'GRANT %s TO %s');
COMMENT ON FUNCTION durable_sink.grant_privileges(regrole, text) IS
    'GRANT a role (e.g. a NOLOGIN group role) what a kind of role needs: writer, reader, consumer or admin (role_privileges lists it). Returns the number of GRANT statements run. Runs with the caller''s rights: the extension''s owner or a superuser. Errors: 22023 unknown kind.';

CREATE FUNCTION durable_sink.revoke_privileges(grantee regrole, kind text)
RETURNS integer
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
RETURN durable_sink.apply_role_privileges(grantee, kind, 'REVOKE %s FROM %s');
COMMENT ON FUNCTION durable_sink.revoke_privileges(regrole, text) IS
    'REVOKE from a role what grant_privileges granted for a kind (writer, reader, consumer, admin). Returns the number of REVOKE statements run. Errors: 22023 unknown kind.';

-- Start the store and the state over, for an application's own test suite.
CREATE FUNCTION durable_sink.reset()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    TRUNCATE durable_sink.events, durable_sink.scopes, durable_sink.idempotency_keys,
             durable_sink.run_state, durable_sink.compaction_state,
             durable_sink.compaction_fingerprints, durable_sink.capture_failures,
             durable_sink.live_frames, durable_sink.outbox, durable_sink.subscriptions,
             durable_sink.retention_log, durable_sink.backfills
        RESTART IDENTITY;
END
$$;
COMMENT ON FUNCTION durable_sink.reset() IS
    'Empty the event store, the feed, the run and compaction state, capture failures, stored live frames, subscriptions, the retention log and backfill progress, and restart event_ids and scope numbers at 1 (feed positions continue: a position is never handed out twice). For test suites: call it first so a suite starts clean. Admin only (not granted to PUBLIC); takes ACCESS EXCLUSIVE locks on those tables until the transaction ends.';

REVOKE EXECUTE ON FUNCTION durable_sink.role_privileges(text),
    durable_sink.apply_role_privileges(regrole, text, text),
    durable_sink.grant_privileges(regrole, text), durable_sink.revoke_privileges(regrole, text),
    durable_sink.reset()
FROM PUBLIC;

-- ------------------------------------------------------------------------
-- The feed (contract §19): every stored event gets a position when its
-- transaction commits; read_all hands out only positions that are final.
-- ------------------------------------------------------------------------

-- Positions, taken at commit (src/feed.c).  Never reused: a rolled-back
-- commit or a crash leaves holes.
CREATE SEQUENCE durable_sink.feed_position_seq;

CREATE TABLE durable_sink.feed (
    position    bigint  PRIMARY KEY,
    event_id    bigint  NOT NULL            -- durable_sink.events.event_id
);
COMMENT ON TABLE durable_sink.feed IS
    'The feed (contract §19): the position of every stored event, assigned in commit order when its transaction commits.';
ALTER SEQUENCE durable_sink.feed_position_seq OWNED BY durable_sink.feed.position;
SELECT pg_catalog.pg_extension_config_dump('durable_sink.feed', '');
SELECT pg_catalog.pg_extension_config_dump('durable_sink.feed_position_seq', '');

-- Live frames of committed transactions waiting for the announcer, the
-- background worker that NOTIFYs them after commit (contract §17,
-- src/announcer.c).  Unlogged: like NOTIFY's own queue, a crash loses frames
-- not yet sent; the feed itself loses nothing.
CREATE UNLOGGED TABLE durable_sink.outbox (
    batch_id    bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    frames      text[]  NOT NULL            -- one transaction's frames, in sending order
);
COMMENT ON TABLE durable_sink.outbox IS
    'Live frames (contract §17) of committed transactions that the announcer has not sent yet: one row per transaction, written just before it commits or prepares. Used when the library is in shared_preload_libraries and durable_sink.announce_after_commit is on.';
REVOKE ALL ON durable_sink.outbox FROM PUBLIC;

CREATE FUNCTION durable_sink.read_all(after_position bigint DEFAULT 0,
                                      max_rows integer DEFAULT 1000)
RETURNS TABLE ("position" bigint, event_id bigint, fidelity durable_sink.fidelity_class,
               event_kind text, scopes jsonb, thread_id text, run_id text,
               payload jsonb, causation_id text, correlation_id text, origin text,
               visibility durable_sink.visibility, schema_version integer,
               thread_seq bigint, run_seq bigint, created_at timestamptz)
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_read_all';
COMMENT ON FUNCTION durable_sink.read_all(bigint, integer) IS
    'The stored events with position > after_position, in position order, at most max_rows (contract §19). Positions only grow in commit order and whatever is returned is final: resuming from the last position returned never skips an event. Errors: 22004 NULL argument, 22023 negative argument.';

-- The parts subscriptions are built from: the horizon (every position at
-- or below it is final), then the events up to it, read with a snapshot
-- taken after the horizon.
CREATE FUNCTION durable_sink.feed_horizon()
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_feed_horizon';
COMMENT ON FUNCTION durable_sink.feed_horizon() IS
    'The highest position at or below which every position is final: its transaction is over (contract §19).';

CREATE FUNCTION durable_sink.feed_events(after_position bigint, up_to_position bigint,
                                         max_rows bigint, event_kinds text[],
                                         fidelities text[], visibilities text[],
                                         thread_id text)
RETURNS TABLE ("position" bigint, event_id bigint, fidelity durable_sink.fidelity_class,
               event_kind text, scopes jsonb, thread_id text, run_id text,
               payload jsonb, causation_id text, correlation_id text, origin text,
               visibility durable_sink.visibility, schema_version integer,
               thread_seq bigint, run_seq bigint, created_at timestamptz)
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_feed_events';
COMMENT ON FUNCTION durable_sink.feed_events(bigint, bigint, bigint, text[], text[], text[], text) IS
    'Internal (subscriptions): events with after_position < position <= up_to_position (a horizon from feed_horizon()), matching the filters (NULL: any), in position order.';

CREATE FUNCTION durable_sink.feed_status(OUT mode text, OUT horizon bigint,
                                         OUT last_position bigint,
                                         OUT committing_transactions integer)
RETURNS record
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_feed_status';
COMMENT ON FUNCTION durable_sink.feed_status() IS
    'How the feed works here (contract §19): mode shared_memory (the library is in shared_preload_libraries: appending commits run in parallel) or lock (it is not: appending commits are serialized by a lock, and a prepared transaction that appended holds the feed until it is resolved); the horizon, the last position handed out, and how many appending transactions are committing now.';

REVOKE ALL ON durable_sink.feed, durable_sink.feed_position_seq FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    durable_sink.read_all(bigint, integer),
    durable_sink.feed_horizon(),
    durable_sink.feed_events(bigint, bigint, bigint, text[], text[], text[], text),
    durable_sink.feed_status()
FROM PUBLIC;

-- ------------------------------------------------------------------------
-- Subscriptions (contract §20): named consumers that keep their place in
-- the database.  Each role sees and manages only its own (row-level
-- security); reading goes through the feed's functions.
-- ------------------------------------------------------------------------

CREATE TABLE durable_sink.subscriptions (
    name            text    PRIMARY KEY,
    owner           oid     NOT NULL,       -- the role that created it (pg_authid.oid)
    event_kinds     text[],                 -- filters; NULL: any
    fidelities      durable_sink.fidelity_class[],
    visibilities    durable_sink.visibility[],
    thread_id       text,
    checkpoint      bigint  NOT NULL,       -- acknowledged up to this position
    handed_up_to    bigint  NOT NULL,       -- polls have covered the feed up to here
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    acked_at        timestamptz,
    CHECK (name OPERATOR(pg_catalog.<>) ''),
    CHECK (checkpoint OPERATOR(pg_catalog.<=) handed_up_to)
);
COMMENT ON TABLE durable_sink.subscriptions IS
    'Named feed consumers (contract §20): filters, the acknowledged checkpoint and how far polls have covered the feed. Row-level security: a role sees only the subscriptions of roles it is a member of.';
ALTER TABLE durable_sink.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_subscriptions ON durable_sink.subscriptions
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner, 'MEMBER'))
    WITH CHECK (pg_catalog.pg_has_role(CURRENT_USER, owner, 'MEMBER'));
SELECT pg_catalog.pg_extension_config_dump('durable_sink.subscriptions', '');
REVOKE ALL ON durable_sink.subscriptions FROM PUBLIC;

CREATE FUNCTION durable_sink.create_subscription(
    name text,
    event_kinds text[] DEFAULT NULL,
    fidelities durable_sink.fidelity_class[] DEFAULT NULL,
    visibilities durable_sink.visibility[] DEFAULT NULL,
    thread_id text DEFAULT NULL,
    start_after bigint DEFAULT 0)
RETURNS durable_sink.subscriptions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $create$
DECLARE
    created durable_sink.subscriptions;
BEGIN
    IF name IS NULL OR start_after IS NULL THEN
        RAISE EXCEPTION '% must not be null', CASE WHEN name IS NULL THEN 'name' ELSE 'start_after' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF btrim(name) = '' OR start_after < 0 THEN
        RAISE EXCEPTION '%', CASE WHEN start_after < 0 THEN 'start_after must not be negative'
                                  ELSE 'name must not be blank' END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO durable_sink.subscriptions AS s
        (name, owner, event_kinds, fidelities, visibilities, thread_id, checkpoint, handed_up_to)
    VALUES (create_subscription.name, (SELECT r.oid FROM pg_roles r WHERE r.rolname = CURRENT_USER),
            create_subscription.event_kinds, create_subscription.fidelities,
            create_subscription.visibilities, create_subscription.thread_id,
            start_after, start_after)
    RETURNING s.* INTO created;
    RETURN created;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'subscription "%" already exists', create_subscription.name
        USING ERRCODE = 'duplicate_object';
END
$create$;
COMMENT ON FUNCTION durable_sink.create_subscription(text, text[], durable_sink.fidelity_class[], durable_sink.visibility[], text, bigint) IS
    'Create a named subscription owned by the current role (contract §20). Filters: event kinds, fidelities, visibilities, one thread (NULL: any). start_after: the position it starts after (0: the whole feed; durable_sink.feed_horizon(): from now). Errors: 22004, 22023, 42710 name taken.';

CREATE FUNCTION durable_sink.drop_subscription(name text)
RETURNS boolean
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $drop$
    WITH gone AS (DELETE FROM durable_sink.subscriptions s
                  WHERE s.name = drop_subscription.name RETURNING 1)
    SELECT count(*) > 0 FROM gone;
$drop$;
COMMENT ON FUNCTION durable_sink.drop_subscription(text) IS
    'Drop one of the current role''s subscriptions; true if it existed (contract §20).';

CREATE FUNCTION durable_sink.poll(subscription text, max_rows integer DEFAULT 100)
RETURNS TABLE ("position" bigint, event_id bigint, fidelity durable_sink.fidelity_class,
               event_kind text, scopes jsonb, thread_id text, run_id text,
               payload jsonb, causation_id text, correlation_id text, origin text,
               visibility durable_sink.visibility, schema_version integer,
               thread_seq bigint, run_seq bigint, created_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $poll$
DECLARE
    sub durable_sink.subscriptions;
    horizon bigint;
    covered bigint;
    n bigint := 0;
    last_seen bigint;
BEGIN
    IF subscription IS NULL OR max_rows IS NULL THEN
        RAISE EXCEPTION '% must not be null', CASE WHEN subscription IS NULL THEN 'subscription' ELSE 'max_rows' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One poller at a time: a second one waits here until the first one's
    -- transaction ends, then starts after what it acknowledged.
    SELECT * INTO sub FROM durable_sink.subscriptions s WHERE s.name = subscription FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', subscription
            USING ERRCODE = 'undefined_object';
    END IF;
    -- The horizon first, then the read (its snapshot is taken after).
    horizon := durable_sink.feed_horizon();
    FOR "position", event_id, fidelity, event_kind, scopes, thread_id, run_id, payload,
        causation_id, correlation_id, origin, visibility, schema_version, thread_seq,
        run_seq, created_at IN
        SELECT * FROM durable_sink.feed_events(sub.checkpoint, horizon, max_rows, sub.event_kinds,
                                               sub.fidelities::text[], sub.visibilities::text[],
                                               sub.thread_id)
    LOOP
        n := n + 1;
        last_seen := poll."position";
        RETURN NEXT;
    END LOOP;
    -- Retention (contract §21), checked after the read with a newer
    -- snapshot: a deletion that took events from the read is seen here.
    IF durable_sink.pruned_after(greatest(sub.checkpoint, sub.pruned_accepted),
                                 sub.event_kinds, sub.fidelities::text[]) IS NOT NULL THEN
        RAISE EXCEPTION 'subscription "%" is behind the retained range of the feed', subscription
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Retention deleted events after its checkpoint %s, up to position %s, that may match its filters.',
                                  sub.checkpoint,
                                  durable_sink.pruned_after(greatest(sub.checkpoint, sub.pruned_accepted),
                                                            sub.event_kinds, sub.fidelities::text[])),
                  HINT = format('To continue with the retained events, call durable_sink.accept_pruned(%L); or drop the subscription and create it again.',
                                subscription);
    END IF;
    -- A full batch covers the feed up to its last event; a short one up to
    -- the horizon (nothing else there matches).
    covered := CASE WHEN n = max_rows THEN last_seen ELSE greatest(horizon, sub.checkpoint) END;
    IF covered > sub.handed_up_to THEN
        UPDATE durable_sink.subscriptions s SET handed_up_to = covered WHERE s.name = subscription;
    END IF;
END
$poll$;
COMMENT ON FUNCTION durable_sink.poll(text, integer) IS
    'The next batch of a subscription (contract §20): up to max_rows events after its checkpoint that match its filters, in position order. Until ack moves the checkpoint, polls return the same batch (at-least-once); poll, write and ack in one transaction for exactly-once, and concurrent pollers of one subscription serialize. Errors: 22004, 22023, 42704 unknown subscription, 55000 retention deleted events after its checkpoint that may match its filters (contract §21: accept_pruned).';

CREATE FUNCTION durable_sink.ack(subscription text, up_to_position bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $ack$
DECLARE
    sub durable_sink.subscriptions;
    target bigint;
BEGIN
    IF subscription IS NULL THEN
        RAISE EXCEPTION 'subscription must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO sub FROM durable_sink.subscriptions s WHERE s.name = subscription FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', subscription
            USING ERRCODE = 'undefined_object';
    END IF;
    target := coalesce(up_to_position, sub.handed_up_to);
    IF target > sub.handed_up_to THEN
        RAISE EXCEPTION 'position % was never handed to subscription "%"', target, subscription
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Polls have covered the feed up to position %s.', sub.handed_up_to);
    END IF;
    IF target < sub.checkpoint THEN
        RAISE EXCEPTION 'subscription "%" is already acknowledged up to position %', subscription, sub.checkpoint
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Acknowledgements only move forward.';
    END IF;
    UPDATE durable_sink.subscriptions s SET checkpoint = target, acked_at = now()
    WHERE s.name = subscription;
    RETURN target;
END
$ack$;
COMMENT ON FUNCTION durable_sink.ack(text, bigint) IS
    'Acknowledge a subscription up to a position it was handed (NULL: everything handed so far); returns the new checkpoint (contract §20). Forward only. Errors: 22004, 22023 never handed or backwards, 42704 unknown subscription.';

-- How far behind each subscription the caller may see is: events after its
-- checkpoint matching its filters, and the age of the oldest.
CREATE FUNCTION durable_sink.feed_backlog(after_position bigint, event_kinds text[],
                                          fidelities text[], visibilities text[],
                                          thread_id text,
                                          OUT events bigint, OUT oldest timestamptz)
RETURNS record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $backlog$
    SELECT count(*), min(e.created_at)
    FROM durable_sink.feed f JOIN durable_sink.events e ON e.event_id = f.event_id
    WHERE f.position > after_position
      AND (feed_backlog.event_kinds IS NULL OR e.event_kind = ANY (feed_backlog.event_kinds))
      AND (feed_backlog.fidelities IS NULL OR e.fidelity::text = ANY (feed_backlog.fidelities))
      AND (feed_backlog.visibilities IS NULL OR e.visibility::text = ANY (feed_backlog.visibilities))
      AND (feed_backlog.thread_id IS NULL OR e.thread_id = feed_backlog.thread_id);
$backlog$;
COMMENT ON FUNCTION durable_sink.feed_backlog(bigint, text[], text[], text[], text) IS
    'Count and oldest created_at of the stored events after a position that match the filters (NULL: any), without their contents (contract §20).';

CREATE VIEW durable_sink.subscription_lag WITH (security_invoker = true) AS
SELECT s.name, s.owner::regrole AS owner, s.checkpoint, s.handed_up_to,
       b.events AS events_behind,
       pg_catalog.now() OPERATOR(pg_catalog.-) b.oldest AS oldest_unacked_age,
       s.acked_at
FROM durable_sink.subscriptions s,
     LATERAL durable_sink.feed_backlog(s.checkpoint, s.event_kinds, s.fidelities::text[],
                                       s.visibilities::text[], s.thread_id) b;
COMMENT ON VIEW durable_sink.subscription_lag IS
    'The caller''s subscriptions and how far behind each is (contract §20): events after the checkpoint that match its filters, and the age of the oldest of them.';

REVOKE ALL ON durable_sink.subscription_lag FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    durable_sink.create_subscription(text, text[], durable_sink.fidelity_class[], durable_sink.visibility[], text, bigint),
    durable_sink.drop_subscription(text),
    durable_sink.poll(text, integer),
    durable_sink.ack(text, bigint),
    durable_sink.feed_backlog(bigint, text[], text[], text[], text)
FROM PUBLIC;

-- A partition or inheritance child of a captured table that loses its
-- capture trigger (DROP TRIGGER) is no longer captured: warn (contract §15).
CREATE FUNCTION durable_sink.check_dropped_capture_trigger()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'durable_sink_check_dropped_capture_trigger';
COMMENT ON FUNCTION durable_sink.check_dropped_capture_trigger() IS
    'Event trigger function (sql_drop, DROP TRIGGER): warns when a partition or inheritance child of a captured table loses its capture trigger (contract §15).';
CREATE EVENT TRIGGER durable_sink_check_dropped_capture_trigger ON sql_drop
    WHEN TAG IN ('DROP TRIGGER')
    EXECUTE FUNCTION durable_sink.check_dropped_capture_trigger();
REVOKE EXECUTE ON FUNCTION durable_sink.check_dropped_capture_trigger() FROM PUBLIC;
COMMENT ON SCHEMA durable_sink IS
    'durable_sink: durable capture of agent-runtime events (docs/CONTRACT.md). Nothing here is granted to PUBLIC: see durable_sink.role_privileges().';
COMMENT ON FUNCTION durable_sink.check_capture_trigger() IS
    'Event trigger function: checks a capture trigger when CREATE TRIGGER, CREATE SCHEMA or ALTER TABLE creates or changes it (arguments, declaration, one capture trigger per table; contract §15). Raises the errors of §15 (42710, 0A000, 42703, 22023).';
COMMENT ON EVENT TRIGGER durable_sink_check_capture_trigger IS
    'Checks capture triggers at DDL time (durable_sink.check_capture_trigger(), contract §15).';
COMMENT ON EVENT TRIGGER durable_sink_capture_new_partitions IS
    'Gives new partitions and inheritance children of a captured table its capture trigger (durable_sink.capture_new_partitions(), contract §15).';
COMMENT ON EVENT TRIGGER durable_sink_check_dropped_capture_trigger IS
    'Warns when a partition or inheritance child of a captured table loses its capture trigger (durable_sink.check_dropped_capture_trigger(), contract §15).';

-- Starting the store over (TRUNCATE durable_sink.events) starts the feed
-- over: positions continue from the sequence, and no feed row keeps
-- pointing at an event_id that RESTART IDENTITY hands out again.
CREATE FUNCTION durable_sink.feed_truncated()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'durable_sink_feed_truncated';
COMMENT ON FUNCTION durable_sink.feed_truncated() IS
    'Trigger function (AFTER TRUNCATE ON durable_sink.events): empties durable_sink.feed with the store (contract §19).';
CREATE TRIGGER feed_truncated AFTER TRUNCATE ON durable_sink.events
    FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.feed_truncated();
REVOKE EXECUTE ON FUNCTION durable_sink.feed_truncated() FROM PUBLIC;

-- ------------------------------------------------------------------------
-- Monitoring (contract §23): views an operator can read without knowing
-- the internals, and, with the library preloaded, counters since server
-- start per database and entry point.  Nothing here is granted to PUBLIC;
-- README "Privileges" lists what the admin role needs.
-- ------------------------------------------------------------------------

CREATE FUNCTION durable_sink.stats(OUT entry_point text, OUT calls bigint,
                                   OUT events_normalized bigint, OUT events_rejected bigint,
                                   OUT events_appended bigint, OUT frames_announced bigint,
                                   OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'durable_sink_stats';
COMMENT ON FUNCTION durable_sink.stats() IS
    'Counters of the current database since stats_reset (its first use after server start, or the last stats_reset()), one row per entry point: normalize, normalize_many, emit, append, capture, capture_statement, announcer (contract §23). calls: calls (capture: rows; capture_statement: statements; announcer: passes that sent frames) that returned; events_normalized / events_rejected: events the normalizer accepted / rejected; events_appended: rows inserted into durable_sink.events; frames_announced: live frames sent or queued for the announcer (announcer: frames it NOTIFYed). Kept only with the library in shared_preload_libraries: otherwise no rows, and a NOTICE.';

CREATE VIEW durable_sink.stats AS
SELECT s.entry_point, s.calls, s.events_normalized, s.events_rejected, s.events_appended,
       s.frames_announced, s.stats_reset
FROM durable_sink.stats() s;
COMMENT ON VIEW durable_sink.stats IS
    'durable_sink.stats() as a view: the current database''s counters per entry point since stats_reset (contract §23). Empty unless the library is in shared_preload_libraries.';

CREATE FUNCTION durable_sink.stats_reset()
RETURNS timestamptz
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'durable_sink_stats_reset';
COMMENT ON FUNCTION durable_sink.stats_reset() IS
    'Zero the current database''s counters (contract §23); returns the new stats_reset. Errors: 55000 when the library is not in shared_preload_libraries (nothing is counted).';

CREATE FUNCTION durable_sink.feed_transactions(OUT xid xid, OUT first_position bigint,
                                               OUT registered_at timestamptz,
                                               OUT prepared boolean)
RETURNS SETOF record
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'durable_sink_feed_transactions';
COMMENT ON FUNCTION durable_sink.feed_transactions() IS
    'The appending transactions of the current database registered in the feed now, i.e. committing, or prepared and not resolved (contract §19, §23): each holds the horizon below first_position until it is over. registered_at: when it registered, just before its commit or prepare. No rows when the library is not in shared_preload_libraries (lock mode: see durable_sink.feed_latency).';

CREATE FUNCTION durable_sink.feed_progress(OUT mode text, OUT horizon bigint,
                                           OUT last_position bigint,
                                           OUT committing_transactions integer)
RETURNS record
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'durable_sink_feed_progress';
COMMENT ON FUNCTION durable_sink.feed_progress() IS
    'durable_sink.feed_status() for monitoring, which never waits (contract §23): in lock mode, while an appending commit or a prepared transaction that appended holds the feed''s lock, horizon is NULL (unknown) and committing_transactions 1, where feed_status() would wait for that lock.';

CREATE VIEW durable_sink.events_per_day AS
SELECT CAST(e.created_at AS pg_catalog.date) AS day, e.event_kind, e.fidelity,
       pg_catalog.count(*) AS events
FROM durable_sink.events e
GROUP BY 1, e.event_kind, e.fidelity;
COMMENT ON VIEW durable_sink.events_per_day IS
    'Stored events per day (created_at in the session''s TimeZone), event kind and fidelity (contract §23). Reads the whole event store: an admin query, not for dashboards refreshed every second; restrict it with WHERE day >= ... (still a full scan: events has no created_at index).';

CREATE VIEW durable_sink.capture_failure_summary AS
SELECT g.source, g.source_table, g.sqlstate, g.failures, g.first_failed_at, g.last_failed_at,
       g.newest_failure_id, n.message AS newest_message
FROM (SELECT f.source, f.source_table, f.sqlstate, pg_catalog.count(*) AS failures,
             pg_catalog.min(f.failed_at) AS first_failed_at,
             pg_catalog.max(f.failed_at) AS last_failed_at,
             pg_catalog.max(f.failure_id) AS newest_failure_id
      FROM durable_sink.capture_failures f
      GROUP BY f.source, f.source_table, f.sqlstate) g
JOIN durable_sink.capture_failures n ON n.failure_id OPERATOR(pg_catalog.=) g.newest_failure_id;
COMMENT ON VIEW durable_sink.capture_failure_summary IS
    'Capture failures (durable_sink.capture_failures) per source (emit, trigger), raw table (NULL for emit) and SQLSTATE: how many, first and last, and the newest one''s failure_id and message (contract §23). Reads capture_failures once (delete what is handled).';

CREATE VIEW durable_sink.largest_scopes AS
SELECT s.scope_type, s.scope_id, s.scope_no, COALESCE(h.seq, 0) AS head_seq,
       h.event_id AS head_event_id, h.event_kind AS head_event_kind,
       h.created_at AS head_created_at
FROM durable_sink.scopes s
LEFT JOIN LATERAL (
    SELECT e.thread_seq AS seq, e.event_id, e.event_kind, e.created_at
    FROM durable_sink.events e
    WHERE e.thread_scope OPERATOR(pg_catalog.=) s.scope_no
    ORDER BY e.thread_seq DESC LIMIT 1) h ON true
WHERE s.scope_type OPERATOR(pg_catalog.=) 'thread'
UNION ALL
SELECT s.scope_type, s.scope_id, s.scope_no, COALESCE(h.seq, 0),
       h.event_id, h.event_kind, h.created_at
FROM durable_sink.scopes s
LEFT JOIN LATERAL (
    SELECT e.run_seq AS seq, e.event_id, e.event_kind, e.created_at
    FROM durable_sink.events e
    WHERE e.run_scope OPERATOR(pg_catalog.=) s.scope_no
    ORDER BY e.run_seq DESC LIMIT 1) h ON true
WHERE s.scope_type OPERATOR(pg_catalog.=) 'run'
ORDER BY 4 DESC, 3;
COMMENT ON VIEW durable_sink.largest_scopes IS
    'Every scope (thread, run) with its head: the latest seq, which is also how many events it holds (seqs are gapless from 1), and the head event (contract §23). Largest first: SELECT ... LIMIT n. Costs one backward index probe per scope (events_thread_seq, events_run_seq) and a sort of the scopes, never a scan of the events.';

CREATE VIEW durable_sink.all_subscription_lag AS
SELECT s.name, s.owner::pg_catalog.regrole AS owner, s.checkpoint, s.handed_up_to,
       GREATEST(h.horizon OPERATOR(pg_catalog.-) s.checkpoint, 0) AS positions_behind,
       b.events AS events_behind,
       pg_catalog.now() OPERATOR(pg_catalog.-) b.oldest AS oldest_unacked_age,
       s.created_at, s.acked_at,
       pg_catalog.now() OPERATOR(pg_catalog.-) COALESCE(s.acked_at, s.created_at) AS since_ack
FROM durable_sink.subscriptions s
CROSS JOIN durable_sink.feed_progress() h
CROSS JOIN LATERAL durable_sink.feed_backlog(s.checkpoint, s.event_kinds, s.fidelities::pg_catalog.text[],
                                             s.visibilities::pg_catalog.text[], s.thread_id) b;
COMMENT ON VIEW durable_sink.all_subscription_lag IS
    'Every subscription, whoever owns it (durable_sink.subscription_lag shows only the caller''s), and how far behind it is (contract §20, §23): positions_behind the feed horizon (cheap; counts events its filters skip too; NULL while the horizon is unknown, see feed_progress()), events_behind and oldest_unacked_age (the events after its checkpoint that match its filters: counting them reads them), since_ack (since its last ack, or its creation).';

CREATE VIEW durable_sink.feed_latency AS
SELECT st.mode, st.horizon, st.last_position,
       st.last_position OPERATOR(pg_catalog.-) st.horizon AS positions_pending,
       st.committing_transactions,
       COALESCE(t.xid, l.xid) AS holding_xid,
       COALESCE(t.prepared, l.prepared) AS holding_prepared,
       pg_catalog.now() OPERATOR(pg_catalog.-) COALESCE(t.since, l.since) AS holding_age,
       r.position AS newest_readable_position,
       pg_catalog.now() OPERATOR(pg_catalog.-) r.created_at AS newest_readable_age,
       CASE WHEN pg_catalog.current_setting('track_commit_timestamp')::pg_catalog.bool
            THEN pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.pg_xact_commit_timestamp(r.xmin)
       END AS newest_readable_commit_age
FROM durable_sink.feed_progress() st
-- shared-memory mode: the registered transaction with the lowest position holds the horizon
LEFT JOIN LATERAL (
    SELECT ft.xid, ft.prepared, ft.registered_at AS since
    FROM durable_sink.feed_transactions() ft
    ORDER BY ft.first_position LIMIT 1) t ON st.mode OPERATOR(pg_catalog.=) 'shared_memory'
-- lock mode: the holder of the feed's advisory lock (src/feed.c, feed_lock_tag)
LEFT JOIN LATERAL (
    SELECT x.transactionid AS xid,
           lk.pid IS NULL AS prepared,
           COALESCE(a.xact_start, p.prepared) AS since
    FROM pg_catalog.pg_locks lk
    -- the holder's own transaction id lock: same virtual transaction
    LEFT JOIN pg_catalog.pg_locks x
           ON x.locktype OPERATOR(pg_catalog.=) 'transactionid'
          AND x.virtualtransaction OPERATOR(pg_catalog.=) lk.virtualtransaction
          AND x.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
    LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) lk.pid
    LEFT JOIN pg_catalog.pg_prepared_xacts p
           ON lk.pid IS NULL AND p.transaction OPERATOR(pg_catalog.=) x.transactionid
    WHERE lk.locktype OPERATOR(pg_catalog.=) 'advisory' AND lk.granted
      AND lk.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
      AND lk.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                              WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
      AND lk.classid OPERATOR(pg_catalog.=) 25715::pg_catalog.oid
      AND lk.objid OPERATOR(pg_catalog.=) 1717921124::pg_catalog.oid
      AND lk.objsubid OPERATOR(pg_catalog.=) 2
    LIMIT 1) l ON st.mode OPERATOR(pg_catalog.=) 'lock'
-- the newest event a reader can have: the highest position at or below the horizon
LEFT JOIN LATERAL (
    SELECT f.position, f.xmin, e.created_at
    FROM durable_sink.feed f
    JOIN durable_sink.events e ON e.event_id OPERATOR(pg_catalog.=) f.event_id
    WHERE f.position OPERATOR(pg_catalog.<=) st.horizon
    ORDER BY f.position DESC LIMIT 1) r ON true;
COMMENT ON VIEW durable_sink.feed_latency IS
    'How far the feed trails its writers (contract §19, §23), one row: mode; horizon and last_position (feed_progress(): never waits; in lock mode the horizon is NULL while a transaction holds the feed''s lock); positions_pending = last_position - horizon (handed out, not yet readable); committing_transactions; the transaction holding the horizon back: holding_xid, holding_prepared, holding_age (since it registered, just before its commit; in lock mode since its transaction started, and NULL without the rights to see other roles'' sessions); the newest readable event: newest_readable_position, newest_readable_age (since its writing transaction started, created_at) and, with track_commit_timestamp on, newest_readable_commit_age (since it committed; NULL otherwise). Cheap: a few index probes.';

CREATE VIEW durable_sink.relation_sizes AS
SELECT c.oid::pg_catalog.regclass AS relation, 'table'::pg_catalog.text AS kind,
       c.oid::pg_catalog.regclass AS table_name,
       CASE WHEN c.reltuples OPERATOR(pg_catalog.>=) 0 THEN c.reltuples::pg_catalog.int8 END AS rows_estimate,
       pg_catalog.pg_table_size(c.oid) AS bytes,
       pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) AS size
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
  AND d.refobjid OPERATOR(pg_catalog.=) (SELECT x.oid FROM pg_catalog.pg_extension x
                                         WHERE x.extname OPERATOR(pg_catalog.=) 'durable_sink')
  AND d.deptype OPERATOR(pg_catalog.=) 'e'
  AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
UNION ALL
SELECT i.indexrelid::pg_catalog.regclass, 'index', i.indrelid::pg_catalog.regclass,
       CASE WHEN c.reltuples OPERATOR(pg_catalog.>=) 0 THEN c.reltuples::pg_catalog.int8 END,
       pg_catalog.pg_table_size(i.indexrelid),
       pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(i.indexrelid))
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) d.objid
JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
  AND d.refobjid OPERATOR(pg_catalog.=) (SELECT x.oid FROM pg_catalog.pg_extension x
                                         WHERE x.extname OPERATOR(pg_catalog.=) 'durable_sink')
  AND d.deptype OPERATOR(pg_catalog.=) 'e';
COMMENT ON VIEW durable_sink.relation_sizes IS
    'Every table of the extension and each of its indexes (contract §23): kind (table, index), the table it belongs to, rows_estimate (pg_class.reltuples; NULL before the first VACUUM or ANALYZE), bytes on disk (pg_table_size: every fork, TOAST included for tables) and the same, pretty. Reads the catalogs only.';

REVOKE ALL ON durable_sink.stats, durable_sink.events_per_day, durable_sink.capture_failure_summary,
              durable_sink.largest_scopes, durable_sink.all_subscription_lag,
              durable_sink.feed_latency, durable_sink.relation_sizes FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION durable_sink.stats(), durable_sink.stats_reset(),
                           durable_sink.feed_transactions(), durable_sink.feed_progress()
FROM PUBLIC;

-- ------------------------------------------------------------------------
-- Backfill (contract §22): capture the rows already in a raw table, in
-- the order of an ordering column, one committed transaction per batch,
-- resuming after the last committed batch; progress in a view.
-- ------------------------------------------------------------------------

-- Rows the backfill rejects are recorded with source 'backfill'.
ALTER TABLE durable_sink.capture_failures
    DROP CONSTRAINT capture_failures_source_check,
    ADD CONSTRAINT capture_failures_source_check
        CHECK (source IN ('emit', 'trigger', 'backfill'));

CREATE TABLE durable_sink.backfills (
    raw_table               text    PRIMARY KEY,    -- schema-qualified, quoted where needed
    event_column            text    NOT NULL,
    thread_id_column        text    NOT NULL,
    run_id_column           text    NOT NULL,
    origin                  text    NOT NULL,
    mode                    durable_sink.durability NOT NULL,
    correlation_id_column   text,                   -- NULL: none
    order_column            text    NOT NULL,
    target_value            text,                   -- the last ordering value to capture; NULL: none
    last_value              text,                   -- the last ordering value captured; NULL: none yet
    rows_total              bigint  NOT NULL,       -- raw rows up to target_value at the start
    rows_done               bigint  NOT NULL DEFAULT 0,
    rows_failed             bigint  NOT NULL DEFAULT 0,
    busy_seconds            double precision NOT NULL DEFAULT 0,
    started_at              timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at             timestamptz
);
COMMENT ON TABLE durable_sink.backfills IS
    'One row per raw table backfilled with durable_sink.backfill() (contract §22): its capture arguments, the range (up to target_value, in order_column order), the last ordering value captured (last_value, committed with each batch), counts (rows_done raw rows, rows_failed of them rejected into capture_failures), busy_seconds spent in batches, and timestamps. Ordering values are in their type''s text form. Written only by durable_sink.backfill(); DELETE a row to start that table''s backfill over.';
SELECT pg_catalog.pg_extension_config_dump('durable_sink.backfills', '');
REVOKE ALL ON durable_sink.backfills FROM PUBLIC;

CREATE PROCEDURE durable_sink.backfill(raw_table regclass, event_column text,
                                       thread_id_column text, run_id_column text,
                                       origin text, order_column text,
                                       mode durable_sink.durability DEFAULT 'compacted',
                                       correlation_id_column text DEFAULT NULL,
                                       announce boolean DEFAULT true,
                                       batch_size integer DEFAULT 10000,
                                       up_to text DEFAULT NULL)
LANGUAGE c
AS 'MODULE_PATHNAME', 'durable_sink_backfill';
COMMENT ON PROCEDURE durable_sink.backfill(regclass, text, text, text, text, text,
                                           durable_sink.durability, text, boolean, integer, text) IS
$$Captures the rows already in raw_table as durable_sink.capture_statement() with the same arguments would have (contract §15, §22): in order_column order, batch_size raw rows per transaction, each committed with the backfill's progress in durable_sink.backfills; a NOTICE per batch (rows done, rows/s, time left), durable_sink.backfill_progress for other sessions. A re-run continues after the last committed batch and never captures a row twice; once complete it does nothing. The range is fixed by the first CALL: rows up to the highest ordering value then, or up to up_to (required when the table has a capture trigger: the highest value in the table when the trigger was created). order_column must be NOT NULL with a unique btree index. Rejected rows go to durable_sink.capture_failures (source 'backfill') with a WARNING per batch and do not stop it. Cannot run inside a transaction block (it commits). Needs EXECUTE, TRIGGER privilege and SELECT on the columns of raw_table. Errors: 22004 NULL argument; 22023 batch_size < 1, blank origin, bad announce/mode; 42703 unknown column; 42804 column of the wrong type; 42809 not a table; 42501 no privilege; 42P10 ordering column not NOT NULL or without a unique index; 55000 capture trigger and no up_to, or a re-run with other arguments; 55P03 a backfill of the table runs in another session; 25001 inside a transaction block.$$;

CREATE VIEW durable_sink.backfill_progress AS
SELECT b.raw_table, b.order_column,
       l.pid IS NOT NULL AS running, l.pid,
       b.rows_done, b.rows_total, b.rows_failed,
       CASE WHEN b.finished_at IS NOT NULL THEN 100.0
            WHEN b.rows_total OPERATOR(pg_catalog.>) 0
            THEN pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
                     LEAST(b.rows_done, b.rows_total) OPERATOR(pg_catalog./) b.rows_total, 1)
       END AS percent_done,
       CASE WHEN b.busy_seconds OPERATOR(pg_catalog.>) 0
            THEN pg_catalog.round((b.rows_done OPERATOR(pg_catalog./) b.busy_seconds)::pg_catalog.numeric)
       END AS rows_per_second,
       CASE WHEN b.finished_at IS NOT NULL THEN '0'::pg_catalog.interval
            WHEN b.rows_done OPERATOR(pg_catalog.>) 0
            THEN pg_catalog.make_interval(secs =>
                     GREATEST(b.rows_total OPERATOR(pg_catalog.-) b.rows_done, 0)
                     OPERATOR(pg_catalog.*) b.busy_seconds OPERATOR(pg_catalog./) b.rows_done)
       END AS time_left,
       b.last_value, b.target_value,
       b.started_at, b.updated_at, b.finished_at
FROM durable_sink.backfills b
LEFT JOIN pg_catalog.pg_locks l
  ON l.locktype OPERATOR(pg_catalog.=) 'advisory'
 AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
 AND l.classid OPERATOR(pg_catalog.=) 1685283430::pg_catalog.oid
 AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.granted
 AND l.objid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(b.raw_table)::pg_catalog.oid;
COMMENT ON VIEW durable_sink.backfill_progress IS
    'Committed progress of each backfill (contract §22), for any session to watch: running (and the pid running it), rows_done of rows_total raw rows (rows_failed of them rejected), percent_done, rows_per_second over the time spent in batches, an estimated time_left, the last ordering value captured and the last to capture, and timestamps (finished_at: complete).';
REVOKE ALL ON durable_sink.backfill_progress FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE durable_sink.backfill(regclass, text, text, text, text, text,
                                                  durable_sink.durability, text, boolean, integer, text)
FROM PUBLIC;

-- ------------------------------------------------------------------------
-- Retention (contract §21): deleting old events without breaking a
-- guarantee.  CALL durable_sink.prune_events() deletes events by age and
-- fidelity in batches, one transaction each; a scope's head (the last seq
-- handed out) survives the deletion of its newest events; the feed loses
-- the positions of deleted events; subscriptions behind a deletion get an
-- error until they accept it.
-- ------------------------------------------------------------------------

-- The last seq handed out in a scope, when retention deleted the scope's
-- newest events (0: never).  Appends continue after
-- greatest(max(seq) of the scope's events, pruned_head) (src/store.c), so a
-- seq is never handed out twice.  Written only by retention, and only for
-- a scope whose newest event it deletes: appends never write this row.
ALTER TABLE durable_sink.scopes ADD COLUMN pruned_head bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN durable_sink.scopes.pruned_head IS
    'The scope''s head (last seq handed out) recorded by retention when it deleted the scope''s newest events; 0: never. Appends continue after greatest(max(seq) of its events, pruned_head) (contract §21).';

-- Retention deletes the feed rows of the events it deletes.
CREATE INDEX feed_event_id ON durable_sink.feed (event_id);

-- One row per retention batch that deleted events: what it deleted and the
-- positions they had.  Polls compare it with their checkpoint.
CREATE TABLE durable_sink.retention_log (
    batch_id        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pruned_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    events          bigint  NOT NULL,       -- events deleted (or archived)
    first_position  bigint,                 -- lowest and highest feed position deleted
    last_position   bigint,
    fidelities      durable_sink.fidelity_class[] NOT NULL,  -- of the deleted events
    event_kinds     text[]  NOT NULL,       -- of the deleted events
    archive         regclass                -- where they went; NULL: deleted
);
CREATE INDEX retention_log_last_position ON durable_sink.retention_log (last_position);
COMMENT ON TABLE durable_sink.retention_log IS
    'One row per retention batch that deleted events (contract §21): how many, their lowest and highest feed positions, their fidelities and event kinds, the archive table they were moved to (NULL: deleted).';
SELECT pg_catalog.pg_extension_config_dump('durable_sink.retention_log', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('durable_sink.retention_log', 'batch_id')::regclass, '');

-- A subscription accepts the deletions up to this position (accept_pruned).
ALTER TABLE durable_sink.subscriptions ADD COLUMN pruned_accepted bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN durable_sink.subscriptions.pruned_accepted IS
    'Retention deletions up to this feed position are accepted (durable_sink.accept_pruned): poll raises no error for them (contract §21).';

-- The archive table's check: every column of durable_sink.events, with
-- its type, and none that needs a value retention cannot give.
CREATE FUNCTION durable_sink.check_archive(archive regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $check$
DECLARE
    col record;
BEGIN
    IF archive IS NULL THEN
        RETURN;
    END IF;
    IF archive = 'durable_sink.events'::regclass THEN
        RAISE EXCEPTION 'archive must not be durable_sink.events' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = archive) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'archive "%" is not a table', archive USING ERRCODE = 'wrong_object_type';
    END IF;
    FOR col IN
        SELECT e.attname, e.atttypid, a.atttypid AS archive_type
        FROM pg_attribute e
        LEFT JOIN pg_attribute a ON a.attrelid = archive AND a.attname = e.attname
                                AND a.attnum > 0 AND NOT a.attisdropped
        WHERE e.attrelid = 'durable_sink.events'::regclass AND e.attnum > 0 AND NOT e.attisdropped
        ORDER BY e.attnum
    LOOP
        IF col.archive_type IS NULL THEN
            RAISE EXCEPTION 'archive "%" has no column "%"', archive, col.attname
                USING ERRCODE = 'undefined_column',
                      HINT = 'An archive table has the columns of durable_sink.events: CREATE TABLE archive (LIKE durable_sink.events).';
        ELSIF col.archive_type <> col.atttypid THEN
            RAISE EXCEPTION 'column "%" of archive "%" has type %, durable_sink.events has %',
                col.attname, archive, col.archive_type::regtype, col.atttypid::regtype
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END LOOP;
    SELECT a.attname INTO col
    FROM pg_attribute a
    WHERE a.attrelid = archive AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
      AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
      AND NOT EXISTS (SELECT 1 FROM pg_attribute e
                      WHERE e.attrelid = 'durable_sink.events'::regclass AND e.attname = a.attname
                        AND e.attnum > 0 AND NOT e.attisdropped);
    IF FOUND THEN
        RAISE EXCEPTION 'archive "%" has a column "%" that durable_sink.events lacks, NOT NULL without a default', archive, col.attname
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$check$;
COMMENT ON FUNCTION durable_sink.check_archive(regclass) IS
    'Checks that a table can be a retention archive (contract §21): it has every column of durable_sink.events with the same type (more columns only if nullable or with a default). Errors: 22023 the event store itself, or an extra NOT NULL column without default; 42809 not a table; 42703 a missing column; 42804 a column of another type.';

-- One batch of retention, in the caller's transaction.
CREATE FUNCTION durable_sink.prune_events_batch(cutoff timestamptz,
                                                fidelities durable_sink.fidelity_class[],
                                                after_event_id bigint,
                                                batch_size integer,
                                                archive regclass DEFAULT NULL,
                                                OUT removed bigint,
                                                OUT last_event_id bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $batch$
DECLARE
    ids bigint[];
    tops bigint[];
    top_seqs bigint[];
    locked bigint[];
    skipped bigint[];
    gone_ids bigint[];
    gone_fidelities durable_sink.fidelity_class[];
    gone_kinds text[];
    first_pos bigint;
    last_pos bigint;
    col_list text;
BEGIN
    IF cutoff IS NULL OR fidelities IS NULL OR after_event_id IS NULL OR batch_size IS NULL THEN
        RAISE EXCEPTION '% must not be null',
            CASE WHEN cutoff IS NULL THEN 'cutoff' WHEN fidelities IS NULL THEN 'fidelities'
                 WHEN after_event_id IS NULL THEN 'after_event_id' ELSE 'batch_size' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM durable_sink.check_archive(archive);
    removed := 0;

    -- The batch: old events of those fidelities after the cursor, in
    -- event_id order.  Events appended with an idempotency key stay: their
    -- key must keep answering retries with the original event.
    SELECT array_agg(c.event_id ORDER BY c.event_id), max(c.event_id) INTO ids, last_event_id
    FROM (SELECT e.event_id FROM durable_sink.events e
          WHERE e.event_id > after_event_id AND e.created_at < cutoff
            AND e.fidelity = ANY (fidelities) AND e.idempotency_key IS NULL
          ORDER BY e.event_id LIMIT batch_size) c;
    IF ids IS NULL THEN
        RETURN;
    END IF;

    -- The scopes whose newest event the batch holds: their head must be
    -- recorded (scopes.pruned_head), under their row lock, which appends
    -- take too.  A scope whose row an appending transaction holds is
    -- skipped (SKIP LOCKED), its events left for a later run: retention
    -- never waits for a writer, and a writer waits for at most this batch.
    -- Locked in the appenders' order (scope type, key).
    SELECT array_agg(t.scope_no), array_agg(t.seq) INTO tops, top_seqs
    FROM (SELECT e.thread_scope AS scope_no, max(e.thread_seq) AS seq, true AS thread
          FROM durable_sink.events e
          WHERE e.event_id = ANY (ids) AND e.thread_scope IS NOT NULL GROUP BY e.thread_scope
          UNION ALL
          SELECT e.run_scope, max(e.run_seq), false
          FROM durable_sink.events e
          WHERE e.event_id = ANY (ids) AND e.run_scope IS NOT NULL GROUP BY e.run_scope) t
    WHERE NOT EXISTS (SELECT 1 FROM durable_sink.events h
                      WHERE t.thread AND h.thread_scope = t.scope_no AND h.thread_seq > t.seq)
      AND NOT EXISTS (SELECT 1 FROM durable_sink.events h
                      WHERE NOT t.thread AND h.run_scope = t.scope_no AND h.run_seq > t.seq);
    IF tops IS NOT NULL THEN
        SELECT array_agg(l.scope_no) INTO locked
        FROM (SELECT s.scope_no FROM durable_sink.scopes s
              WHERE s.scope_no = ANY (tops)
              ORDER BY s.scope_type, s.scope_key
              FOR NO KEY UPDATE SKIP LOCKED) l;
        SELECT array_agg(t) INTO skipped
        FROM unnest(tops) t WHERE locked IS NULL OR t <> ALL (locked);
        IF skipped IS NOT NULL THEN
            SELECT array_agg(e.event_id) INTO ids
            FROM durable_sink.events e
            WHERE e.event_id = ANY (ids)
              AND (e.thread_scope IS NULL OR e.thread_scope <> ALL (skipped))
              AND (e.run_scope IS NULL OR e.run_scope <> ALL (skipped));
            IF ids IS NULL THEN
                RETURN;
            END IF;
        END IF;
    END IF;

    IF archive IS NULL THEN
        WITH gone AS (DELETE FROM durable_sink.events e WHERE e.event_id = ANY (ids)
                      RETURNING e.event_id, e.fidelity, e.event_kind)
        SELECT array_agg(g.event_id), array_agg(DISTINCT g.fidelity), array_agg(DISTINCT g.event_kind)
        INTO gone_ids, gone_fidelities, gone_kinds FROM gone g;
    ELSE
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO col_list
        FROM pg_attribute a
        WHERE a.attrelid = 'durable_sink.events'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
        EXECUTE format('WITH gone AS (DELETE FROM durable_sink.events e '
                       '              WHERE e.event_id OPERATOR(pg_catalog.=) ANY ($1) RETURNING e.*), '
                       '     moved AS (INSERT INTO %s (%s) SELECT %s FROM gone) '
                       'SELECT pg_catalog.array_agg(g.event_id), pg_catalog.array_agg(DISTINCT g.fidelity), '
                       '       pg_catalog.array_agg(DISTINCT g.event_kind) FROM gone g',
                       archive, col_list, col_list)
        INTO gone_ids, gone_fidelities, gone_kinds USING ids;
    END IF;
    IF gone_ids IS NULL THEN
        RETURN;                 -- a concurrent retention run deleted them
    END IF;
    removed := cardinality(gone_ids);

    WITH gone AS (DELETE FROM durable_sink.feed f WHERE f.event_id = ANY (gone_ids)
                  RETURNING f.position)
    SELECT min(g.position), max(g.position) INTO first_pos, last_pos FROM gone g;

    UPDATE durable_sink.scopes s SET pruned_head = t.seq
    FROM unnest(tops, top_seqs) AS t(scope_no, seq)
    WHERE s.scope_no = t.scope_no AND t.scope_no = ANY (locked) AND s.pruned_head < t.seq;

    INSERT INTO durable_sink.retention_log
        (events, first_position, last_position, fidelities, event_kinds, archive)
    VALUES (removed, first_pos, last_pos, gone_fidelities, gone_kinds, archive);
END
$batch$;
COMMENT ON FUNCTION durable_sink.prune_events_batch(timestamptz, durable_sink.fidelity_class[], bigint, integer, regclass) IS
    'One retention batch in the caller''s transaction (contract §21): deletes (or moves to archive) up to batch_size events with event_id > after_event_id, created_at < cutoff, one of the fidelities and no idempotency key, with their feed rows; records the head of each scope whose newest event it deletes. Skips the events of a scope an appending transaction holds. Returns how many it deleted and the highest event_id it looked at (NULL: nothing left). Errors: 22004, 22023 batch_size < 1, and those of check_archive.';

-- Retention by age and fidelity, one transaction per batch: CALL it
-- outside a transaction block (a procedure can COMMIT only there).  No SET
-- clause (a procedure with one cannot COMMIT): every name and operator in
-- it is schema-qualified instead.
CREATE PROCEDURE durable_sink.prune_events(
    older_than interval DEFAULT '1 day',
    fidelities durable_sink.fidelity_class[] DEFAULT '{observed_runtime_event}',
    archive regclass DEFAULT NULL,
    batch_size integer DEFAULT 10000,
    INOUT removed bigint DEFAULT NULL,
    INOUT batches integer DEFAULT NULL)
LANGUAGE plpgsql
AS $prune$
DECLARE
    cutoff timestamptz;
    cursor_id bigint := 0;
    batch record;
BEGIN
    IF older_than IS NULL OR fidelities IS NULL OR batch_size IS NULL THEN
        RAISE EXCEPTION '% must not be null',
            CASE WHEN older_than IS NULL THEN 'older_than' WHEN fidelities IS NULL THEN 'fidelities'
                 ELSE 'batch_size' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF older_than OPERATOR(pg_catalog.<) '0'::pg_catalog.interval THEN
        RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cutoff := pg_catalog.now() OPERATOR(pg_catalog.-) older_than;
    removed := 0;
    batches := 0;
    LOOP
        SELECT b.removed, b.last_event_id INTO batch
        FROM durable_sink.prune_events_batch(cutoff, fidelities, cursor_id, batch_size, archive) b;
        EXIT WHEN batch.last_event_id IS NULL;
        removed := removed OPERATOR(pg_catalog.+) batch.removed;
        batches := batches OPERATOR(pg_catalog.+) 1;
        cursor_id := batch.last_event_id;
        COMMIT;
    END LOOP;
END
$prune$;
COMMENT ON PROCEDURE durable_sink.prune_events(interval, durable_sink.fidelity_class[], regclass, integer, bigint, integer) IS
    'Retention (contract §21): deletes the events created more than older_than ago (default 1 day) whose fidelity is one of fidelities (default observed_runtime_event), or moves them to archive (a table with the columns of durable_sink.events), in batches of batch_size events, committing after each: a writer waits for at most one batch. Keeps events appended with an idempotency key, and leaves for a later run those of a scope an appending transaction holds. Returns removed (events) and batches. CALL it outside a transaction block. Errors: 22004, 22023, check_archive''s; 2D000 inside a transaction block.';

-- Capture failures get the same retention as live frames: a DELETE of old
-- rows, which no writer ever waits for (they only insert).
CREATE FUNCTION durable_sink.prune_capture_failures(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $prune_failures$
    WITH gone AS (DELETE FROM durable_sink.capture_failures
                  WHERE failed_at < now() - older_than RETURNING 1)
    SELECT count(*) FROM gone;
$prune_failures$;
COMMENT ON FUNCTION durable_sink.prune_capture_failures(interval) IS
    'Deletes the capture failures recorded more than older_than ago (default 30 days); returns how many (contract §21). NULL in, NULL out.';
COMMENT ON FUNCTION durable_sink.prune_live_frames(interval) IS
    'Deletes the live frames stored more than older_than ago (default 1 day); returns how many (contract §17, §21). NULL in, NULL out.';

-- The retained range of one scope, for consumers of read().
CREATE FUNCTION durable_sink.retained_range(scope_type text, scope_id text,
                                            OUT first_seq bigint, OUT last_seq bigint,
                                            OUT head_seq bigint)
RETURNS record
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $range$
DECLARE
    head durable_sink.scopes;
BEGIN
    IF scope_type IS NULL OR scope_id IS NULL THEN
        RAISE EXCEPTION '% must not be null', CASE WHEN scope_type IS NULL THEN 'scope_type' ELSE 'scope_id' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF scope_type NOT IN ('thread', 'run') THEN
        RAISE EXCEPTION 'scope_type must be "thread" or "run", not "%"', scope_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO head FROM durable_sink.scopes s
    WHERE s.scope_type = retained_range.scope_type
      AND s.scope_key = sha256(convert_to(retained_range.scope_id, getdatabaseencoding()));
    IF NOT FOUND THEN
        head_seq := 0;
        RETURN;
    END IF;
    IF retained_range.scope_type = 'thread' THEN
        SELECT min(e.thread_seq), max(e.thread_seq) INTO first_seq, last_seq
        FROM durable_sink.events e WHERE e.thread_scope = head.scope_no;
    ELSE
        SELECT min(e.run_seq), max(e.run_seq) INTO first_seq, last_seq
        FROM durable_sink.events e WHERE e.run_scope = head.scope_no;
    END IF;
    head_seq := greatest(coalesce(last_seq, 0), head.pruned_head);
END
$range$;
COMMENT ON FUNCTION durable_sink.retained_range(text, text) IS
    'The retained range of a scope (contract §21): the lowest and highest seq of its stored events (NULL: none), and head_seq, the last seq handed out (greater than last_seq when retention deleted its newest events; the next append gets head_seq + 1; 0: no event yet). Seqs between may be missing where retention deleted events of some fidelities. Errors: 22004, 22023 scope_type not thread or run.';

-- Retention deletions after a position that may concern a subscription
-- with these filters (NULL: any): the highest deleted position, or NULL.
-- Read with a snapshot taken now, so a poll that calls it after reading
-- sees every deletion its read could have missed (src/retention.c).
-- Executable by PUBLIC (unlike the rest): poll calls it as the caller, so a
-- role granted poll keeps polling without a new grant; it tells only the
-- positions retention deleted.
CREATE FUNCTION durable_sink.pruned_after(after_position bigint, event_kinds text[],
                                          fidelities text[])
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'durable_sink_pruned_after';
COMMENT ON FUNCTION durable_sink.pruned_after(bigint, text[], text[]) IS
    'The highest feed position of the events retention deleted after after_position whose batch deleted one of event_kinds and one of fidelities (NULL: any), or NULL when there is none (contract §21). Reads with a fresh snapshot. Errors: 22004 NULL after_position.';

-- The feed's retained range.
CREATE FUNCTION durable_sink.feed_retained_range(OUT first_position bigint,
                                                 OUT last_position bigint,
                                                 OUT pruned_up_to bigint,
                                                 OUT pruned_events bigint)
RETURNS record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $feed_range$
    SELECT (SELECT min(f.position) FROM durable_sink.feed f),
           (SELECT max(f.position) FROM durable_sink.feed f),
           (SELECT coalesce(max(l.last_position), 0) FROM durable_sink.retention_log l),
           (SELECT coalesce(sum(l.events), 0)::bigint FROM durable_sink.retention_log l);
$feed_range$;
COMMENT ON FUNCTION durable_sink.feed_retained_range() IS
    'The feed''s retained range (contract §21): the lowest and highest position of a stored event (NULL: none), the highest position retention deleted (0: none) and how many events it deleted. Positions between may be missing where retention deleted events of some fidelities.';

-- A subscription behind a deletion: poll raises 55000 until it accepts it.
CREATE FUNCTION durable_sink.accept_pruned(subscription text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $accept$
DECLARE
    up_to bigint;
BEGIN
    IF subscription IS NULL THEN
        RAISE EXCEPTION 'subscription must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    up_to := coalesce(durable_sink.pruned_after(0, NULL, NULL), 0);
    UPDATE durable_sink.subscriptions s SET pruned_accepted = greatest(s.pruned_accepted, up_to)
    WHERE s.name = subscription;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', subscription
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN up_to;
END
$accept$;
COMMENT ON FUNCTION durable_sink.accept_pruned(text) IS
    'Accept the retention deletions made so far for a subscription (contract §21): its polls continue with the retained events after its checkpoint instead of raising 55000. Returns the highest deleted position accepted. Errors: 22004, 42704 unknown subscription.';

REVOKE ALL ON durable_sink.retention_log FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    durable_sink.check_archive(regclass),
    durable_sink.prune_events_batch(timestamptz, durable_sink.fidelity_class[], bigint, integer, regclass),
    durable_sink.prune_capture_failures(interval),
    durable_sink.retained_range(text, text),
    durable_sink.feed_retained_range(),
    durable_sink.accept_pruned(text)
FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE
    durable_sink.prune_events(interval, durable_sink.fidelity_class[], regclass, integer, bigint, integer)
FROM PUBLIC;
