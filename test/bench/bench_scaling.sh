#!/usr/bin/env bash
# How normalize and capture costs scale with the size of the event store, and
# what they cost per event type.
#
#   test/bench/bench_scaling.sh [scaling|types]    (no argument: both)
#
# Creates a fresh database bench_scaling_<pid> (dropped at the end) with
# CREATE EXTENSION IF NOT EXISTS durable_sink, then
#  types:   loads BENCH_EVENTS generated events; for each event_type, over the
#           rows of that type only: normalize_many (target-list form) vs a bare
#           scan, and COPY through the statement capture trigger (full_fidelity)
#           vs a plain COPY; per type and grouped (streaming deltas,
#           state-touching types, the rest);
#  scaling: grows durable_sink.events to each level of BENCH_SCALING_LEVELS
#           (COPY of generated events into a raw table with the statement
#           capture trigger, full_fidelity, at most BENCH_SCALING_CHUNK rows per
#           COPY, row counts checked), and at each level times a probe of
#           BENCH_SCALING_PROBE fresh events: capture (statement full_fidelity
#           and compacted, row full_fidelity) vs a plain COPY, normalize_many
#           (target-list and LATERAL forms) vs a bare scan; with the per-event
#           cost at each level relative to the smallest level ("flatness").
# Every timed run is BEGIN ... ROLLBACK (the store level stays constant), best
# of BENCH_RUNS interleaved runs after one warm-up round, timed on the server
# with clock_timestamp(). Connects with the usual libpq variables (PGHOST,
# PGPORT, PGUSER); run as root without PGUSER it connects as "postgres". Needs
# a superuser and a server on this machine (server-side COPY from a temporary
# directory). Results: "result ..." lines on stdout, then "summary" lines;
# progress on stderr. Exit status 1 on an SQL error or a row count mismatch.
# See test/bench/README.md, section bench_scaling.sh.
#
# Environment: BENCH_SCALING_LEVELS ("10000 100000 1000000 10000000"),
# BENCH_SCALING_PROBE (20000), BENCH_SCALING_CHUNK (1000000, at most 1000000),
# BENCH_EVENTS (200000, types), BENCH_SEED (1), BENCH_RUNS (3),
# BENCH_WORK_MEM (server default), BENCH_KEEP_DB (0).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen="$here/gen_corpus.py"
levels=${BENCH_SCALING_LEVELS:-10000 100000 1000000 10000000}
probe=${BENCH_SCALING_PROBE:-20000}
chunk=${BENCH_SCALING_CHUNK:-1000000}
events=${BENCH_EVENTS:-200000}
seed=${BENCH_SEED:-1}
runs=${BENCH_RUNS:-3}

usage() { sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

do_types=1 do_scaling=1
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    scaling) do_types=0 ;;
    types) do_scaling=0 ;;
    "") ;;
    *) usage >&2; exit 2 ;;
esac
[ $# -le 1 ] || { usage >&2; exit 2; }
for v in probe chunk events seed runs; do
    case "${!v}" in ''|0|*[!0-9]*) die "$v must be a positive integer: ${!v}" ;; esac
done
[ "$chunk" -le 1000000 ] || die "BENCH_SCALING_CHUNK must be at most 1000000"
prev=0
for l in $levels; do
    case "$l" in ''|0|*[!0-9]*) die "BENCH_SCALING_LEVELS: not a positive integer: $l" ;; esac
    [ "$l" -gt "$prev" ] || die "BENCH_SCALING_LEVELS must be increasing: $levels"
    prev=$l
done
[ "$prev" -gt 0 ] || die "BENCH_SCALING_LEVELS is empty"

if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ]; then
    export PGUSER=postgres
fi

