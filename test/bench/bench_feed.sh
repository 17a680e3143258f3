#!/usr/bin/env bash
# Benchmarks of the feed (contract §19), each against a baseline measured
# in the same run:
#
#   test/bench/bench_feed.sh
#
# Builds this tree and the 1.0 release (git tag v1.0, commit d19bc66) in
# temporary directories, starts a throwaway cluster (scripts/lib.sh) and:
#  1. emit throughput, 8 pgbench clients, BENCH_SECONDS each, 1 and 20
#     events per transaction: 1.0 (server without the library preloaded)
#     against this version (preloaded), alternating, BENCH_ROUNDS rounds,
#     best of each; a fresh database per measurement;
#  2. feed latency under 8 writers (1 event per transaction), unthrottled
#     (the 2 cores saturated) and at BENCH_LATENCY_RATE transactions per
#     second: a poller copies read_all in a loop; latency = time it copied
#     an event - commit time of the event's transaction
#     (track_commit_timestamp); p50/p99; and how far the horizon trails the
#     last position handed out (feed_status, sampled every 10 ms);
#  3. read_all over the whole feed in batches of 1000 against a plain index
#     scan of the same events in event_id order (BENCH_READ_EVENTS events);
#  4. commit rate of 8 clients emitting 1 event per transaction with live
#     frames (announce => true): sent by the announcer after commit (the
#     default with the library preloaded) against NOTIFY in the writing
#     transaction (durable_sink.announce_after_commit = off), alternating,
#     BENCH_ROUNDS rounds, best of each; with fsync on, as in production,
#     and off.
# Results: "result ..." lines on stdout; progress on stderr.
# Environment: BENCH_SECONDS (15), BENCH_ROUNDS (2), BENCH_READ_EVENTS (200000),
# BENCH_LATENCY_RATE (1000), BENCH_PARTS ("emit latency read announce").
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

seconds=${BENCH_SECONDS:-15}
rounds=${BENCH_ROUNDS:-2}
read_events=${BENCH_READ_EVENTS:-200000}
latency_rate=${BENCH_LATENCY_RATE:-1000}
parts=" ${BENCH_PARTS:-emit latency read announce} "
release=$(git -C "$DS_ROOT" rev-parse -q --verify 'v1.0^{commit}' || echo d19bc66)

ensure_deps bench
work=$(mktemp -d /tmp/durable_sink_bench.XXXXXX)
log "building the 1.0 release ($release) and this tree in $work"
git -C "$DS_ROOT" archive --prefix=v10/ "$release" | tar -C "$work" -xf -
make -C "$work/v10" -s PG_CONFIG="$PG_BIN/pg_config" >/dev/null
tar -C "$DS_ROOT" --exclude=.git -cf - . | (mkdir "$work/cur" && tar -C "$work/cur" -xf -)
make -C "$work/cur" -s clean
make -C "$work/cur" -s PG_CONFIG="$PG_BIN/pg_config" >/dev/null

install_build() { as_root make -C "$work/$1" -s PG_CONFIG="$PG_BIN/pg_config" install >/dev/null; }
trap 'stop_cluster; install_build cur; rm -rf "$work"' EXIT

start_cluster
conf=$DS_PGDIR/data/postgresql.conf
echo "track_commit_timestamp = on" >>"$conf"
restart_with() {   # restart_with <preload: yes|no> [fsync: off|on]
    sed -i '/^shared_preload_libraries/d' "$conf"
    [ "$1" = yes ] && echo "shared_preload_libraries = 'durable_sink'" >>"$conf"
    as_pg_user "$PG_BIN/pg_ctl" -D "$DS_PGDIR/data" -w -m fast restart \
        -o "-p $DS_PORT -k $DS_PGDIR -c listen_addresses='' -c fsync=${2:-off} -c max_prepared_transactions=4" >/dev/null
}

cat >"$work/emit1.sql" <<'SQL'
\set t random(1, 64)
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"m"}', 'bench-' || :t, 'bench-r' || :t, announce => false);
SQL
cat >"$work/emit20.sql" <<'SQL'
\set t random(1, 64)
BEGIN;
SELECT count(*) FROM generate_series(1, 20) g,
  LATERAL durable_sink.emit(jsonb_build_object('event_type', 'error', 'message', 'm' || g),
                            'bench-' || :t, 'bench-r' || :t, announce => false) e;
