#!/usr/bin/env bash
# Benchmark of the durable_sink sink layer: capture triggers under COPY, and
# durable_sink.emit() throughput with pgbench.
#
#   test/bench/bench_sink.sh [corpus.tsv]
#
# Creates a fresh database bench_sink_<pid> (dropped at the end), runs
# CREATE EXTENSION IF NOT EXISTS durable_sink in it, then
#  1. times a server-side COPY of the corpus into raw_events without a trigger
#     and with the row / statement capture triggers (compacted, full_fidelity),
#     interleaved, best of BENCH_RUNS, checks the appended row counts and that
#     both trigger kinds append identical rows;
#  2. runs pgbench: BENCH_EMIT_CLIENTS clients, each emitting its own threads
#     in stream order, BENCH_EMIT_BATCH events per transaction, then 1.
# Connects with the usual libpq variables (PGHOST, PGPORT, PGUSER); run as root
# without PGUSER it connects as "postgres". Needs a superuser and a server on
# this machine (it reads the corpus from a temporary directory).
# Results: "result <name> <value...>" lines on stdout, then "summary" lines;
# progress on stderr. Exit status 1 when a row count or comparison fails.
# See test/bench/README.md.
#
# Environment: BENCH_EVENTS (200000), BENCH_SEED (1), BENCH_RUNS (3),
# BENCH_WORK_MEM (server default), BENCH_EMIT_SECONDS (20),
# BENCH_EMIT_CLIENTS (8), BENCH_EMIT_JOBS (2), BENCH_EMIT_BATCH (20),
# BENCH_EMIT_FEED_EVENTS (80000 x seconds), BENCH_EMIT_ANNOUNCE (true),
# BENCH_EMIT_TARGET (10000), BENCH_KEEP_DB (0), PGBENCH (pgbench binary).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen="$here/gen_corpus.py"
events=${BENCH_EVENTS:-200000}
seed=${BENCH_SEED:-1}
runs=${BENCH_RUNS:-3}
emit_seconds=${BENCH_EMIT_SECONDS:-20}
emit_clients=${BENCH_EMIT_CLIENTS:-8}
emit_jobs=${BENCH_EMIT_JOBS:-2}
emit_batch=${BENCH_EMIT_BATCH:-20}
emit_feed_events=${BENCH_EMIT_FEED_EVENTS:-$((80000 * ${BENCH_EMIT_SECONDS:-20}))}
emit_announce=${BENCH_EMIT_ANNOUNCE:-true}
emit_target=${BENCH_EMIT_TARGET:-10000}

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

corpus_in=""
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    "") ;;
    *)
        [ $# -eq 1 ] || { usage >&2; exit 2; }
        [ -r "$1" ] || die "cannot read corpus $1"
        corpus_in=$1 ;;
esac
for v in events runs emit_seconds emit_clients emit_jobs emit_batch emit_feed_events emit_target; do
    case "${!v}" in ''|0|*[!0-9]*) die "$v must be a positive integer: ${!v}" ;; esac
done
case "$emit_announce" in true|false) ;; *) die "BENCH_EMIT_ANNOUNCE must be true or false" ;; esac

if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ]; then
    export PGUSER=postgres
fi
pgbench=${PGBENCH:-}
if [ -z "$pgbench" ]; then
    pgbench=$(command -v pgbench || true)
    [ -n "$pgbench" ] || pgbench=/usr/lib/postgresql/15/bin/pgbench
fi
[ -x "$pgbench" ] || die "pgbench not found (set PGBENCH)"