db="bench_scaling_$$"
maintenance_db=${PGDATABASE:-postgres}
# The server reads the corpora itself (COPY FROM file): the directory and the
# files must be readable by the server's OS user.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_scaling.XXXXXX")
chmod 755 "$tmp"
created=""
cleanup() {
    local rc=$?
    [ "$rc" = 0 ] || log "failed, exit status $rc (an SQL error or a failed check: see the messages above)"
    if [ -n "$created" ] && [ "${BENCH_KEEP_DB:-0}" != 1 ]; then
        psql -X -q -d "$maintenance_db" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
            >/dev/null 2>&1 || log "could not drop database $db"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_run() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
res="$tmp/results.out"
result() { printf 'result %s\n' "$*" | tee -a "$res"; }
# run an awk report: its lines go to stdout and to $res; a non-zero exit sets status=1
report() { local rc=0; awk "$@" | tee -a "$res" || rc=$?; [ "$rc" = 0 ] || status=1; }
status=0
started=$(date +%s)

# gen_file FILE EVENTS SEED PREFIX: a corpus whose thread and run ids (the id
# columns and the ids inside the events: t000123, t000123-r004) carry PREFIX,
# so that every file is a set of new threads and runs; its expected counts in
# FILE.stats (gen_corpus.py --stats; renaming the ids changes no count)
gen_file() {
    python3 "$gen" --events "$2" --seed "$3" --stats 2>"$1.stats" |
        sed -E "s/(	|\")t([0-9]{6})/\\1$4t\\2/g" >"$1"
    chmod 644 "$1"
}
# prefix_file IN OUT PREFIX: the same corpus with other ids
prefix_file() {
    sed -E "s/(	|\")(t[0-9]{6})/\\1$3\\2/g" "$1" >"$2"
    chmod 644 "$2"
}
stat_of() { # FILE.stats key mode -> number
    awk -v k="$2" -v m="$3" '$1 == k && $2 == m {print $3}' "$1"
}

# Session settings of every measuring session (as bench_normalize.sh): one
# process (normalize_many cannot run in parallel workers, so the baseline gets
# none either), scans from the first page (normalize_many is stateful: stream
# order), no JIT compile time.
set_work_mem=""
[ -z "${BENCH_WORK_MEM:-}" ] || set_work_mem="SET work_mem = '$BENCH_WORK_MEM';"
settings="SET max_parallel_workers_per_gather = 0;
SET synchronize_seqscans = off;
SET jit = off;
SET client_min_messages = error;
$set_work_mem"
# Before each timed run (outside the timing): vacuum the extension's tables so
# the dead rows of earlier rolled-back runs do not slow later ones, and
# checkpoint so one run's dirty pages are not written during the next.
vacuum_state="SELECT format('VACUUM %I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'durable_sink' AND c.relkind IN ('r', 'p') ORDER BY 1 \\gexec"
analyze_state=${vacuum_state//VACUUM /VACUUM (ANALYZE) }

# trigger_sql TABLE PATH: the capture trigger of a measured path
trigger_sql() {
    case "$2" in
        statement_full_fidelity|statement_compacted)
            echo "CREATE TRIGGER cap AFTER INSERT ON $1 REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement('event','thread_id','run_id','bench','${2#statement_}','','false');" ;;
        row_full_fidelity)
            echo "CREATE TRIGGER cap AFTER INSERT ON $1 FOR EACH ROW EXECUTE FUNCTION durable_sink.capture('event','thread_id','run_id','bench','full_fidelity','','false');" ;;
    esac
}
copy_paths="copy_plain statement_full_fidelity statement_compacted row_full_fidelity"

# timed_copy LABEL PATH RUN FILE: one rolled-back COPY of FILE into raw_<PATH>;
# "sample LABEL PATH RUN seconds stored_events raw_rows failures"
timed_copy() {
    cat <<SQL
TRUNCATE raw_$2;
$vacuum_state
CHECKPOINT;
BEGIN;
SELECT coalesce(max(event_id), 0) AS e0, (SELECT count(*) FROM durable_sink.capture_failures) AS f0
FROM durable_sink.events \\gset
SELECT clock_timestamp() AS t0 \\gset
COPY raw_$2 FROM '$4';
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS dt \\gset
SELECT (SELECT count(*) FROM durable_sink.events WHERE event_id > :e0) AS n,
       (SELECT count(*) FROM raw_$2) AS nraw,
       (SELECT count(*) FROM durable_sink.capture_failures) - :f0 AS nfail \\gset
ROLLBACK;
\\echo sample $1 $2 $3 :dt :n :nraw :nfail
SQL
}

# timed_query LABEL PATH RUN TABLE: one rolled-back scan of TABLE; "sample
# LABEL PATH RUN seconds rows_returned"
timed_query() {
    local q
    case "$2" in
        scan) q="SELECT count(event->>'event_type') AS n FROM $4" ;;
        normalize_target) q="SELECT count(*) AS n FROM (SELECT durable_sink.normalize_many(event, thread_id, run_id) FROM $4 OFFSET 0) s" ;;
        normalize_lateral) q="SELECT count(*) AS n FROM $4 r, LATERAL durable_sink.normalize_many(r.event, r.thread_id, r.run_id) n" ;;
        *) die "unknown query path $2" ;;
    esac
    cat <<SQL
