#!/usr/bin/env bash
# scripts/test.sh — the full test suite on a fresh machine:
# installs dependencies, builds with -Werror, installs, checks the library's
# exported symbols, starts a throwaway cluster and runs `make installcheck`
# (pg_regress, isolation specs, TAP).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_deps test
build_install
trap stop_cluster EXIT
start_cluster

# Checks of the build and the tree, one test each: their result lines go
# into the log the counts below are taken from.
checks_ok=true
check() {
    local name=$1 result=FAILED
    shift
    "$@" && result=ok
    [ "$result" = ok ] || checks_ok=false
    echo "test $name ... $result" | tee -a "$DS_PGDIR/check.log"
}
# The library exports only its SQL entry points (src/exports.map).
log "checking the symbols durable_sink.so exports"
check exported_symbols bash "$DS_ROOT/test/check_exports.sh" "$DS_ROOT/durable_sink.so"
# META.json (PGXN), durable_sink.control and debian/ agree.
log "checking the package metadata"
check package_metadata bash "$DS_ROOT/test/check_meta.sh"

# The suites write results next to the sources, and the TAP tests start
# their own servers (never as root): run them from a copy the
# unprivileged user owns.
work=$DS_PGDIR/src
mkdir "$work"
tar -C "$DS_ROOT" --exclude=.git -cf - . | tar -C "$work" -xf -
chown -R "$(pg_user)" "$work"

log "running make installcheck"
set +e
as_pg_user env PATH="$PG_BIN:$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
    make -C "$work" PG_CONFIG="$PG_BIN/pg_config" installcheck 2>&1 | tee -a "$DS_PGDIR/check.log"
status=${PIPESTATUS[0]}
set -e

for diffs in "$work/test/regression.diffs" "$work/output_iso/regression.diffs"; do
    if [ -s "$diffs" ]; then
        log "differences in $diffs"
        cat "$diffs"
    fi
done
for tap_log in "$work"/tmp_check/log/*; do
    [ "$status" -ne 0 ] && [ -f "$tap_log" ] && { log "$tap_log"; tail -n 50 "$tap_log"; }
done

# Passed: "test NAME ... ok" (pg_regress, isolation, the checks above) and
# "FILE.pl .. ok" (prove).  Failed: "... FAILED", and one line per failing
# TAP file in prove's Test Summary Report ("FILE.pl (Wstat: ..."): prove
# prints "Dubious" on a line of its own when the test wrote to stderr.
$checks_ok || status=1
passed=$(grep -Ec '\.\.\. ok|\.pl \.\. ok$' "$DS_PGDIR/check.log" || true)
failed=$(grep -Ec '\.\.\. FAILED|^[^ ]+\.pl +\(Wstat: |^not ok' "$DS_PGDIR/check.log" || true)
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "durable_sink: $passed passed, $failed failed"
exit "$status"
