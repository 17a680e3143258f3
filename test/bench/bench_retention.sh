#!/usr/bin/env bash
# Benchmark of retention (contract §21): CALL durable_sink.prune_events()
# over ~1M old observed events while writers append.
#
#   test/bench/bench_retention.sh        (as root or a sudoer; run it under
#                                          the install lock on a shared machine)
#
# Builds and installs the extension, starts a throwaway cluster
# (scripts/lib.sh; DS_PORT picks its port) and loads BENCH_THREADS threads
# of one run each: a RunStarted (domain, kept) and BENCH_PER_THREAD text
# deltas (observed), two days old, with their feed rows, interleaved across
# threads as live streams are.  The database is copied (CREATE DATABASE
# ... TEMPLATE) for the baseline.  Then:
#  1. writers: BENCH_CLIENTS pgbench clients emit one observed event per
#     transaction into random threads of the same set (full_fidelity) for
#     the whole run, with a per-transaction latency log;
#  2. after BENCH_WARMUP seconds, CALL durable_sink.prune_events() with the
#     defaults (observed, older than a day, batches of 10,000).
# Reported: rows/s of the procedure (baseline: one DELETE of the same
# events and their feed rows in the copy, no writers), and the writers'
# longest and p99 transaction time while it ran (baseline: the same writers
# before it started), and their throughput in both windows.
# Results: "result ..." lines on stdout; progress on stderr.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

threads=${BENCH_THREADS:-1000}
per_thread=${BENCH_PER_THREAD:-1000}
clients=${BENCH_CLIENTS:-4}
warmup=${BENCH_WARMUP:-20}
writer_seconds=${BENCH_WRITER_SECONDS:-100}

ensure_deps bench
build_install
trap stop_cluster EXIT
start_cluster
work=$(mktemp -d /tmp/bench_retention.XXXXXX)
chmod 777 "$work"
run_psql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

log "loading $threads threads x (1 + $per_thread) events"
run_psql -v threads="$threads" -v per_thread="$per_thread" <<'SQL'
CREATE DATABASE bench;
\c bench
CREATE EXTENSION durable_sink;
INSERT INTO durable_sink.scopes (scope_type, scope_key, scope_id)
SELECT k.type, sha256(convert_to(k.id, 'UTF8')), k.id
FROM generate_series(1, :threads) t,
     LATERAL (VALUES ('thread', 'bt' || t), ('run', 'br' || t)) k(type, id);
INSERT INTO durable_sink.events (event_id, fidelity, event_kind, scopes, thread_id, run_id,
                                 payload, origin, visibility, schema_version, created_at,
                                 thread_scope, thread_seq, run_scope, run_seq)
SELECT nextval('durable_sink.event_id_seq'),
       CASE WHEN s = 1 THEN 'domain_event' ELSE 'observed_runtime_event' END::durable_sink.fidelity_class,
       CASE WHEN s = 1 THEN 'RunStarted' ELSE 'TextDeltaObserved' END,
       jsonb_build_array(jsonb_build_object('scope_type', 'thread', 'thread_id', 'bt' || t),
                         jsonb_build_object('scope_type', 'run', 'run_id', 'br' || t)),
       'bt' || t, 'br' || t,
       CASE WHEN s = 1 THEN jsonb_build_object('event_type', 'run_start', 'thread_id', 'bt' || t, 'run_id', 'br' || t)
            ELSE jsonb_build_object('event_type', 'text_delta', 'delta', 'token ' || s) END,
       'bench', 'public', 1, now() - interval '2 days',
       ts.scope_no, s, rs.scope_no, s
FROM generate_series(1, :per_thread + 1) s, generate_series(1, :threads) t
JOIN durable_sink.scopes ts ON ts.scope_type = 'thread' AND ts.scope_id = 'bt' || t
JOIN durable_sink.scopes rs ON rs.scope_type = 'run' AND rs.scope_id = 'br' || t
ORDER BY s, t;
INSERT INTO durable_sink.feed (position, event_id)
SELECT row_number() OVER (ORDER BY event_id), event_id FROM durable_sink.events;
SELECT setval('durable_sink.feed_position_seq', max(position)) FROM durable_sink.feed;
VACUUM ANALYZE;
\c postgres
CREATE DATABASE bench_baseline TEMPLATE bench;
SQL
observed=$(run_psql -d bench -At -c "SELECT count(*) FROM durable_sink.events WHERE fidelity = 'observed_runtime_event'")
log "loaded: $observed observed events"