$vacuum_state
CHECKPOINT;
BEGIN;
SELECT clock_timestamp() AS t0 \\gset
$q \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS dt \\gset
ROLLBACK;
\\echo sample $1 $2 $3 :dt :n 0 0
SQL
}

# load_table TABLE FILE: a fresh table filled in the transaction that creates
# it (COPY then writes the rows in file order: physical order = stream order)
load_table() {
    cat <<SQL
DROP TABLE IF EXISTS $1;
BEGIN;
CREATE TABLE $1 (seq bigint, thread_id text, run_id text, event jsonb);
COPY $1 FROM '$2';
COMMIT;
VACUUM ANALYZE $1;
SQL
}

# ------------------------------------------------------------------ database
log "creating database $db"
psql -X -q -v ON_ERROR_STOP=1 -d "$maintenance_db" -c "CREATE DATABASE \"$db\""
created=1
{
    echo "SET client_min_messages = warning;"
    echo "CREATE EXTENSION IF NOT EXISTS durable_sink;"
    for p in $copy_paths; do
        echo "CREATE TABLE raw_$p (seq bigint, thread_id text, run_id text, event jsonb);"
        trigger_sql "raw_$p" "$p"
    done
    # growth: not measured, the raw rows are emptied after each COPY
    echo "CREATE UNLOGGED TABLE grow_raw (seq bigint, thread_id text, run_id text, event jsonb);"
    trigger_sql grow_raw statement_full_fidelity
} | psql_run
check="$tmp/check.txt"
echo check >"$check"
chmod 644 "$check"
info=$(psql_run -F ' ' <<SQL
SELECT split_part(current_setting('server_version'), ' ', 1),
       (SELECT extversion FROM pg_extension WHERE extname = 'durable_sink'),
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       coalesce((pg_stat_file('$check', true)).size, -1),
       (SELECT count(*) FROM durable_sink.events);
$set_work_mem
SELECT current_setting('work_mem'), current_setting('shared_buffers');
SQL
)
read -r server_version ext_version is_super server_size nstored work_mem shared_buffers <<<"$(tr '\n' ' ' <<<"$info")"
[ "$is_super" = t ] || die "needs a superuser (CHECKPOINT, server-side COPY, VACUUM of the extension's tables)"
[ "$server_size" = 6 ] || die "the server cannot read $check (server-side COPY needs a server on this machine)"
[ "$nstored" = 0 ] || die "durable_sink.events of the new database is not empty ($nstored rows)"
result server_version "$server_version"
result extension_version "$ext_version"
result repo_commit "$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)"
result work_mem "$work_mem"
result shared_buffers "$shared_buffers"
result database "$db"
result runs "$runs"

# ------------------------------------------------------------------ types
# Groups of the grouped summary.
group_of='function group_of(t) {
        if (t ~ /^(text_delta|reasoning_delta|tool_call_delta|tool_call_stream_delta)$/) return "streaming_deltas"
        if (t ~ /^(run_start|run_finish|state_snapshot)$/) return "state_touching"
        return "other"
    }'

run_types() {
    local corpus="$tmp/types.tsv" t i n
    log "types: generating $events events (seed $seed)"
    gen_file "$corpus" "$events" "$seed" "ty."
    result types_corpus events="$events" seed="$seed"
    psql_run <<SQL
SET client_min_messages = warning;
CREATE UNLOGGED TABLE types_all (seq bigint, thread_id text, run_id text, event jsonb);
COPY types_all FROM '$corpus';
ANALYZE types_all;
SQL
    rm -f "$corpus"
    # one table and one COPY file per event type, in stream (seq) order
    psql_run -F ' ' -c "SELECT event->>'event_type', count(*) FROM types_all GROUP BY 1 ORDER BY 2 DESC, 1" \
        >"$tmp/types.list"
    : >"$tmp/types.expected"
    i=0
    while read -r t n; do
        case "$t" in ''|*[!a-z_]*) die "unexpected event_type in the corpus: '$t'" ;; esac
        i=$((i + 1))
        psql_run <<SQL
