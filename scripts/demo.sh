#!/usr/bin/env bash
# scripts/demo.sh — the main job, end to end on a fresh machine: build and
# install the extension, start a throwaway cluster, load a realistic
# multi-run stream of agent events into a raw table, turn it into canonical
# rows, show them per kind for both durability modes, capture them into the
# event store, consume them through the feed, and stop the cluster.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EVENTS=${EVENTS:-3000}
ensure_deps demo
build_install
trap stop_cluster EXIT
start_cluster

log "generating $EVENTS sample events (4 concurrent conversations)"
python3 "$DS_ROOT/test/bench/gen_corpus.py" --events "$EVENTS" --threads 4 --seed 7 \
    > "$DS_PGDIR/sample.tsv"

psql -X -q -v ON_ERROR_STOP=1 <<SQL
\pset footer off
CREATE EXTENSION durable_sink;
CREATE TABLE raw_events (seq bigint PRIMARY KEY, thread_id text, run_id text, event jsonb);
\copy raw_events FROM '$DS_PGDIR/sample.tsv'

\echo
\echo '== The raw stream: agent events as the runtimes sent them'
SELECT event->>'event_type' AS event_type, count(*) AS events
FROM raw_events GROUP BY 1 ORDER BY 2 DESC, 1;

\echo '== Normalizing every event in stream order (normalize_many)'
\timing on
CREATE TABLE canonical AS
SELECT r.seq, d.*
FROM (SELECT * FROM raw_events ORDER BY seq) r,
     LATERAL durable_sink.normalize_many(r.event, r.thread_id, r.run_id, 'demo') d;
\timing off

\echo
\echo '== Canonical rows per kind, and what each durability mode keeps'
SELECT event_kind, fidelity, visibility,
       count(*) FILTER (WHERE durable_sink.should_persist('compacted', fidelity))     AS compacted,
       count(*) FILTER (WHERE durable_sink.should_persist('full_fidelity', fidelity)) AS full_fidelity
FROM canonical GROUP BY 1, 2, 3 ORDER BY fidelity DESC, 5 DESC, 1;

SELECT m.mode, count(c.*) FILTER (WHERE durable_sink.should_persist(m.mode, c.fidelity)) AS rows_kept,
       (SELECT count(*) FROM raw_events) AS raw_events
FROM unnest(enum_range(NULL::durable_sink.durability)) AS m(mode) CROSS JOIN canonical c
GROUP BY m.mode ORDER BY m.mode;

\echo '== One run that was suspended and resumed: its lifecycle rows'
SELECT seq, event_kind, run_id, payload->'termination' AS termination
FROM canonical
WHERE run_id = (SELECT run_id FROM canonical WHERE event_kind = 'RunResumed' ORDER BY seq LIMIT 1)
  AND event_kind IN ('RunStarted', 'RunResumed', 'RunSuspended', 'RunFinished', 'RunCancelled',
                     'RunErrored', 'RunTerminated', 'ToolCallSuspended', 'ToolPermissionRequested',
                     'ToolCallResumed')
ORDER BY seq;

\echo '== Context-compaction facts (thread scope, internal visibility)'
SELECT seq, event_kind, thread_id, payload - 'thread_id' - 'summary_hash' AS payload
FROM canonical WHERE event_kind LIKE 'ContextCompaction%' ORDER BY seq LIMIT 8;

\echo '== Per-run and per-thread state kept by the extension'
SELECT count(*) AS runs, count(*) FILTER (WHERE finished) AS finished_activations,
       sum(starts) AS run_starts FROM durable_sink.run_state;
SELECT thread_id, total_compactions, in_flight_task_id FROM durable_sink.compaction_state ORDER BY 1;

\echo '== The sink: the same stream captured into the event store by a statement trigger'
\echo '   (compacted mode; the state tables are emptied first, so this is a first sight)'
TRUNCATE durable_sink.run_state, durable_sink.compaction_state;
CREATE TABLE raw_captured (LIKE raw_events);
CREATE TRIGGER capture AFTER INSERT ON raw_captured REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'demo', 'compacted', '', 'false');
\timing on
INSERT INTO raw_captured SELECT * FROM raw_events ORDER BY seq;
\timing off
SELECT count(*) AS stored_events, count(DISTINCT thread_id) AS threads, count(DISTINCT run_id) AS runs
FROM durable_sink.events;

\echo '== A consumer reads one thread from a position (read(scope, id, after_seq, max_rows))'
SELECT seq, event_kind, run_id
FROM durable_sink.read('thread', (SELECT thread_id FROM raw_events ORDER BY seq LIMIT 1), 0, 12);

\echo '== The feed: every stored event in commit order (read_all), and a subscription'
\echo '   that consumes the run facts batch by batch (poll, then ack)'
SELECT mode, last_position FROM durable_sink.feed_status();
SELECT position, event_kind, thread_id, thread_seq FROM durable_sink.read_all(0, 5);
SELECT name FROM durable_sink.create_subscription('demo-runs',
  event_kinds => '{RunStarted,RunSuspended,RunFinished,RunErrored,RunCancelled}');
SELECT position, event_kind, run_id FROM durable_sink.poll('demo-runs', 6);
SELECT durable_sink.ack('demo-runs') AS acknowledged_up_to;
SELECT name, checkpoint, events_behind FROM durable_sink.subscription_lag;

\echo '== Bad input is a clear error (SQLSTATE 22023, the member named):'
\set VERBOSITY verbose
\set ON_ERROR_STOP 0
SELECT durable_sink.normalize('{"event_type":"text_delta","delta":42}', 't1', 'r1');
SQL
log "demo finished; the throwaway cluster is being stopped"