db="bench_sink_$$"
maintenance_db=${PGDATABASE:-postgres}
# The server reads the corpus itself (COPY FROM file): the directory must be
# readable by the server's OS user.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_sink.XXXXXX")
chmod 755 "$tmp"
created=""
cleanup() {
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

# ------------------------------------------------------------------ corpus
corpus="$tmp/corpus.tsv"
expected="$tmp/expected.txt"
if [ -z "$corpus_in" ]; then
    log "generating $events events (seed $seed)"
    python3 "$gen" --events "$events" --seed "$seed" --stats >"$corpus" 2>"$expected"
    result corpus generated events="$events" seed="$seed"
else
    cp "$corpus_in" "$corpus"
    log "deriving expected counts for $corpus_in (gen_corpus.py --expected-from)"
    python3 "$gen" --expected-from "$corpus" >"$expected"
    result corpus file "$corpus_in"
fi
chmod 644 "$corpus"
exp_compacted=$(awk '$1 == "expected_total" && $2 == "compacted" {print $3}' "$expected")
exp_full=$(awk '$1 == "expected_total" && $2 == "full_fidelity" {print $3}' "$expected")
bad=$(awk '$1 == "malformed_events" {print $2}' "$expected")
[ -n "$exp_compacted" ] && [ -n "$exp_full" ] || die "no expected_total lines from gen_corpus.py"
[ "${bad:-0}" = 0 ] ||
    log "warning: $bad invalid events in the corpus: they go to durable_sink.capture_failures"

corpus_bytes=$(wc -c <"$corpus")
# work_mem bounds the statement trigger's transition table in memory (it spills
# to a temporary file beyond); the server's setting unless BENCH_WORK_MEM is set
set_work_mem=""
[ -z "${BENCH_WORK_MEM:-}" ] || set_work_mem="SET work_mem = '$BENCH_WORK_MEM';"

# ------------------------------------------------------------------ database
log "creating database $db"
psql -X -q -v ON_ERROR_STOP=1 -d "$maintenance_db" -c "CREATE DATABASE \"$db\""
created=1
cat >"$tmp/setup.sql" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS durable_sink;
CREATE TABLE raw_events (seq bigint, thread_id text, run_id text, event jsonb);
-- bench machinery, not measured: no WAL
CREATE UNLOGGED TABLE corpus (seq bigint, thread_id text, run_id text, event jsonb);
SQL
psql_run -f "$tmp/setup.sql"
info=$(psql_run -F ' ' <<SQL
SELECT split_part(current_setting('server_version'), ' ', 1),
       (SELECT extversion FROM pg_extension WHERE extname = 'durable_sink'),
       current_setting('synchronous_commit'),
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       coalesce((pg_stat_file('$corpus', true)).size, -1);
$set_work_mem
SELECT current_setting('work_mem');
SQL
)
read -r server_version ext_version sync_commit is_super server_size work_mem <<<"$(tr '\n' ' ' <<<"$info")"
[ "$is_super" = t ] || die "needs a superuser (TRUNCATE of the extension's tables, CHECKPOINT)"
[ "$server_size" = "$corpus_bytes" ] ||
    die "the server cannot read $corpus (server-side COPY needs a server on this machine)"
result server_version "$server_version"
result extension_version "$ext_version"
result repo_commit "$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)"
result synchronous_commit "$sync_commit"
result work_mem "$work_mem"
result database "$db"

psql_run -c "COPY corpus FROM '$corpus'" -c "ANALYZE corpus"
nraw=$(psql_run -c "SELECT count(*) FROM corpus")
result events "$nraw"
result expected_total compacted "$exp_compacted" full_fidelity "$exp_full"

# ------------------------------------------------------------------ 1. COPY
configs="baseline row_compacted row_full_fidelity statement_compacted statement_full_fidelity storage_floor"
once="row_compacted_announce statement_compacted_announce"
state_tables="durable_sink.events, durable_sink.scopes, durable_sink.run_state,
  durable_sink.compaction_state, durable_sink.idempotency_keys,
  durable_sink.capture_failures, durable_sink.live_frames"
keep_cols="event_kind, thread_id, run_id, thread_seq, run_seq, payload, fidelity, scopes,
  visibility, origin, correlation_id, causation_id, schema_version"

trigger_sql() { # config
    local kind mode announce=false
    case "$1" in
        baseline) return 0 ;;
        *_announce) announce=true ;;
    esac
    case "$1" in row_*) kind=row ;; *) kind=statement ;; esac
    case "$1" in *full_fidelity*) mode=full_fidelity ;; *) mode=compacted ;; esac
    if [ "$kind" = row ]; then
        echo "CREATE TRIGGER cap AFTER INSERT ON raw_events FOR EACH ROW EXECUTE FUNCTION durable_sink.capture('event','thread_id','run_id','bench','$mode','','$announce');"
    else
        echo "CREATE TRIGGER cap AFTER INSERT ON raw_events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement('event','thread_id','run_id','bench','$mode','','$announce');"
    fi
}