SET client_min_messages = warning;
CREATE TABLE ty_$i AS SELECT * FROM types_all WHERE event->>'event_type' = '$t' ORDER BY seq;
VACUUM ANALYZE ty_$i;
\\copy (SELECT * FROM ty_$i ORDER BY seq) TO '$tmp/ty_$i.tsv'
SQL
        chmod 644 "$tmp/ty_$i.tsv"
        # what the rows of this type alone should give (filtering changes the
        # state histories: this is the count for the filtered stream)
        printf '%s %s %s %s %s\n' "$i" "$t" "$n" \
            "$(python3 "$gen" --expected-from "$tmp/ty_$i.tsv" | awk '$1 == "expected_total" && $2 == "full_fidelity" {print $3}')" \
            "$(wc -l <"$tmp/ty_$i.tsv")" >>"$tmp/types.expected"
    done <"$tmp/types.list"
    psql_run -c "DROP TABLE types_all"
    result types_count "$i"

    log "types: best of $runs interleaved runs (plus one warm-up round) over $i event types"
    {
        printf '%s\n' "$settings"
        for r in $(seq 0 "$runs"); do
            while read -r i t n _; do
                echo "\\warn bench: types round $r $t"
                timed_query "$t" scan "$r" "ty_$i"
                timed_query "$t" normalize_target "$r" "ty_$i"
                timed_copy "$t" copy_plain "$r" "$tmp/ty_$i.tsv"
                timed_copy "$t" statement_full_fidelity "$r" "$tmp/ty_$i.tsv"
            done <"$tmp/types.expected"
        done
    } >"$tmp/types.sql"
    psql_run -f "$tmp/types.sql" | tee "$tmp/types.out" | sed -n 's/^sample \(.*\)/bench: sample \1/p' >&2

    report -v runs="$runs" "$group_of"'
        FNR == NR { ev[$2] = $3; want[$2] = $4; lines[$2] = $5; order[++nt] = $2; next }
        $1 == "sample" {
            t = $2; p = $3
            if ($4 == 0) next                          # warm-up round
            if (!((t, p) in best) || $5 < best[t, p]) best[t, p] = $5
            w = (p == "scan") ? ev[t] : (p == "copy_plain") ? 0 : want[t]
            if ($6 != w || (p ~ /copy|statement/ && ($7 != ev[t] || $8 != 0))) {
                bad[t, p] = 1; got[t, p] = $6 " raw " $7 " failures " $8
            }
        }
        # fewer than 1000 events: the time is mostly per-statement overhead
        function line(name, p, n, s, b) {
            printf "result %s %s %d %.3f %.3f %.2f%s\n", name, p, n, s / n * 1e6, b / n * 1e6, s / b,
                (n < 1000 ? " few_events" : "")
        }
        END {
            for (i = 1; i <= nt; i++) {
                t = order[i]
                if (ev[t] != lines[t]) { printf "result types_rows %s table %d file %d MISMATCH\n", t, ev[t], lines[t]; fail = 1 }
                line("types " t, "normalize_target", ev[t], best[t, "normalize_target"], best[t, "scan"])
                line("types " t, "statement_full_fidelity", ev[t], best[t, "statement_full_fidelity"], best[t, "copy_plain"])
                g = group_of(t)
                gn[g] += ev[t]
                gs[g, "n"] += best[t, "normalize_target"]; gb[g, "n"] += best[t, "scan"]
                gs[g, "c"] += best[t, "statement_full_fidelity"]; gb[g, "c"] += best[t, "copy_plain"]
                nbad = 0
                for (j = 1; j <= 4; j++) {
                    p = (j == 1 ? "scan" : j == 2 ? "normalize_target" : j == 3 ? "copy_plain" : "statement_full_fidelity")
                    if ((t, p) in bad) { nbad++; printf "result types_rows %s %s expected %d actual %s MISMATCH\n", t, p, (p == "scan" ? ev[t] : p == "copy_plain" ? 0 : want[t]), got[t, p] }
                }
                if (nbad) fail = 1
                else printf "result types_rows %s events %d expected_rows %d MATCH\n", t, ev[t], want[t]
            }
            for (i = 1; i <= 3; i++) {
                g = (i == 1 ? "streaming_deltas" : i == 2 ? "state_touching" : "other")
                if (!gn[g]) continue
                line("types_group " g, "normalize_target", gn[g], gs[g, "n"], gb[g, "n"])
                line("types_group " g, "statement_full_fidelity", gn[g], gs[g, "c"], gb[g, "c"])
            }
            exit fail ? 1 : 0
        }' "$tmp/types.expected" "$tmp/types.out"
    while read -r i _; do
        psql_run -c "DROP TABLE ty_$i"
        rm -f "$tmp/ty_$i.tsv"
    done <"$tmp/types.expected"
}

