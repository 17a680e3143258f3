#!/usr/bin/env bash
# Benchmark of durable_sink.normalize_many against a plain jsonb scan.
#
#   test/bench/bench_normalize.sh [corpus.tsv]     timing + per-kind row check
#   test/bench/bench_normalize.sh --memory [N]     backend memory growth, N events
#
# Connects with the usual libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE);
# run as root without PGUSER it connects as "postgres". Results are printed to
# stdout as "result <name> <value...>" lines; progress goes to stderr.
# See test/bench/README.md.
#
# Environment: BENCH_EVENTS (200000, events generated when no corpus is given),
# BENCH_SEED (1), BENCH_RUNS (5, timed runs per query), BENCH_TARGET_RATIO (3.0),
# BENCH_MEMORY_LIMIT_MB (50), BENCH_KEEP_TABLE (0: drop bench_raw at the end),
# BENCH_VACUUM_STATE (1: vacuum the durable_sink tables before each timed run).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen="$here/gen_corpus.py"
events=${BENCH_EVENTS:-200000}
seed=${BENCH_SEED:-1}
runs=${BENCH_RUNS:-5}
target=${BENCH_TARGET_RATIO:-3.0}
mem_limit=${BENCH_MEMORY_LIMIT_MB:-50}

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

mode=timing corpus=""
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    --memory)
        mode=memory
        events=${2:-1000000}
        [ $# -le 2 ] || { usage >&2; exit 2; } ;;
    -*) usage >&2; exit 2 ;;
    "") ;;
    *)
        [ $# -eq 1 ] || { usage >&2; exit 2; }
        [ -r "$1" ] || die "cannot read corpus $1"
        corpus=$1 ;;
esac
case "$events" in ''|0|*[!0-9]*) die "event count must be a positive integer: $events" ;; esac
case "$runs" in ''|0|*[!0-9]*) die "BENCH_RUNS must be a positive integer" ;; esac
case "${BENCH_VACUUM_STATE:-1}" in 0|1) ;; *) die "BENCH_VACUUM_STATE must be 0 or 1" ;; esac