# storage_floor: what keeping the full_fidelity rows costs without the
# extension: the same COPY, then in the same transaction plain INSERTs of
# the rows the statement trigger stored (events and feed, copied from its
# first run) into tables with the same columns and indexes.
floor_run() { # round
    cat <<SQL
\\warn bench: copy storage_floor round $1
DROP TRIGGER IF EXISTS cap ON raw_events;
TRUNCATE raw_events, floor_events, floor_feed, $state_tables RESTART IDENTITY;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
BEGIN;
COPY raw_events FROM '$corpus';
INSERT INTO floor_events SELECT * FROM floor_events_src;
INSERT INTO floor_feed SELECT * FROM floor_feed_src;
COMMIT;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS dt \\gset
SELECT (SELECT count(*) FROM raw_events) AS nraw, (SELECT count(*) FROM floor_events) AS nev,
       0 AS nfail \\gset
\\echo sample storage_floor $1 :dt :nraw :nev :nfail
SQL
}

copy_run() { # config round keep
    if [ "$1" = storage_floor ]; then floor_run "$2"; return; fi
    cat <<SQL
\\warn bench: copy $1 round $2
DROP TRIGGER IF EXISTS cap ON raw_events;
TRUNCATE raw_events, $state_tables RESTART IDENTITY;
$(trigger_sql "$1")
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
COPY raw_events FROM '$corpus';
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS dt \\gset
SELECT (SELECT count(*) FROM raw_events) AS nraw, (SELECT count(*) FROM durable_sink.events) AS nev,
       (SELECT count(*) FROM durable_sink.capture_failures) AS nfail \\gset
\\echo sample $1 $2 :dt :nraw :nev :nfail
SQL
    if [ "$3" = yes ]; then
        printf '%s\n' "CREATE TABLE keep_$1 AS SELECT row_number() OVER (ORDER BY event_id) AS ord, $keep_cols FROM durable_sink.events;"
    fi
    if [ "$3" = yes ] && [ "$1" = statement_full_fidelity ]; then
        printf '%s\n' "CREATE TABLE floor_events_src AS SELECT * FROM durable_sink.events;" \
            "CREATE TABLE floor_feed_src AS SELECT * FROM durable_sink.feed;" \
            "CREATE TABLE floor_events (LIKE durable_sink.events INCLUDING ALL);" \
            "CREATE TABLE floor_feed (LIKE durable_sink.feed INCLUDING ALL);"
    fi
}

log "COPY: $nraw events, configurations: $configs; $runs interleaved rounds, best of each"
{
    printf '%s\n' "SET client_min_messages = warning;" "$set_work_mem"
    # warm-up: first COPY of the session (catalog caches, file in the page cache)
    copy_run baseline 0 no
    for r in $(seq "$runs"); do
        for c in $configs; do
            keep=no
            [ "$r" = 1 ] && [ "$c" != baseline ] && keep=yes
            copy_run "$c" "$r" "$keep"
        done
        if [ "$r" = "$runs" ]; then
            for c in $once; do copy_run "$c" "$r" no; done
        fi
    done
    printf '%s\n' "DROP TRIGGER IF EXISTS cap ON raw_events;" "TRUNCATE raw_events, $state_tables RESTART IDENTITY;"
} >"$tmp/copy.sql"
psql_run -f "$tmp/copy.sql" >"$tmp/copy.out"
sed -n 's/^sample \(.*\)/bench: sample \1/p' "$tmp/copy.out" >&2

report -v exp_c="$exp_compacted" -v exp_f="$exp_full" -v exp_bad="${bad:-0}" -v configs="$configs $once" '
    function target(c) {
        if (c ~ /^row_compacted/) return 2.0
        if (c ~ /^row_full_fidelity/) return 4.0
        if (c ~ /^statement_compacted/) return 1.5
        if (c ~ /^statement_full_fidelity/) return 3.0
        return 0
    }
    $1 == "sample" && $3 > 0 {
        c = $2
        if (!(c in best) || $4 < best[c]) best[c] = $4
        want = (c == "baseline") ? 0 : (c ~ /full_fidelity|storage_floor/ ? exp_f : exp_c)
        want_fail = (c == "baseline" || c == "storage_floor") ? 0 : exp_bad
        n[c]++
        if ($6 != want || $7 != want_fail) { bad[c]++; got[c] = $6 " failures=" $7 }
        else if (!(c in got)) got[c] = $6
        events = $5
    }
    END {
        nc = split(configs, cs, " ")
        b = best["baseline"]
        printf "result copy_events %d\n", events
        for (i = 1; i <= nc; i++) {
            c = cs[i]
            if (!(c in best)) continue
            printf "result copy_best_seconds_%s %.4f runs %d\n", c, best[c], n[c]
            printf "result copy_events_per_second_%s %.0f\n", c, events / best[c]
        }
        for (i = 1; i <= nc; i++) {
            c = cs[i]
            if (c == "baseline" || !(c in best)) continue
            ratio = best[c] / b
            if (c == "storage_floor") {
                printf "result copy_ratio_storage_floor %.2f\n", ratio
                continue
            }
            printf "result copy_ratio_%s %.2f target_max %.1f %s\n", c, ratio, target(c),
                (ratio <= target(c) ? "within" : "over")
            if (c ~ /full_fidelity/ && ("storage_floor" in best))
                printf "result copy_vs_storage_floor_%s %.2f\n", c, best[c] / best["storage_floor"]
        }
        for (i = 1; i <= nc; i++) {
            c = cs[i]
            if (!(c in best)) continue
            want = (c == "baseline") ? 0 : (c ~ /full_fidelity|storage_floor/ ? exp_f : exp_c)
            printf "result copy_rows_%s expected %d actual %s %s\n", c, want, got[c],
                (bad[c] ? "MISMATCH" : "MATCH")
            if (bad[c]) fail = 1
        }
        exit fail ? 1 : 0
    }' "$tmp/copy.out"