COMMIT;
SQL
# the commit time of each copied event is looked up afterwards: the poller
# does nothing but copy
cat >"$work/poller.sql" <<'SQL'
INSERT INTO polled (position, copied_at)
SELECT r.position, clock_timestamp()
FROM durable_sink.read_all((SELECT coalesce(max(position), 0) FROM polled), 1000) r;
SQL

fresh_db() {
    psql -X -q -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
    psql -X -q -d bench -c "CREATE EXTENSION durable_sink"
}

# events per second of a pgbench run: tps x events per transaction
emit_rate() {   # emit_rate <script> <events per transaction>
    "$PG_BIN/pgbench" -n -c 8 -j 2 -T "$seconds" -f "$1" bench 2>/dev/null |
        awk -v k="$2" '/^tps/ { printf "%.0f", $3 * k; exit }'
}

declare -A best
emit_rounds=$rounds
[[ $parts == *" emit "* ]] || emit_rounds=0
for round in $(seq 1 "$emit_rounds"); do
    for version in v10 cur; do
        install_build "$version"
        restart_with $([ "$version" = cur ] && echo yes || echo no)
        for batch in 1 20; do
            log "round $round: $version, 8 clients, $batch events per transaction"
            fresh_db
            rate=$(emit_rate "$work/emit$batch.sql" "$batch")
            key=$version-$batch
            if [ -z "${best[$key]:-}" ] || [ "$rate" -gt "${best[$key]}" ]; then best[$key]=$rate; fi
        done
    done
done
for batch in 1 20; do
    [ "$emit_rounds" -gt 0 ] || break
    awk -v b="$batch" -v n="${best[cur-$batch]}" -v o="${best[v10-$batch]}" 'BEGIN {
        printf "result emit_throughput events_per_tx=%d events_per_s=%d baseline_1.0_events_per_s=%d ratio=%.2f\n", b, n, o, n / o }'
done

# ------------------------------------------------------------ latency
cat >"$work/lag.sql" <<'SQL'
INSERT INTO lag SELECT last_position - horizon FROM durable_sink.feed_status();
SELECT pg_sleep(0.01);
SQL
latency_run() {   # latency_run <label> [pgbench rate options]
    local label=$1
    shift
    fresh_db
    psql -X -q -d bench -c "CREATE TABLE polled (position bigint PRIMARY KEY, copied_at timestamptz)" \
                        -c "CREATE TABLE lag (positions bigint)"
    log "feed latency ($label): 8 writers (1 event per transaction) and a poller, ${seconds}s"
    "$PG_BIN/pgbench" -n -c 1 -T "$seconds" -f "$work/poller.sql" bench >/dev/null 2>&1 &
    local poller=$!
    "$PG_BIN/pgbench" -n -c 1 -T "$seconds" -f "$work/lag.sql" bench >/dev/null 2>&1 &
    local sampler=$!
    "$PG_BIN/pgbench" -n -c 8 -j 2 -T "$seconds" "$@" -f "$work/emit1.sql" bench >/dev/null 2>&1
    wait "$poller" "$sampler"
    psql -X -qAt -F ' ' -d bench -c "
      SELECT 'result feed_latency load=$label events=' || count(*),
             'p50_ms=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
             'p99_ms=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
             'max_ms=' || round(max(ms)::numeric, 1),
             'horizon_trails_p99_positions=' || (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY positions) FROM lag)
      FROM (SELECT extract(epoch FROM p.copied_at - pg_xact_commit_timestamp(f.xmin)) * 1000 AS ms
            FROM polled p JOIN durable_sink.feed f USING (position)) l"
}
if [[ $parts == *" latency "* ]]; then
    install_build cur
    restart_with yes
    latency_run unthrottled
    latency_run "${latency_rate}tps" --rate "$latency_rate"
fi

