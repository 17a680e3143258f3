#!/usr/bin/env bash
# Benchmark of durable_sink.backfill() (contract §22) against the
# statement-trigger COPY of the same rows, in one run.
#
#   test/bench/bench_backfill.sh            build and install this tree, start a
#                                           throwaway cluster on DS_PORT (scripts/lib.sh)
#   test/bench/bench_backfill.sh --server   use a running server (PGHOST, PGPORT,
#                                           PGUSER: a superuser on this machine), build nothing
#
# Generates BENCH_EVENTS events with test/bench/gen_corpus.py (many
# conversations streaming at once, runs, tool calls, snapshots, a few
# malformed events), then for each mode in BENCH_MODES, each in a fresh
# database of its own:
#  1. copy: a server-side COPY of the corpus into raw_copy, which has the
#     statement capture trigger (capture_statement(..., <mode>)): timed;
#  2. backfill: the same COPY into raw_bf, which has no trigger (timed, for
#     reference: the cost of loading the raw rows alone), then CALL durable_sink.backfill(..., <mode>, batch_size => BENCH_BATCH)
#     ordered by the seq column (the primary key): timed;
#  3. checks that both stored the same canonical rows (count, and an md5 over
#     them in event_id order), the same capture_failures, and that the
#     backfill is complete.
# Times are wall-clock around the statement (it commits), after a CHECKPOINT.
# Output: "result <mode> <name> <value>" lines, then "summary" lines.
#
# Environment: BENCH_EVENTS (1000000), BENCH_THREADS (64), BENCH_SEED (1),
# BENCH_MALFORMED (0.001), BENCH_BATCH (10000), BENCH_MODES ("compacted
# full_fidelity"), DS_PORT (55240, without --server).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
events=${BENCH_EVENTS:-1000000}
threads=${BENCH_THREADS:-64}
seed=${BENCH_SEED:-1}
malformed=${BENCH_MALFORMED:-0.001}
batch=${BENCH_BATCH:-10000}
modes=${BENCH_MODES:-compacted full_fidelity}

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

for v in events threads seed batch; do
    case "${!v}" in ''|0|*[!0-9]*) die "$v must be a positive integer: ${!v}" ;; esac
done
for m in $modes; do
    case "$m" in compacted|full_fidelity) ;; *) die "unknown mode $m" ;; esac
done

case "${1:-}" in
    --server)
        work=$(mktemp -d /tmp/bench_backfill.XXXXXX)
        trap 'rm -rf "$work"' EXIT
        ;;
    "")
        export DS_PORT=${DS_PORT:-55240}
        . "$here/../../scripts/lib.sh"
        build_install
        trap stop_cluster EXIT
        start_cluster
        work=$DS_PGDIR
        ;;
    *) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
chmod 755 "$work"

log "generating $events events ($threads conversations at a time, seed $seed)"
python3 "$here/gen_corpus.py" --events "$events" --threads "$threads" --seed "$seed" \
    --malformed-rate "$malformed" > "$work/corpus.tsv"
chmod 644 "$work/corpus.tsv"

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
now() { date +%s.%N; }

# run_timed DB SQL: seconds the statement took (after a CHECKPOINT)
run_timed() {
    local db=$1 sql=$2 t0 t1
    q -d "$db" -c CHECKPOINT
    t0=$(now)
    q -d "$db" -c "SET client_min_messages = error" -c "$sql" >/dev/null
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

# fingerprint DB: the canonical rows and the failures, independent of ids
fingerprint() {
    q -d "$1" -c "
      SELECT count(*), md5(string_agg(md5(concat_ws('|', event_kind, thread_id, run_id, thread_seq, run_seq,
                                                    payload::text, fidelity, scopes::text, visibility, origin,
                                                    correlation_id, causation_id, schema_version)), '' ORDER BY event_id))
      FROM durable_sink.events" \
      -c "SELECT count(*), md5(string_agg(md5(concat_ws('|', thread_id, run_id, event::text, sqlstate, message)), ''
                                         ORDER BY failure_id))
          FROM durable_sink.capture_failures"
}

table_sql="(seq bigint PRIMARY KEY, thread_id text NOT NULL, run_id text NOT NULL, event jsonb)"
status=0
for mode in $modes; do
    db_copy=bench_bf_copy_$$
    db_bf=bench_bf_backfill_$$
    for db in "$db_copy" "$db_bf"; do
        q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
            -c "CREATE DATABASE $db"
        q -d "$db" -c "CREATE EXTENSION durable_sink" -c "CREATE TABLE raw_copy $table_sql" \
            -c "CREATE TABLE raw_bf $table_sql"
    done
    q -d "$db_copy" -c "CREATE TRIGGER capture AFTER INSERT ON raw_copy REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'bench', '$mode')"

    log "$mode: COPY with the statement trigger"
    copy_s=$(run_timed "$db_copy" "COPY raw_copy FROM '$work/corpus.tsv'")
    log "$mode: COPY into raw_bf without a trigger, then the backfill"
    load_s=$(run_timed "$db_bf" "COPY raw_bf FROM '$work/corpus.tsv'")
    q -d "$db_bf" -c "VACUUM ANALYZE raw_bf"
    bf_s=$(run_timed "$db_bf" "CALL durable_sink.backfill('raw_bf', 'event', 'thread_id', 'run_id', 'bench', 'seq',
        mode => '$mode', batch_size => $batch)")

    stored=$(q -d "$db_bf" -c "SELECT count(*) FROM durable_sink.events")
    done_rows=$(q -d "$db_bf" -c "SELECT rows_done || ' ' || rows_failed || ' ' || (finished_at IS NOT NULL)
                                  FROM durable_sink.backfills")
    same=MATCH
    [ "$(fingerprint "$db_copy")" = "$(fingerprint "$db_bf")" ] || { same=DIFFER; status=1; }
    [ "$done_rows" = "$events $(q -d "$db_bf" -c "SELECT count(*) FROM durable_sink.capture_failures") true" ] \
        || { log "backfill state: $done_rows"; status=1; }

    copy_rate=$(echo "$events / $copy_s" | bc)
    bf_rate=$(echo "$events / $bf_s" | bc)
    echo "result $mode copy_statement_trigger_seconds $(printf %.2f "$copy_s") rows_per_second $copy_rate"
    echo "result $mode copy_without_trigger_seconds $(printf %.2f "$load_s") rows_per_second $(echo "$events / $load_s" | bc)"
    echo "result $mode backfill_seconds $(printf %.2f "$bf_s") rows_per_second $bf_rate batch_size $batch"
    echo "result $mode stored_events $stored backfill_state '$done_rows' same_rows_as_copy $same"
    echo "summary $mode backfill $bf_rate rows/s, statement-trigger COPY $copy_rate rows/s, ratio $(echo "scale=2; $bf_rate / $copy_rate" | bc)"
    for db in "$db_copy" "$db_bf"; do
        q -d postgres -c "DROP DATABASE $db"
    done
done
exit $status