log "comparing the rows of the row and statement triggers"
cmp_sql() { # mode
    local r="keep_row_$1" s="keep_statement_$1"
    cat <<SQL
SELECT 'cmp', '$1',
       (SELECT count(*) FROM $r), (SELECT count(*) FROM $s),
       (SELECT count(*) FROM (SELECT $keep_cols FROM $r EXCEPT ALL SELECT $keep_cols FROM $s) x),
       (SELECT count(*) FROM (SELECT $keep_cols FROM $s EXCEPT ALL SELECT $keep_cols FROM $r) x),
       (SELECT md5(string_agg(md5(ROW($keep_cols)::text), '' ORDER BY ord)) FROM $r)
         IS NOT DISTINCT FROM
       (SELECT md5(string_agg(md5(ROW($keep_cols)::text), '' ORDER BY ord)) FROM $s),
       (SELECT count(*) FROM (
          SELECT thread_id, count(*) AS c, min(thread_seq) AS lo, max(thread_seq) AS hi
          FROM $s WHERE thread_seq IS NOT NULL GROUP BY thread_id
          UNION ALL
          SELECT run_id, count(*), min(run_seq), max(run_seq)
          FROM $s WHERE run_seq IS NOT NULL GROUP BY run_id) g
        WHERE lo <> 1 OR hi <> c);
SQL
}
{ cmp_sql compacted; cmp_sql full_fidelity; } | psql_run -F ' ' >"$tmp/cmp.out"
report '$1 == "cmp" {
        ok = ($3 == $4 && $5 == 0 && $6 == 0 && $7 == "t")
        printf "result row_vs_statement_%s rows %d %d row_except_statement %d statement_except_row %d ordered_md5 %s %s\n",
            $2, $3, $4, $5, $6, ($7 == "t" ? "equal" : "different"), (ok ? "MATCH" : "MISMATCH")
        printf "result copy_seq_gapless_%s %s\n", $2, ($8 == 0 ? "yes" : "no (" $8 " scopes)")
        if (!ok || $8 != 0) fail = 1
     }
     END { exit fail ? 1 : 0 }' "$tmp/cmp.out"
psql_run -c "DROP TABLE IF EXISTS keep_row_compacted, keep_row_full_fidelity, keep_statement_compacted, keep_statement_full_fidelity, floor_events_src, floor_feed_src, floor_events, floor_feed"

