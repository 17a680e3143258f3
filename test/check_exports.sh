#!/usr/bin/env bash
# test/check_exports.sh [LIBRARY] — durable_sink.so exports only its entry points.
#
# PostgreSQL 15 loads extension libraries with RTLD_GLOBAL, so an exported
# helper (sha256_hex, text_trim, ...) can collide with another extension's
# symbol.  The library may export exactly:
#   - each function declared with PG_FUNCTION_INFO_V1 in src/*.c, and its
#     pg_finfo_ record,
#   - each background worker entry point (declared "PGDLLEXPORT void
#     durable_sink_..._main(Datum" in src/*.c), which the postmaster looks
#     up by name,
#   - Pg_magic_func (PG_MODULE_MAGIC) and _PG_init.
# Anything else exported, or any of these missing, is printed and the script
# exits 1.  src/exports.map (the linker version script) is what keeps the
# rest local.  LIBRARY defaults to the build in the source tree.  Needs nm
# (binutils).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
library=${1:-$root/durable_sink.so}

command -v nm >/dev/null || { echo "check_exports: needs nm (binutils)" >&2; exit 1; }
if [ ! -f "$library" ]; then
    echo "check_exports: no library $library (build first)" >&2
    exit 1
fi

# The entry points the SQL scripts may name, from the C sources.
expected() {
    local name
    sed -n 's/^PG_FUNCTION_INFO_V1(\([A-Za-z_][A-Za-z0-9_]*\));.*/\1/p' "$root"/src/*.c |
        while read -r name; do
            echo "$name"
            echo "pg_finfo_$name"
        done
    sed -n 's/^PGDLLEXPORT void \(durable_sink_[A-Za-z0-9_]*_main\)(Datum.*/\1/p' "$root"/src/*.c
    echo Pg_magic_func
    echo _PG_init
}

# Every defined dynamic symbol.  Absolute symbols (type A) are version-node
# names a version script may define, not code or data.
exported() {
    nm -D --defined-only "$library" | awk '$2 != "A" { print $3 }'
}

want=$(expected | LC_ALL=C sort -u)
have=$(exported | LC_ALL=C sort -u)
extra=$(LC_ALL=C comm -13 <(echo "$want") <(echo "$have"))
missing=$(LC_ALL=C comm -23 <(echo "$want") <(echo "$have"))

if [ -n "$extra" ]; then
    echo "check_exports: $library exports $(echo "$extra" | wc -l) symbol(s) that are not SQL entry points:"
    echo "$extra" | sed 's/^/    /'
fi
if [ -n "$missing" ]; then
    echo "check_exports: $library does not export $(echo "$missing" | wc -l) entry point(s):"
    echo "$missing" | sed 's/^/    /'
fi
[ -z "$extra" ] && [ -z "$missing" ] || exit 1
echo "check_exports: $library exports only its $(echo "$want" | wc -l) entry points"