# -------------------------------------------------------- announce
cat >"$work/announce1.sql" <<'SQL'
\set t random(1, 64)
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"m"}', 'bench-' || :t, 'bench-r' || :t);
SQL
if [[ $parts == *" announce "* ]]; then
    install_build cur
    for fsync in on off; do
        restart_with yes "$fsync"
        declare -A best_tps=()
        for round in $(seq 1 "$rounds"); do
            for after_commit in off on; do
                log "round $round: commit rate, fsync $fsync, announce_after_commit $after_commit"
                fresh_db
                tps=$(PGOPTIONS="-c durable_sink.announce_after_commit=$after_commit" \
                      "$PG_BIN/pgbench" -n -c 8 -j 2 -T "$seconds" -f "$work/announce1.sql" bench 2>/dev/null |
                      awk '/^tps/ { printf "%.0f", $3; exit }')
                if [ -z "${best_tps[$after_commit]:-}" ] || [ "$tps" -gt "${best_tps[$after_commit]}" ]; then
                    best_tps[$after_commit]=$tps
                fi
            done
        done
        awk -v f="$fsync" -v a="${best_tps[on]}" -v b="${best_tps[off]}" 'BEGIN {
            printf "result announce_commit_rate clients=8 events_per_tx=1 fsync=%s announcer_tps=%d baseline_notify_in_transaction_tps=%d ratio=%.2f\n", f, a, b, a / b }'
    done
fi

# ------------------------------------------------------------- read_all
[[ $parts == *" read "* ]] || exit 0
log "read_all: $read_events events in batches of 1000 against an index scan in event_id order"
install_build cur
restart_with yes
fresh_db
psql -X -q -d bench <<SQL
SELECT count(*) FROM generate_series(1, $read_events / 1000) b,
  LATERAL (SELECT count(*) FROM generate_series(1, 1000) g,
           LATERAL durable_sink.emit(jsonb_build_object('event_type', 'error', 'message', 'm' || g),
                                     'read-' || ((b + g) % 50), 'read-r' || ((b + g) % 50), announce => false) e) x;
SELECT count(*) AS stored FROM durable_sink.events;
VACUUM ANALYZE durable_sink.events, durable_sink.feed;
CREATE FUNCTION read_feed() RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE after bigint := 0; n bigint := 0; got bigint; last bigint;
BEGIN
  LOOP
    -- count(r): both sides form every row with all its columns
    SELECT count(r), max(position) INTO got, last
    FROM durable_sink.read_all(after, 1000) r;
    EXIT WHEN got = 0;
    n := n + got; after := last;
  END LOOP;
  RETURN n;
END \$\$;
CREATE FUNCTION read_index() RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE after bigint := 0; n bigint := 0; got bigint; last bigint;
BEGIN
  LOOP
    SELECT count(e), max(event_id) INTO got, last
    FROM (SELECT event_id, fidelity, event_kind, scopes, thread_id, run_id, payload, causation_id,
                 correlation_id, origin, visibility, schema_version, thread_seq, run_seq, created_at
          FROM durable_sink.events WHERE event_id > after ORDER BY event_id LIMIT 1000) e;
    EXIT WHEN got = 0;
    n := n + got; after := last;
  END LOOP;
  RETURN n;
END \$\$;
SQL
best_feed=""; best_index=""
for run in 1 2 3; do
    for what in feed index; do
        ms=$(psql -X -qAt -d bench -c "
          SELECT round(extract(epoch FROM clock_timestamp() - t0) * 1000)
          FROM (SELECT clock_timestamp() AS t0) s, LATERAL (SELECT read_$what()) r")
        if [ "$what" = feed ]; then
            { [ -z "$best_feed" ] || [ "$ms" -lt "$best_feed" ]; } && best_feed=$ms
        else
            { [ -z "$best_index" ] || [ "$ms" -lt "$best_index" ]; } && best_index=$ms
        fi
    done
done
awk -v f="$best_feed" -v i="$best_index" -v n="$read_events" 'BEGIN {
    printf "result read_all events=%d read_all_ms=%d baseline_index_scan_ms=%d speed_ratio=%.2f\n", n, f, i, i / f }'