# ------------------------------------------------------------------ 2. emit
# feed: each client gets whole threads (round-robin in order of first
# appearance) and numbers its events in stream order. The corpus is repeated
# (laps) until the feed holds BENCH_EMIT_FEED_EVENTS events; lap k > 0 appends
# "~k" to the thread and run ids (columns and run_start/run_finish members),
# so every lap is a set of new threads and runs.
laps=$(( (emit_feed_events + nraw - 1) / nraw ))
log "emit: building the feed ($laps laps of $nraw events, $emit_clients clients)"
{
    cat <<SQL
SET client_min_messages = warning;
$set_work_mem
CREATE FUNCTION bench_lap_event(event jsonb, sfx text) RETURNS jsonb LANGUAGE sql IMMUTABLE
RETURN CASE WHEN sfx = '' OR jsonb_typeof(event) <> 'object'
              OR NOT (event->>'event_type' = ANY ('{run_start,run_finish}')) THEN event
            ELSE event
                 || CASE WHEN jsonb_typeof(event->'thread_id') = 'string'
                         THEN jsonb_build_object('thread_id', (event->>'thread_id') || sfx) ELSE '{}' END
                 || CASE WHEN jsonb_typeof(event->'run_id') = 'string'
                         THEN jsonb_build_object('run_id', (event->>'run_id') || sfx) ELSE '{}' END
       END;
CREATE UNLOGGED TABLE slice AS
WITH threads AS (
    SELECT thread_id, (row_number() OVER (ORDER BY min(seq), thread_id) - 1) % $emit_clients AS client
    FROM corpus GROUP BY thread_id)
SELECT t.client::int AS client, row_number() OVER (PARTITION BY t.client ORDER BY c.seq) AS k,
       c.thread_id, c.run_id, c.event
FROM corpus c JOIN threads t USING (thread_id)
ORDER BY 1, 2;
CREATE TABLE slice_size AS SELECT client, count(*) AS size FROM slice GROUP BY client;
CREATE UNLOGGED TABLE feed (client int, n bigint, thread_id text, run_id text, event jsonb);
SELECT format(\$f\$INSERT INTO feed
    SELECT s.client, %s * z.size + s.k, s.thread_id || %L, s.run_id || %L, bench_lap_event(s.event, %L)
    FROM slice s JOIN slice_size z USING (client)\$f\$,
    lap, CASE WHEN lap = 0 THEN '' ELSE '~' || lap END, CASE WHEN lap = 0 THEN '' ELSE '~' || lap END,
    CASE WHEN lap = 0 THEN '' ELSE '~' || lap END)
FROM generate_series(0, $laps - 1) lap ORDER BY lap \\gexec
ALTER TABLE feed ADD PRIMARY KEY (client, n);
CREATE TABLE feed_pos (client int PRIMARY KEY, pos bigint NOT NULL);
INSERT INTO feed_pos SELECT g, 0 FROM generate_series(0, $emit_clients - 1) g;
DROP TABLE slice;
ANALYZE feed, feed_pos;
SQL
} | psql_run
feed_info=$(psql_run -F ' ' -c "SELECT (SELECT count(*) FROM feed), (SELECT min(size) FROM slice_size) * $laps")
read -r feed_n feed_min_client <<<"$feed_info"
result emit_feed_events "$feed_n" laps "$laps" min_per_client "$feed_min_client"
result emit_clients "$emit_clients" jobs "$emit_jobs"
result emit_announce "$emit_announce"
result emit_mode compacted

emit_script() { # batch
    cat <<SQL
BEGIN;
UPDATE feed_pos SET pos = pos + $1 WHERE client = :client_id RETURNING pos - $1 AS lo, pos AS hi
\\gset
SELECT count(*) FROM (SELECT * FROM feed WHERE client = :client_id AND n > :lo AND n <= :hi ORDER BY n) f, LATERAL durable_sink.emit(f.event, f.thread_id, f.run_id, 'bench', 'compacted', NULL, false, $emit_announce) e;
END;
SQL
}