# ------------------------------------------------------------------ scaling
run_scaling() {
    local base="$tmp/probe.tsv" exp_full exp_comp nchunk=0 level need k f t0 t1 after want nfail r p j out
    local dbsize evsize back
    log "scaling: probe corpus of $probe events"
    gen_file "$base" "$probe" "$((seed + 7919))" ""
    exp_full=$(stat_of "$base.stats" expected_total full_fidelity)
    exp_comp=$(stat_of "$base.stats" expected_total compacted)
    [ -n "$exp_full" ] && [ -n "$exp_comp" ] || die "no expected_total lines from gen_corpus.py"
    result scaling_probe events "$probe" expected_full_fidelity "$exp_full" expected_compacted "$exp_comp"
    nstored=$(psql_run -c "SELECT count(*) FROM durable_sink.events")
    for level in $levels; do
        # ---- grow the store to about $level events (within 0.5%)
        t0=$(date +%s.%N)
        while [ $((level - nstored)) -gt $((level / 200)) ]; do
            need=$((level - nstored))
            k=$((need < chunk ? need : chunk))
            nchunk=$((nchunk + 1))
            f="$tmp/grow_$nchunk.tsv"
            log "scaling: growing to $level: chunk $nchunk, $k raw events"
            gen_file "$f" "$k" "$((seed * 100000 + nchunk))" "g$nchunk."
            want=$(stat_of "$f.stats" expected_total full_fidelity)
            [ -n "$want" ] || die "no expected_total for chunk $nchunk"
            out=$(psql_run -F ' ' <<SQL
SET client_min_messages = warning;
$set_work_mem
COPY grow_raw FROM '$f';
TRUNCATE grow_raw;
SELECT count(*), (SELECT count(*) FROM durable_sink.capture_failures) FROM durable_sink.events;
SQL
            )
            read -r after nfail <<<"$out"
            rm -f "$f" "$f.stats"
            if [ $((after - nstored)) != "$want" ] || [ "$nfail" != 0 ]; then
                result scaling_growth_rows chunk "$nchunk" raw "$k" expected "$want" stored "$((after - nstored))" failures "$nfail" MISMATCH
                die "growth chunk $nchunk stored $((after - nstored)) events, expected $want (failures: $nfail)"
            fi
            [ "$after" -gt "$nstored" ] || die "growth chunk $nchunk stored nothing"
            nstored=$after
        done
        log "scaling: level $level: VACUUM ANALYZE"
        psql_run <<SQL
SET client_min_messages = warning;
$analyze_state
CHECKPOINT;
SQL
        t1=$(date +%s.%N)
        out=$(psql_run -F ' ' -c "SELECT pg_database_size(current_database()), pg_total_relation_size('durable_sink.events')")
        read -r dbsize evsize <<<"$out"
        result scaling_level "$level" stored "$nstored" chunks "$nchunk" growth_seconds \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" db_bytes "$dbsize" events_bytes "$evsize"

        # ---- the probe at this level: fresh ids per level, run and path
        prefix_file "$base" "$tmp/probe_n.tsv" "L${level}n."
        load_table probe_n "$tmp/probe_n.tsv" | psql_run
        back=$(psql_run -c "SELECT count(*) FROM (SELECT seq < lag(seq) OVER (ORDER BY ctid) AS b FROM probe_n) s WHERE b")
        [ "$back" = 0 ] || die "probe_n is not stored in seq order ($back inversions)"
        {
            printf '%s\n' "$settings"
            for r in $(seq 0 "$runs"); do
                echo "\\warn bench: level $level round $r"
                j=0
                for p in $copy_paths; do
                    j=$((j + 1))
                    prefix_file "$base" "$tmp/probe_${r}_$p.tsv" "L${level}r${r}p$j."
                    timed_copy "$level" "$p" "$r" "$tmp/probe_${r}_$p.tsv"
                done
                for p in scan normalize_target normalize_lateral; do
                    timed_query "$level" "$p" "$r" probe_n
                done
            done
        } >"$tmp/level.sql"
        log "scaling: level $level: best of $runs interleaved runs (plus one warm-up round)"
        psql_run -f "$tmp/level.sql" | tee -a "$tmp/scaling.out" | sed -n 's/^sample \(.*\)/bench: sample \1/p' >&2
        rm -f "$tmp"/probe_[0-9]*.tsv "$tmp/probe_n.tsv"
        psql_run -c "DROP TABLE probe_n"

        report -v level="$level" -v probe="$probe" -v full="$exp_full" -v comp="$exp_comp" '
            $1 == "sample" && $4 > 0 {
                l = $2; p = $3
                if (!((l, p) in best) || $5 < best[l, p]) best[l, p] = $5
                if (!(l in seen)) { seen[l] = 1; order[++nl] = l }
                if (l != level) next
                w = (p == "copy_plain") ? 0 : (p == "scan") ? probe : (p == "statement_compacted") ? comp : full
                if ($6 != w || (p !~ /^(scan|normalize)/ && ($7 != probe || $8 != 0))) {
                    printf "result scaling_rows %s %s expected %d actual %s raw %s failures %s MISMATCH\n", l, p, w, $6, $7, $8
                    fail = 1
                }
            }
            END {
                first = order[1]
                np = split("statement_full_fidelity statement_compacted row_full_fidelity normalize_target normalize_lateral", ps, " ")
                for (i = 1; i <= np; i++) {
                    p = ps[i]; b = (p ~ /^normalize/) ? "scan" : "copy_plain"
                    us = best[level, p] / probe * 1e6; bus = best[level, b] / probe * 1e6
                    printf "result scaling %s %s %.3f %.3f %.2f\n", level, p, us, bus, us / bus
                }
                for (i = 1; i <= np; i++) {
                    p = ps[i]; b = (p ~ /^normalize/) ? "scan" : "copy_plain"
                    # flatness: the cost per event at this level / at the smallest
                    # level, and the same for the ratio to the baseline (which
                    # cancels the machine getting faster or slower in between)
                    printf "result flatness %s %s %.2f %.2f\n", level, p, best[level, p] / best[first, p],
                        (best[level, p] / best[level, b]) / (best[first, p] / best[first, b])
                }
                if (!fail) printf "result scaling_rows %s MATCH\n", level
                exit fail ? 1 : 0
            }' "$tmp/scaling.out"
    done
}

