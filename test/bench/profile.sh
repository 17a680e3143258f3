#!/usr/bin/env bash
# Flame graphs of the hot paths, for the speed work (issue "normalize within
# 3x of a bare scan"):
#
#   test/bench/profile.sh LABEL
#
# Starts a throwaway cluster (scripts/lib.sh; DS_PG_BIN and DS_PORT are
# honoured), loads BENCH_EVENTS events from gen_corpus.py (seed 1) into a raw
# table, and records each workload below with `perf record -g` on the
# backend that runs it (Debian's linux-perf).  Each recording becomes
# test/bench/flamegraphs/<workload>-<LABEL>.svg, drawn by the npm package
# "flamegraph" (perf script | flamegraph -t perf), which is installed into
# a temporary directory (npm registry) unless FLAMEGRAPH names the binary.
#
# Workloads:
#   normalize_many     SELECT count(*) FROM raw, LATERAL normalize_many(...)
#   normalize_many_select  SELECT count(*) FROM (SELECT normalize_many(...) FROM raw) s
#                      (both rolled back)
#   insert_statement_ff  INSERT ... SELECT of the same rows into a raw table with the
#                      statement capture trigger, full_fidelity
#   insert_row_ff        the same with the row capture trigger
#
# Environment: BENCH_EVENTS (200000).
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

label=${1:?usage: test/bench/profile.sh LABEL (e.g. before, after)}
events=${BENCH_EVENTS:-200000}
out=$DS_ROOT/test/bench/flamegraphs
mkdir -p "$out"

ensure_deps bench
command -v perf >/dev/null || { log "needs perf (Debian package linux-perf)"; exit 1; }
work=$(mktemp -d /tmp/durable_sink_profile.XXXXXX)
chmod 755 "$work"
flamegraph=${FLAMEGRAPH:-}
if [ -z "$flamegraph" ]; then
    log "installing the flamegraph npm package into $work/npm"
    npm install --silent --prefix "$work/npm" flamegraph@1.3.0 >/dev/null
    flamegraph=$work/npm/node_modules/.bin/flamegraph
fi
trap 'stop_cluster; rm -rf "$work"' EXIT

build_install
start_cluster
log "generating $events events"
python3 "$DS_ROOT/test/bench/gen_corpus.py" --events "$events" --seed 1 >"$work/corpus.tsv"
chmod 644 "$work/corpus.tsv"
psql -X -q <<SQL
CREATE EXTENSION durable_sink;
CREATE TABLE raw (seq bigint, thread_id text, run_id text, event jsonb);
\copy raw FROM '$work/corpus.tsv'
VACUUM ANALYZE raw;
CREATE TABLE raw_stmt (seq bigint, thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON raw_stmt REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'bench', 'full_fidelity', '', 'false');
CREATE TABLE raw_row (seq bigint, thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON raw_row
  FOR EACH ROW EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'bench', 'full_fidelity', '', 'false');
SQL

# profile <workload> <sql>: run sql in a session whose backend perf records
profile() {
    local name=$1 sql=$2 pid
    log "profiling $name"
    coproc SESSION { psql -X -qAt 2>&1; }
    echo "SELECT pg_backend_pid();" >&"${SESSION[1]}"
    read -r pid <&"${SESSION[0]}"
    perf record -q -g -F 997 -p "$pid" -o "$work/$name.data" >/dev/null 2>&1 &
    local recorder=$!
    sleep 1
    echo "$sql" >&"${SESSION[1]}"
    echo "SELECT 'done';" >&"${SESSION[1]}"
    local line
    while read -r line <&"${SESSION[0]}"; do [ "$line" = done ] && break; done
    kill -INT "$recorder"
    wait "$recorder" || true
    echo '\q' >&"${SESSION[1]}"
    wait "$SESSION_PID" 2>/dev/null || true
    perf script -i "$work/$name.data" 2>/dev/null | "$flamegraph" -t perf >"$out/$name-$label.svg"
    log "wrote $out/$name-$label.svg"
}

# rolled back, so that both normalize workloads start from empty state
profile normalize_many "BEGIN; SELECT count(*) FROM raw r, LATERAL durable_sink.normalize_many(r.event, r.thread_id, r.run_id) n; ROLLBACK;"
profile normalize_many_select "BEGIN; SELECT count(*) FROM (SELECT durable_sink.normalize_many(r.event, r.thread_id, r.run_id) FROM raw r) s; ROLLBACK;"
profile insert_statement_ff "INSERT INTO raw_stmt SELECT * FROM raw;"
profile insert_row_ff "INSERT INTO raw_row SELECT * FROM raw;"