emit_run() { # label batch
    local label=$1 batch=$2 out="$tmp/pgbench_$1.out"
    log "emit: $label: reset, then pgbench -c $emit_clients -j $emit_jobs -T $emit_seconds, $batch events per transaction"
    psql_run -c "TRUNCATE $state_tables RESTART IDENTITY" -c "UPDATE feed_pos SET pos = 0" -c "CHECKPOINT"
    emit_script "$batch" >"$tmp/emit_$label.sql"
    # The harness's own feed query is planned once (generic plan): left to
    # the plan cache it is planned again on every transaction (custom plans),
    # which cost more than the 20 emit() calls it feeds.
    PGOPTIONS="${PGOPTIONS:-} -c plan_cache_mode=force_generic_plan" \
    "$pgbench" -n -M prepared -c "$emit_clients" -j "$emit_jobs" -T "$emit_seconds" \
        -f "$tmp/emit_$label.sql" "$db" >"$out" 2>&1 || { cat "$out" >&2; die "pgbench failed"; }
    local tx tps lat
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$out")
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
    [ -n "$tx" ] && [ -n "$tps" ] || { cat "$out" >&2; die "cannot read the pgbench output"; }
    grep -E '^number of failed transactions: [1-9]' "$out" >&2 && status=1
    # consumed input events, appended rows, exhausted clients, gapless seqs
    local info consumed appended failures exhausted gaps
    info=$(psql_run -F ' ' <<SQL
SELECT (SELECT sum(least(p.pos, z.size * $laps)) FROM feed_pos p JOIN slice_size z USING (client)),
       (SELECT count(*) FROM durable_sink.events),
       (SELECT count(*) FROM durable_sink.capture_failures),
       (SELECT count(*) FROM feed_pos p JOIN slice_size z USING (client) WHERE p.pos >= z.size * $laps),
       (SELECT count(*) FROM (
           SELECT thread_scope, count(*) AS c, min(thread_seq) AS lo, max(thread_seq) AS hi
           FROM durable_sink.events WHERE thread_scope IS NOT NULL GROUP BY thread_scope
           UNION ALL
           SELECT run_scope, count(*), min(run_seq), max(run_seq)
           FROM durable_sink.events WHERE run_scope IS NOT NULL GROUP BY run_scope) g
        WHERE lo <> 1 OR hi <> c);
SQL
)
    read -r consumed appended failures exhausted gaps <<<"$info"
    # expected rows of exactly the consumed events (each client's prefix keeps every
    # thread's stream order), from the generator's model
    psql_run -c "\\copy (SELECT f.n, f.thread_id, f.run_id, f.event FROM feed f JOIN feed_pos p USING (client) WHERE f.n <= p.pos ORDER BY f.client, f.n) TO STDOUT" |
        python3 "$gen" --expected-from - >"$tmp/expected_$label.txt"
    local want want_fail
    want=$(awk '$1 == "expected_total" && $2 == "compacted" {print $3}' "$tmp/expected_$label.txt")
    want_fail=$(awk '$1 == "malformed_events" {print $2}' "$tmp/expected_$label.txt")
    report -v label="$label" -v batch="$batch" -v tx="$tx" -v tps="$tps" -v lat="${lat:-0}" -v consumed="$consumed" \
        -v appended="$appended" -v failures="$failures" -v exhausted="$exhausted" -v gaps="$gaps" \
        -v want="$want" -v want_fail="${want_fail:-0}" -v target="$emit_target" -v clients="$emit_clients" 'BEGIN {
        secs = tx / tps
        p = "result emit_" label "_"
        printf "%sbatch_events %d\n", p, batch
        printf "%sclients %d\n", p, clients
        printf "%sseconds %.2f\n", p, secs
        printf "%stransactions %d\n", p, tx
        printf "%stps %.1f\n", p, tps
        printf "%slatency_ms %.3f\n", p, lat
        printf "%sevents %d\n", p, consumed
        printf "%sevents_per_second %.0f target_min %d %s%s\n", p, consumed / secs, target,
            (consumed / secs >= target ? "within" : "below"),
            (exhausted > 0 ? " INVALID_feed_exhausted" : "")
        printf "%sappended_per_second %.0f\n", p, appended / secs
        ok = (want == appended && failures == want_fail)
        printf "%sappended_rows expected %d actual %d failures %d %s\n", p, want, appended, failures,
            (ok ? "MATCH" : "MISMATCH")
        printf "%sseq_gapless %s\n", p, (gaps == 0 ? "yes" : "no (" gaps " scopes)")
        printf "%sfeed_exhausted_clients %d\n", p, exhausted
        exit (ok && gaps == 0) ? 0 : 1
    }'
    [ "$exhausted" = 0 ] ||
        log "warning: $exhausted clients ran out of feed before the end: events/s is underestimated, raise BENCH_EMIT_FEED_EVENTS"
}

emit_run batch "$emit_batch"
emit_run single 1

# ------------------------------------------------------------------ summary
awk '
    $1 != "result" { next }
    $2 ~ /^(synchronous_commit|events)$/ || $2 ~ /^copy_ratio_/ || $2 ~ /^copy_vs_storage_floor_/ || $2 ~ /^copy_rows_/ ||
    $2 ~ /^row_vs_statement_/ || $2 ~ /^copy_seq_gapless_/ || $2 ~ /^emit_clients$/ ||
    $2 ~ /^emit_[a-z]+_(batch_events|events_per_second|appended_per_second|appended_rows|seq_gapless)$/ {
        $1 = "summary"; print
    }' "$res"
if [ "$status" = 0 ]; then
    echo "summary checks PASS"
else
    echo "summary checks FAIL"
    log "a row count or comparison failed (see MISMATCH lines)"
fi
exit "$status"
