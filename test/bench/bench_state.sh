#!/usr/bin/env bash
# Benchmarks of the state tables (hardening: compaction cost, held snapshots).
#
#   test/bench/bench_state.sh
#
# Builds and installs the extension, starts a throwaway cluster (scripts/lib.sh)
# and measures, each against a baseline from the same run:
#  1. compaction: the cost of one state_snapshot (its own transaction) on a
#     thread with 10, 1k and 100k past boundaries, for a snapshot that carries
#     only the new boundary ("incremental"; baseline: the 10-boundary thread)
#     and one that carries the whole history plus the new one ("cumulative";
#     baseline: reading every boundary of the same jsonb with
#     jsonb_array_elements).  Median of BENCH_REPEAT snapshots.
#  2. held snapshot: BENCH_HELD_TX single-event emit() transactions on one
#     thread, in chunks of 5000, while another session keeps a REPEATABLE
#     READ snapshot open; tps per chunk (baseline: the first chunk), and the
#     size of durable_sink.scopes and durable_sink.compaction_state after.
# Results: "result ..." lines on stdout; progress on stderr.
# Environment: BENCH_REPEAT (7), BENCH_HELD_TX (30000), BENCH_PAST ("10 1000 100000").
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

repeat=${BENCH_REPEAT:-7}
held_tx=${BENCH_HELD_TX:-30000}
past_sizes=${BENCH_PAST:-10 1000 100000}

ensure_deps bench
build_install
trap stop_cluster EXIT
start_cluster
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION durable_sink"

# ------------------------------------------------------------- compaction
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
-- A state_snapshot whose compaction member has boundaries first .. last.
CREATE FUNCTION bench_snapshot(first int, last int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('event_type', 'state_snapshot', 'snapshot',
    jsonb_build_object('extensions', jsonb_build_object('__context_compaction',
      jsonb_build_object('total_compactions', last + 1, 'boundaries',
        (SELECT jsonb_agg(jsonb_build_object('task_id', 'task-' || i, 'summary', 'summary of ' || i,
                                             'pre_tokens', 1000 + i, 'post_tokens', 100, 'timestamp_ms', i))
         FROM generate_series(first, last) i))))) $$;

-- Median milliseconds of repeat snapshots, each in its own transaction,
-- each adding one boundary to a thread that has past ones.
CREATE PROCEDURE bench_compaction(thread text, past int, cumulative boolean, repeat int,
                                  INOUT median_ms float8 DEFAULT NULL,
                                  INOUT baseline_ms float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  ev jsonb;
  t0 timestamptz;
  n bigint;
  times float8[] := '{}';
  base float8[] := '{}';
BEGIN
  PERFORM count(*) FROM durable_sink.normalize_many(bench_snapshot(0, past - 1), thread, 'r');
  COMMIT;
  FOR k IN 0 .. repeat - 1 LOOP
    ev := bench_snapshot(CASE WHEN cumulative THEN 0 ELSE past + k END, past + k);
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM durable_sink.normalize_many(ev, thread, 'r');
    times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
    IF n <> 2 THEN RAISE EXCEPTION 'expected 1 new fact, got %', n - 1; END IF;
    t0 := clock_timestamp();
    SELECT count(*) INTO n
    FROM jsonb_array_elements(ev->'snapshot'->'extensions'->'__context_compaction'->'boundaries') b
    WHERE b->>'task_id' IS NOT NULL;
    base := base || extract(epoch FROM clock_timestamp() - t0) * 1000;
    COMMIT;
  END LOOP;
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO median_ms FROM unnest(times) x;
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO baseline_ms FROM unnest(base) x;
END $$;
SQL

declare -A incremental cumulative bare
for past in $past_sizes; do
    log "compaction: thread with $past past boundaries"
    read -r inc _ < <(psql -X -qAt -F ' ' -c "CALL bench_compaction('inc-$past', $past, false, $repeat)")
    read -r cum b < <(psql -X -qAt -F ' ' -c "CALL bench_compaction('cum-$past', $past, true, $repeat)")
    incremental[$past]=$inc; cumulative[$past]=$cum; bare[$past]=$b
done
first=${past_sizes%% *}
for past in $past_sizes; do
    awk -v p="$past" -v i="${incremental[$past]}" -v i0="${incremental[$first]}" \
        -v c="${cumulative[$past]}" -v b="${bare[$past]}" 'BEGIN {
        printf "result compaction_incremental past=%d ms=%.3f baseline_ms=%.3f (past=%s) ratio=%.2f\n", p, i, i0, "'"$first"'", i / i0;
        printf "result compaction_cumulative past=%d ms=%.3f bare_scan_ms=%.3f ratio=%.2f\n", p, c, b, c / b }'
done

# ------------------------------------------------------------ held snapshot
log "held snapshot: $held_tx single-event transactions on one thread, REPEATABLE READ open elsewhere"
holder_fifo=$(mktemp -u "$DS_PGDIR/holder.XXXX"); mkfifo "$holder_fifo"
# The holder keeps its transaction (and snapshot) open until we close its input.
psql -X -q <"$holder_fifo" >/dev/null &
holder=$!
exec 7>"$holder_fifo"
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM durable_sink.scopes;" >&7
sleep 1
cat >"$DS_PGDIR/emit1.sql" <<'SQL'
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"m"}', 'held-thread', 'held-run', announce => false);
SELECT count(*) FROM durable_sink.normalize_many('{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"total_compactions":0}}}}', 'held-thread', 'held-run');
SQL
chunk=5000
chunks=$(( held_tx / chunk ))
first_tps=""
for c in $(seq 1 "$chunks"); do
    tps=$("$PG_BIN/pgbench" -n -c 1 -t "$chunk" -f "$DS_PGDIR/emit1.sql" 2>/dev/null |
          awk '/^tps/ { print $3; exit }')
    [ -n "$first_tps" ] || first_tps=$tps
    awk -v c="$c" -v n="$chunk" -v t="$tps" -v f="$first_tps" 'BEGIN {
        printf "result held_snapshot chunk=%d transactions=%d-%d tps=%.0f baseline_tps=%.0f ratio=%.2f\n",
               c, (c - 1) * n + 1, c * n, t, f, t / f }'
done
echo "COMMIT;" >&7
exec 7>&-
wait "$holder"
psql -X -qAt -F ' ' -c "SELECT 'result table_size', c.relname, pg_relation_size(c.oid) / 8192 AS pages,
                               (SELECT count(*) FROM durable_sink.scopes) AS scopes_rows
                        FROM pg_class c
                        WHERE c.oid IN ('durable_sink.scopes'::regclass, 'durable_sink.compaction_state'::regclass)
                        ORDER BY 2"
