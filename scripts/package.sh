#!/usr/bin/env bash
# scripts/package.sh [--record] — the Debian package route on a fresh
# machine, as root (or with sudo):
#  1. installs the packaging tools (scripts/deps.sh package);
#  2. builds postgresql-15-durable-sink_<version>_<arch>.deb with
#     dpkg-buildpackage -us -uc -b from a clean export of the tree (the
#     files git tracks, or would track, as they are in the work tree) in a
#     temporary directory, and reports its size and the build time;
#  3. installs it (apt-get install ./file.deb, which pulls its dependencies),
#     reports the install time and checks that dpkg reports it installed and
#     owns the library;
#  4. runs the pg_regress and isolation suites against the INSTALLED package
#     (debian/tests/installcheck: pg_buildext installcheck, a throwaway
#     pg_virtualenv cluster with the library preloaded), from a second clean
#     export in which nothing was built;
#  5. purges the package again (KEEP_PACKAGE=1 keeps it).
# The last line is `durable_sink package: N passed, N failed`.  --record
# also appends the figures to test/bench/results/package-<date>.txt.
#
# It installs system-wide: run it under the install lock, like test.sh.  The
# package and `make install` (test.sh, demo.sh) write the same files; dpkg
# overwrites a source install without asking, and purging the package
# removes those files whoever wrote them, so run make install again after
# this script (.ci/run runs this script before test.sh).
#
# The build skips the package's own build-time test (DEB_BUILD_OPTIONS=
# nocheck; debian/rules runs the same suites against the built files) since
# step 4 runs them against the installed files; PKG_BUILD_CHECK=1 runs both.
# PGPORT, if set, is the port of the throwaway cluster (else the first free
# one from 5432 up).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

record=false
[ "${1:-}" = --record ] && record=true

ensure_deps package

work=$(mktemp -d /tmp/durable_sink_pkg.XXXXXX)
trap 'rm -rf "$work"' EXIT

version=$(dpkg-parsechangelog -l "$DS_ROOT/debian/changelog" -S Version)
upstream=${version%-*}
package=postgresql-$PG_MAJOR-durable-sink
deb=${package}_${version}_$(dpkg --print-architecture).deb

# The tree as git would archive it, uncommitted changes included; a copy
# without .git when it is not a git checkout.
export_tree() {
    local dest=$1
    mkdir -p "$dest"
    if git -C "$DS_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$DS_ROOT" ls-files -z --cached --others --exclude-standard |
            (cd "$DS_ROOT" && while IFS= read -r -d '' f; do
                [ -e "$f" ] && printf '%s\0' "$f"
            done) |
            tar -C "$DS_ROOT" --null -T - -cf - | tar -C "$dest" -xf -
    else
        tar -C "$DS_ROOT" --exclude=.git -cf - . | tar -C "$dest" -xf -
    fi
}

# Seconds, to a tenth, since a `date +%s%N` reading.
seconds_since() { awk -v s="$1" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }'; }

export_tree "$work/durable-sink-$upstream"
export_tree "$work/check"

log "building $deb (dpkg-buildpackage -us -uc -b)"
build_options=nocheck
[ "${PKG_BUILD_CHECK:-0}" = 1 ] && build_options=
start=$(date +%s%N)
if ! (cd "$work/durable-sink-$upstream" &&
      DEB_BUILD_OPTIONS="$build_options ${DEB_BUILD_OPTIONS:-}" \
      dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    grep -E '\.\.\. FAILED' "$work/build.log" || true
    tail -n 150 "$work/build.log"
    log "the package build failed"
    exit 1
fi
build_s=$(seconds_since "$start")
size=$(stat -c %s "$work/$deb")
installed_size=$(dpkg-deb -f "$work/$deb" Installed-Size)
grep -E '^(dpkg-deb: building|.*warning:)' "$work/build.log" >&2 || true

# A package left installed by an interrupted run: purge it, so that the
# install below is a real one.
deps_installed "$package" && as_root dpkg --purge "$package" >/dev/null 2>&1

log "installing it (apt-get install ./$deb)"
start=$(date +%s%N)
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "$work/$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
install_s=$(seconds_since "$start")
# Purge the package (a source install's files at the same paths go too).
purge() {
    [ "${KEEP_PACKAGE:-0}" = 1 ] && return
    as_root dpkg --purge "$package" >/dev/null 2>&1
    ! deps_installed "$package" || { log "dpkg --purge left $package installed"; return 1; }
    log "purged $package (KEEP_PACKAGE=1 keeps it)"
}
trap 'rm -rf "$work"; purge' EXIT
deps_installed "$package" || { log "dpkg does not report $package installed"; exit 1; }
# dpkg owns the library, and every installed file is the package's own
# (dpkg --verify: no source install overwrote one since).
owner=$(dpkg -S "/usr/lib/postgresql/$PG_MAJOR/lib/durable_sink.so")
as_root dpkg --verify "$package"
log "dpkg: $package $(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' "$package"); $owner"

log "running the installcheck suites against the installed package (debian/tests/installcheck)"
set +e
(cd "$work/check" && debian/tests/installcheck) >"$work/check.log" 2>&1
status=$?
set -e
as_root dpkg --verify "$package" || status=1
grep -E '^(test |ok |not ok |#* *All |### )|FAILED' "$work/check.log" || true
[ "$status" -eq 0 ] || { log "the installcheck failed:"; tail -n 120 "$work/check.log"; }

passed=$(grep -Ec '\.\.\. ok' "$work/check.log" || true)
failed=$(grep -Ec '\.\.\. FAILED' "$work/check.log" || true)
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1

results="result deb file=$deb bytes=$size installed_size_kib=$installed_size
result build seconds=$build_s (dpkg-buildpackage -us -uc -b, DEB_BUILD_OPTIONS=${build_options:-none})
result install seconds=$install_s (apt-get install ./$deb)
result installcheck passed=$passed failed=$failed (pg_regress + isolation against the installed package)"
echo "$results"
if $record && [ "$status" -eq 0 ]; then
    out=$DS_ROOT/test/bench/results/package-$(date +%F).txt
    {
        echo "# scripts/package.sh --record, $(date -u '+%F %T UTC'), $(nproc) CPUs,"
        echo "# postgresql-$PG_MAJOR $(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR"), $(. /etc/os-release && echo "$PRETTY_NAME")"
        echo "$results"
    } >>"$out"
    log "recorded in ${out#$DS_ROOT/}"
fi
trap 'rm -rf "$work"' EXIT
purge
echo "durable_sink package: $passed passed, $failed failed"
exit "$status"
