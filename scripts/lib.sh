# scripts/lib.sh — shared set-up for demo.sh, test.sh and the benchmarks.
# Source it; every function is safe to call on a brand-new Debian 12 machine.

set -euo pipefail

DS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
# DS_PG_BIN: the bin directory of another copy of the PostgreSQL tree (e.g.
# a copy of /usr/lib/postgresql/15, /usr/share/postgresql/15 and
# /usr/include/postgresql under one root, which PostgreSQL finds relative to
# its binaries): builds install there, servers run from there.  For machines
# where several people install builds at once.
PG_BIN=${DS_PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
DS_PORT=${DS_PORT:-54329}

log() { printf '==> %s\n' "$*" >&2; }

# Run a command with root rights (we are root in CI; developers have sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The server refuses to run as root: as root, use the postgres account.
pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}
as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

. "$DS_ROOT/scripts/deps.sh"

# Install the Debian packages the given purposes need (scripts/deps.sh), then
# check that they really are installed.
ensure_deps() {
    deps_install "$@"
    deps_verify "$@"
    id postgres >/dev/null 2>&1 || { log "no postgres account"; exit 1; }
}

# Build warning-free (-Werror) and install into the server's directories.
build_install() {
    log "building durable_sink (-Wall -Wextra -Werror)"
    make -C "$DS_ROOT" -s clean
    make -C "$DS_ROOT" -s PG_CONFIG="$PG_BIN/pg_config" \
        EXTRA_CFLAGS=-Werror >/dev/null
    as_root make -C "$DS_ROOT" -s PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
}

# Start a throwaway cluster (trust auth, unix socket in its own directory)
# and export the libpq variables for it.  stop_cluster undoes it.
start_cluster() {
    DS_PGDIR=$(mktemp -d /tmp/durable_sink_pg.XXXXXX)
    chown "$(pg_user)" "$DS_PGDIR"
    chmod 755 "$DS_PGDIR"
    log "starting a throwaway cluster in $DS_PGDIR (port $DS_PORT)"
    # UTF-8 whatever the environment says (a machine without LANG would
    # otherwise get SQL_ASCII, and the suites' Unicode inputs fail)
    as_pg_user "$PG_BIN/initdb" -D "$DS_PGDIR/data" -A trust -U postgres \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    as_pg_user "$PG_BIN/pg_ctl" -D "$DS_PGDIR/data" -l "$DS_PGDIR/server.log" -w \
        -o "-p $DS_PORT -k $DS_PGDIR -c listen_addresses='' -c fsync=off -c max_prepared_transactions=4 -c shared_preload_libraries=durable_sink" \
        start >/dev/null
    export PGHOST=$DS_PGDIR PGPORT=$DS_PORT PGUSER=postgres PGDATABASE=postgres
}

stop_cluster() {
    if [ -n "${DS_PGDIR:-}" ] && [ -d "$DS_PGDIR/data" ]; then
        as_pg_user "$PG_BIN/pg_ctl" -D "$DS_PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$DS_PGDIR"
    fi
}
