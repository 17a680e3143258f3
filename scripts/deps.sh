#!/usr/bin/env bash
# scripts/deps.sh — the Debian packages the project's scripts need, by purpose.
#
#   scripts/deps.sh install PURPOSE...   install what is missing (apt-get)
#   scripts/deps.sh verify PURPOSE...    exit 1, naming each one, if any is missing
#   scripts/deps.sh list PURPOSE...      print the package names
#
# PURPOSE is build, demo, test, bench, package or all.  A package counts as present
# only when dpkg says it is installed ("ii"): never by a file, because
# Debian ships some files in more than one package (pgxs.mk is in
# postgresql-client-15 too, but the server headers are only in
# postgresql-server-dev-15).  lib.sh sources this file for ensure_deps.

PG_MAJOR=${PG_MAJOR:-15}

# Why each package is needed:
#   postgresql-N             server (initdb, pg_ctl, postgres) and pgbench
#   postgresql-server-dev-N  server headers and PGXS (postgres.h, pgxs.mk)
#   postgresql-client-N      psql, pg_dump, and the TAP modules
#                            (PostgreSQL::Test::Cluster)
#   make, gcc                the build
#   binutils                 nm, for the exported-symbols check
#   python3                  the sample-event generator (demo, benchmarks, TAP)
#   perl, libipc-run-perl    the TAP tests (prove, IPC::Run)
#   postgresql-N-cron        pg_cron, for the README's retention schedule
#                            (test/t/009_retention.pl runs it)
#   postgresql-server-dev-all  Debian's extension tooling: pg_buildext (which
#                            runs pg_virtualenv, from postgresql-common), dh_pgxs_test, dh --with pgxs_loop
#   debhelper, dpkg-dev,     the .deb build (dpkg-buildpackage, dh); dpkg-dev's
#   build-essential          dpkg-checkbuilddeps wants build-essential
deps_packages() {
    local purpose pkgs=()
    for purpose in "$@"; do
        case "$purpose" in
            build) pkgs+=("postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" make gcc) ;;
            demo)  pkgs+=($(deps_packages build) python3) ;;
            test)  pkgs+=($(deps_packages build) "postgresql-client-$PG_MAJOR" binutils python3 perl
                          libipc-run-perl "postgresql-$PG_MAJOR-cron") ;;
            bench) pkgs+=($(deps_packages build) python3) ;;
            package) pkgs+=($(deps_packages build) postgresql-server-dev-all debhelper dpkg-dev
                            build-essential) ;;
            all)   pkgs+=($(deps_packages demo test bench package)) ;;
            *) echo "deps.sh: unknown purpose '$purpose' (build, demo, test, bench, package, all)" >&2
               return 2 ;;
        esac
    done
    printf '%s\n' "${pkgs[@]}" | awk '!seen[$0]++'
}

# Is the package installed, by dpkg's own status (not by some file)?  The
# second letter is the state ("i": installed); the first is what was asked
# for, "h" on a held package, which is installed all the same.
deps_installed() {
    case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" in
        ii\ |hi\ ) return 0 ;;
        *) return 1 ;;
    esac
}

deps_missing() {
    local pkg
    for pkg in "$@"; do
        deps_installed "$pkg" || echo "$pkg"
    done
}

deps_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install the packages of the given purposes that are missing.
deps_install() {
    local pkgs missing
    pkgs=$(deps_packages "$@") || return
    missing=$(deps_missing $pkgs)
    [ -z "$missing" ] && return 0
    printf '==> installing %s\n' "$(echo $missing)" >&2
    deps_as_root apt-get update -q >/dev/null
    deps_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends $missing >/dev/null
}

# Fail loudly, naming every missing package.
deps_verify() {
    local pkgs missing
    pkgs=$(deps_packages "$@") || return
    missing=$(deps_missing $pkgs)
    if [ -n "$missing" ]; then
        printf 'deps.sh: MISSING packages for %s: %s\n' "$*" "$(echo $missing)" >&2
        return 1
    fi
    printf 'deps.sh: all %d packages for %s are installed\n' "$(echo "$pkgs" | wc -l)" "$*" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    command=${1:-}
    [ $# -gt 0 ] && shift
    [ $# -gt 0 ] || set -- all
    case "$command" in
        install) deps_install "$@" ;;
        verify)  deps_verify "$@" ;;
        list)    deps_packages "$@" ;;
        *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
fi