# ------------------------------------------------------- baseline DELETE
log "baseline: one DELETE of the same events and their feed rows, no writers"
baseline_ms=$(run_psql -d bench_baseline -At <<'SQL' | tail -1
SELECT clock_timestamp() AS t0 \gset
BEGIN;
DELETE FROM durable_sink.feed f USING durable_sink.events e
WHERE e.event_id = f.event_id AND e.fidelity = 'observed_runtime_event'
  AND e.created_at < now() - interval '1 day';
DELETE FROM durable_sink.events e
WHERE e.fidelity = 'observed_runtime_event' AND e.created_at < now() - interval '1 day';
COMMIT;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
SQL
)

# ------------------------------------------------ prune_events + writers
cat > "$work/writer.sql" <<SQL
\set t random(1, $threads)
SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":"w"}', 'bt' || :t, 'br' || :t,
                                       mode => 'full_fidelity', announce => false);
SQL
chown -R "$(pg_user)" "$work"
log "writers: $clients clients for ${writer_seconds}s; prune_events after ${warmup}s"
(cd "$work" && as_pg_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
    "$PG_BIN/pgbench" -n -c "$clients" -j 2 -T "$writer_seconds" -l --log-prefix="$work/lat" \
    -f "$work/writer.sql" bench > "$work/pgbench.out" 2>&1) &
writers=$!
sleep "$warmup"
prune_start=$(date +%s.%N)
removed=$(run_psql -d bench -At -c "CALL durable_sink.prune_events()" | cut -d'|' -f1)
prune_end=$(date +%s.%N)
log "pruned $removed events in $(echo "$prune_end - $prune_start" | bc) s; waiting for the writers"
wait "$writers" || { cat "$work/pgbench.out" >&2; exit 1; }

# Latency log: client transaction latency_us script epoch_s epoch_us (the end).
# "before": transactions that ended 2 s after the start .. prune start;
# "during": transactions that overlapped the prune.
cat "$work"/lat.* | awk -v ps="$prune_start" -v pe="$prune_end" -v t0="$(cat "$work"/lat.* | awk 'NR == 1 || $5 < m { m = $5 } END { print m }')" '
  { end = $5 + $6 / 1e6; lat = $3 / 1000; start = end - lat / 1000
    if (end >= t0 + 2 && end < ps) { print "before", lat }
    else if (start <= pe && end >= ps) { print "during", lat } }' > "$work/windows"
stats() {  # window -> "count max_ms p99_ms"
    grep "^$1 " "$work/windows" | awk '{ print $2 }' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 0 0"; exit }
             i = int(NR * 0.99); if (i < 1) i = 1; printf "%d %.1f %.1f\n", NR, v[NR], v[i] }'
}
read -r before_n before_max before_p99 <<<"$(stats before)"
read -r during_n during_max during_p99 <<<"$(stats during)"
prune_s=$(echo "$prune_end - $prune_start" | bc)
before_s=$(echo "$prune_start - $(cat "$work"/lat.* | awk 'NR == 1 || $5 < m { m = $5 } END { print m }') - 2" | bc)

check=$(run_psql -d bench -At -c "
  SELECT (SELECT count(*) FROM durable_sink.events WHERE fidelity = 'observed_runtime_event'
            AND created_at < now() - interval '1 day') || ' old observed left, ' ||
         (SELECT count(*) FROM durable_sink.feed f WHERE NOT EXISTS
            (SELECT FROM durable_sink.events e WHERE e.event_id = f.event_id)) || ' feed rows of missing events, ' ||
         (SELECT count(*) FROM durable_sink.scopes WHERE pruned_head > 0) || ' scopes with a recorded head'")

echo "result loaded_observed_events $observed"
echo "result prune_events removed=$removed seconds=$prune_s rows_per_s=$(echo "$removed / $prune_s" | bc)"
echo "result baseline_single_delete ms=$baseline_ms rows_per_s=$(echo "$observed * 1000 / $baseline_ms" | bc)"
echo "result writers_before_prune transactions=$before_n tps=$(echo "$before_n / $before_s" | bc) max_ms=$before_max p99_ms=$before_p99"
echo "result writers_during_prune transactions=$during_n tps=$(echo "$during_n / $prune_s" | bc) max_ms=$during_max p99_ms=$during_p99"
echo "result after $check"
rm -rf "$work"