[ "$do_types" = 0 ] || run_types
[ "$do_scaling" = 0 ] || run_scaling
result elapsed_seconds "$(($(date +%s) - started))" db_bytes \
    "$(psql_run -c "SELECT pg_database_size(current_database())")"

# ------------------------------------------------------------------ summary
awk '
    $1 != "result" { next }
    $2 == "scaling" { s[++ns] = sprintf("summary %-10s %-24s %10.3f %10.3f %7.2f", $3, $4, $5, $6, $7); key[ns] = $3 " " $4 }
    $2 == "flatness" { fl[$3 " " $4] = sprintf(" %8.2f %10.2f", $5, $6) }
    $2 == "types" || $2 == "types_group" {
        t[++nt] = sprintf("summary %-28s %-24s %8d %10.3f %10.3f %7.2f %s", ($2 == "types_group" ? "[" $3 "]" : $3), $4, $5, $6, $7, $8, $9)
    }
    $2 == "scaling_level" { lv[++nl] = sprintf("summary level %s stored %s growth_seconds %s db_bytes %s", $3, $5, $9, $11) }
    END {
        if (nt) {
            printf "summary %-28s %-24s %8s %10s %10s %7s\n", "event_type", "path", "events", "us/event", "base_us", "ratio"
            for (i = 1; i <= nt; i++) print t[i]
        }
        if (ns) {
            for (i = 1; i <= nl; i++) print lv[i]
            printf "summary %-10s %-24s %10s %10s %7s %8s %10s\n", "level", "path", "us/event", "base_us", "ratio", "flat_us", "flat_ratio"
            for (i = 1; i <= ns; i++) print s[i] fl[key[i]]
        }
    }' "$res"
if [ "$status" = 0 ]; then
    echo "summary checks PASS"
else
    echo "summary checks FAIL"
    log "a row count failed (see MISMATCH lines)"
fi
exit "$status"