if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ]; then
    export PGUSER=postgres
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_normalize.XXXXXX")
cleanup() {
    if [ "${BENCH_KEEP_TABLE:-0}" != 1 ] && [ -n "${loaded:-}" ]; then
        psql -X -q -c 'DROP TABLE IF EXISTS bench_raw' >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_run() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# Session settings for every measuring session:
# - one process, no parallel workers: normalize_many writes state, so it cannot run in a
#   parallel worker; the baseline must not get workers either;
# - synchronize_seqscans off: a synchronized scan may start in the middle of the table,
#   and normalize_many is stateful, so events must be fed in load (= seq) order;
# - jit off: no compile time in the baseline.
settings="SET max_parallel_workers_per_gather = 0;
SET synchronize_seqscans = off;
SET jit = off;
SET client_min_messages = error;"
baseline_sql="SELECT count(event->>'event_type') AS n FROM bench_raw"
# The subject is the select-list call, which streams its rows (value-per-call
# mode, no tuplestore); the LATERAL form is timed too, as a second subject.
subject_sql="SELECT count(*) AS n FROM (SELECT durable_sink.normalize_many(r.event, r.thread_id, r.run_id) FROM bench_raw r) s"
lateral_sql="SELECT count(*) AS n FROM bench_raw r, LATERAL durable_sink.normalize_many(r.event, r.thread_id, r.run_id) n"
# Memory mode, worst case for the per-query scopes cache: the stream changes on every row.
if [ "${BENCH_INTERLEAVE:-0}" = 1 ]; then
    subject_sql="SELECT count(*) AS n FROM (SELECT durable_sink.normalize_many(r.event, r.thread_id || (r.seq % 2), r.run_id) FROM bench_raw r) s"
fi

# ------------------------------------------------------------------ corpus
expected="$tmp/expected.txt"
if [ -z "$corpus" ]; then
    corpus="$tmp/corpus.tsv"
    log "generating $events events (seed $seed)"
    python3 "$gen" --events "$events" --seed "$seed" --stats >"$corpus" 2>"$expected"
    printf 'result corpus generated events=%s seed=%s\n' "$events" "$seed"
    grep -E '^(events_per_second|stream_delta_share) ' "$expected" | sed 's/^/result generator_/'
else
    log "deriving expected counts for $corpus (gen_corpus.py --expected-from)"
    python3 "$gen" --expected-from "$corpus" >"$expected"
    printf 'result corpus file %s\n' "$corpus"
    bad=$(awk '$1 == "malformed_events" {print $2}' "$expected")
    [ "${bad:-0}" = 0 ] || log "warning: $bad invalid events in the corpus: normalize_many will raise an error"
fi

# ------------------------------------------------------------------ load
log "loading into bench_raw"
loaded=1
# Created and filled in one transaction: COPY then skips the free space map and
# writes the rows in file order, which the ctid check below relies on.
cat >"$tmp/load.sql" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS durable_sink;
DROP TABLE IF EXISTS bench_raw;
BEGIN;
CREATE TABLE bench_raw (seq bigint, thread_id text, run_id text, event jsonb);
\copy bench_raw FROM pstdin
COMMIT;
SQL
psql_run -f "$tmp/load.sql" <"$corpus"
psql_run -c 'VACUUM ANALYZE bench_raw'
info=$(psql_run -F ' ' <<SQL
SELECT count(*), pg_total_relation_size('bench_raw'), split_part(current_setting('server_version'), ' ', 1),
       (SELECT extversion FROM pg_extension WHERE extname = 'durable_sink')
FROM bench_raw;
SQL
)
read -r nraw relsize server_version ext_version <<<"$info"
printf 'result server_version %s\n' "$server_version"
printf 'result extension_version %s\n' "$ext_version"
printf 'result events %s\n' "$nraw"
printf 'result table_mb %s\n' "$(awk -v b="$relsize" 'BEGIN {printf "%.1f", b / 1048576}')"
# normalize_many is stateful: the timed sequential scans must return the events in seq
# order (a plain COPY into an existing table may fill earlier pages out of order)
backwards=$(psql_run -c "SELECT count(*) FROM (SELECT seq < lag(seq) OVER (ORDER BY ctid) AS back FROM bench_raw) s WHERE back")
[ "$backwards" = 0 ] || die "bench_raw is not stored in seq order ($backwards inversions)"

# Before every timed run the extension's tables are vacuumed, so the dead rows of the
# earlier rolled-back runs do not slow the later ones (BENCH_VACUUM_STATE=0: don't).
vacuum_state="SELECT format('VACUUM %I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'durable_sink' AND c.relkind IN ('r', 'p')
  AND ${BENCH_VACUUM_STATE:-1} <> 0 \\gexec"

# Committed state from earlier use (same thread or run ids) would change the counts.
leftover=$(psql_run <<SQL
SET client_min_messages = error;
$vacuum_state
SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables WHERE schemaname = 'durable_sink';
SQL
)
[ "$leftover" = 0 ] ||
    log "warning: the durable_sink tables already hold about $leftover rows; earlier state can change the row counts"

# One timed execution, rolled back so that run and compaction state start empty.
# The time is taken on the server with clock_timestamp() around the query.
timed() { # name sql
    cat <<SQL
$vacuum_state
BEGIN;
SELECT clock_timestamp() AS t0 \\gset
$2 \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS dt \\gset
ROLLBACK;
\\echo sample $1 :dt :n
SQL
}

mem_probe() { # label: VmHWM / VmRSS / RssAnon / RssShmem (kB) of this backend
    printf '%s\n' "\\! awk -v l=$1 '/^(VmHWM|VmRSS|RssAnon|RssShmem):/ {print \"mem\", l, \$1, \$2}' /proc/\$BENCH_PID/status"
}

if [ "$mode" = memory ]; then
    # ------------------------------------------------------------- memory
    log "memory check: one normalize_many pass over $nraw events in one backend"
    {
        printf '%s\n' "$settings"
        printf '%s\n' "SELECT pg_backend_pid() AS pid \\gset" "\\setenv BENCH_PID :pid" "\\echo pid :pid"
        printf '%s\n' "\\! test -r /proc/\$BENCH_PID/status && grep -qa postgres /proc/\$BENCH_PID/cmdline && echo proc ok || echo proc unreadable"
        # warm-up: catalog caches, function lookups, the state tables' first pages, and
        # the table's pages in shared memory (they count in VmRSS once touched)
        printf '%s\n' "$baseline_sql \\gset"
        printf '%s\n' "BEGIN;" "SELECT count(*) AS n FROM (SELECT * FROM bench_raw LIMIT 2000) r, LATERAL durable_sink.normalize_many(r.event, r.thread_id, r.run_id) n \\gset" "ROLLBACK;"
        mem_probe before
        printf '%s\n' "BEGIN;" "SELECT clock_timestamp() AS t0 \\gset" "$subject_sql \\gset" \
            "SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS dt \\gset"
        mem_probe after_query
        printf '%s\n' "ROLLBACK;"
        mem_probe after_rollback
        printf '%s\n' "\\echo sample subject :dt :n"
    } >"$tmp/memory.sql"
    psql_run -f "$tmp/memory.sql" >"$tmp/memory.out"
    grep -q '^proc ok$' "$tmp/memory.out" ||
        die "cannot read /proc/<backend pid>/status: the server must run on this machine"
    awk -v limit="$mem_limit" '
        $1 == "mem" { gsub(":", "", $3); kb[$2, $3] = $4 }
        $1 == "sample" { dt = $3; rows = $4 }
        $1 == "pid" { pid = $2 }
        END {
            g = (kb["after_query", "VmHWM"] - kb["before", "VmHWM"]) / 1024
            printf "result memory_backend_pid %s\n", pid
            printf "result memory_query_seconds %.3f\n", dt
            printf "result memory_rows %d\n", rows
            for (i = 1; i <= 3; i++) {
                l = (i == 1 ? "before" : i == 2 ? "after_query" : "after_rollback")
                printf "result memory_%s_mb VmHWM=%.1f VmRSS=%.1f RssAnon=%.1f RssShmem=%.1f\n", l,
                    kb[l, "VmHWM"] / 1024, kb[l, "VmRSS"] / 1024, kb[l, "RssAnon"] / 1024,
                    kb[l, "RssShmem"] / 1024
            }
            printf "result memory_anon_growth_mb %.1f\n", (kb["after_query", "RssAnon"] - kb["before", "RssAnon"]) / 1024
            printf "result memory_growth_mb %.1f\n", g
            printf "result memory_limit_mb %s\n", limit
            printf "result memory_within_limit %s\n", (g < limit ? "yes" : "no")
        }' "$tmp/memory.out"
    exit 0
fi

# ------------------------------------------------------------------ timing
log "timing: best of $runs, interleaved baseline/subject (plus one warm-up each)"
{
    printf '%s\n' "$settings"
    timed warmup_baseline "$baseline_sql"
    timed warmup_subject "$subject_sql"
    timed warmup_lateral "$lateral_sql"
    for _ in $(seq "$runs"); do
        timed baseline "$baseline_sql"
        timed subject "$subject_sql"
        timed lateral "$lateral_sql"
    done
} >"$tmp/timing.sql"
psql_run -f "$tmp/timing.sql" | tee "$tmp/timing.out" | sed -n 's/^sample \(.*\)/bench: sample \1/p' >&2

log "counting rows per kind (one more normalize_many pass, rolled back)"
psql_run -F ' ' >"$tmp/kinds.out" <<SQL
$settings
$vacuum_state
BEGIN;
SELECT 'kind', n.event_kind, n.fidelity, count(*)
FROM bench_raw r,
     LATERAL durable_sink.normalize_many(r.event, r.thread_id, r.run_id) n
GROUP BY n.event_kind, n.fidelity ORDER BY n.event_kind, n.fidelity;
ROLLBACK;
SQL

# ------------------------------------------------------------------ report
status=0
awk -v events="$nraw" -v target="$target" '
    $1 == "sample" && ($2 == "baseline" || $2 == "subject" || $2 == "lateral") {
        if (!($2 in best) || $3 < best[$2]) best[$2] = $3
        if (($2 "_rows") in rows && rows[$2 "_rows"] != $4) unstable = 1
        rows[$2 "_rows"] = $4
    }
    END {
        b = best["baseline"]; s = best["subject"]
        printf "result baseline_best_seconds %.4f\n", b
        printf "result subject_best_seconds %.4f\n", s
        printf "result baseline_events_per_second %.0f\n", events / b
        printf "result subject_events_per_second %.0f\n", events / s
        printf "result subject_rows %d\n", rows["subject_rows"]
        printf "result subject_rows_per_second %.0f\n", rows["subject_rows"] / s
        printf "result subject_rows_stable %s\n", unstable ? "no" : "yes"
        printf "result normalize_many_ratio %.2f\n", s / b
        printf "result normalize_many_ratio_target %.2f\n", target
        printf "result normalize_many_ratio_within_target %s\n", (s / b <= target ? "yes" : "no")
        l = best["lateral"]
        printf "result lateral_best_seconds %.4f\n", l
        printf "result lateral_rows %d\n", rows["lateral_rows"]
        printf "result normalize_many_lateral_ratio %.2f\n", l / b
        if (rows["lateral_rows"] != rows["subject_rows"]) unstable = 1
        printf "result lateral_rows_match_subject %s\n", rows["lateral_rows"] == rows["subject_rows"] ? "yes" : "no"
    }' "$tmp/timing.out"

# per kind: expected (generator model) vs actual (extension)
awk '
    FNR == NR { if ($1 == "expected_rows") want[$2 " " $3] = $4; else if ($1 == "expected_total") tot[$2] = $3; next }
    $1 == "kind" { act[$2 " " $3] = $4 }
    END {
        for (k in want) keys[k] = 1
        for (k in act) keys[k] = 1
        bad = 0; full = 0; compacted = 0
        n = 0
        for (k in keys) sorted[++n] = k
        for (i = 2; i <= n; i++) {            # insertion sort: stable output order
            x = sorted[i]; j = i - 1
            while (j > 0 && sorted[j] > x) { sorted[j + 1] = sorted[j]; j-- }
            sorted[j + 1] = x
        }
        for (i = 1; i <= n; i++) {
            k = sorted[i]; e = want[k] + 0; a = act[k] + 0
            full += a; split(k, kf, " "); if (kf[2] != "observed_runtime_event") compacted += a
            if (e == 0 && a == 0) continue
            m = (e == a) ? "MATCH" : "MISMATCH"; if (e != a) bad++
            printf "result kind %s %d %d %s\n", k, e, a, m
        }
        printf "result rows_full_fidelity %d %d %s\n", tot["full_fidelity"], full, (tot["full_fidelity"] == full ? "MATCH" : "MISMATCH")
        printf "result rows_compacted %d %d %s\n", tot["compacted"], compacted, (tot["compacted"] == compacted ? "MATCH" : "MISMATCH")
        if (tot["full_fidelity"] != full || tot["compacted"] != compacted) bad++
        printf "result kind_counts %s\n", bad ? "MISMATCH" : "MATCH"
        exit bad ? 1 : 0
    }' "$expected" "$tmp/kinds.out" || status=1
[ "$status" = 0 ] || log "row counts differ from the expected counts (see MISMATCH lines)"
exit "$status"
