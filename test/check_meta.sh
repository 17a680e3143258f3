#!/usr/bin/env bash
# test/check_meta.sh — the package metadata agrees with the tree.
#
#   - META.json is valid JSON (python3 -m json.tool) with the keys the PGXN
#     meta spec 1.0.0 requires, semantic versions, and every file it names
#     (provides.*.file, provides.*.docfile) exists;
#   - its version is the extension's: provides.durable_sink.version is
#     default_version of durable_sink.control as MAJOR.MINOR.0 (the 1.1
#     series is 1.1.x), and its file is that version's install script;
#   - debian/changelog's upstream version is META.json's version, and
#     debian/pgversions names the PostgreSQL major META.json requires.
# Prints each problem and exits 1 if there is any.  Needs python3.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

python3 -m json.tool META.json >/dev/null || { echo "check_meta: META.json is not valid JSON"; exit 1; }

python3 - <<'PY'
import json, os, re, sys

problems = []
meta = json.load(open("META.json"))
semver = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+)?$")

for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    if key not in meta:
        problems.append(f"META.json: required key '{key}' is missing")
if meta.get("meta-spec", {}).get("version") != "1.0.0":
    problems.append("META.json: meta-spec.version is not 1.0.0")

version = meta.get("version", "")
if not semver.match(version):
    problems.append(f"META.json: version '{version}' is not a semantic version")

for name, ext in meta.get("provides", {}).items():
    for key in ("file", "version"):
        if key not in ext:
            problems.append(f"META.json: provides.{name}.{key} is missing")
    if not semver.match(ext.get("version", "")):
        problems.append(f"META.json: provides.{name}.version is not a semantic version")
    for key in ("file", "docfile"):
        if key in ext and not os.path.isfile(ext[key]):
            problems.append(f"META.json: provides.{name}.{key} '{ext[key]}' does not exist")

control = open("durable_sink.control").read()
m = re.search(r"^default_version\s*=\s*'([0-9.]+)'", control, re.M)
ext = meta.get("provides", {}).get("durable_sink", {})
if not m:
    problems.append("durable_sink.control: no default_version")
else:
    default = m.group(1)
    if not ext.get("version", "").startswith(default + "."):
        problems.append(f"META.json: provides.durable_sink.version '{ext.get('version')}'"
                        f" is not in the {default} series (durable_sink.control)")
    if ext.get("file") != f"sql/durable_sink--{default}.sql":
        problems.append(f"META.json: provides.durable_sink.file is not"
                        f" sql/durable_sink--{default}.sql (default_version {default})")

first = open("debian/changelog").readline()
m = re.match(r"^\S+ \(([^)-]+)-[^)]+\)", first)
if not m or m.group(1) != version:
    problems.append(f"debian/changelog: upstream version of '{first.strip()}'"
                    f" is not META.json's {version}")

requires = meta.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL", "")
m = re.match(r"^>= (\d+)\.", requires)
pgversions = [l.strip() for l in open("debian/pgversions") if l.strip() and not l.startswith("#")]
if not m or pgversions != [m.group(1)]:
    problems.append(f"debian/pgversions {pgversions} does not name the PostgreSQL major"
                    f" META.json requires ('{requires}')")

for p in problems:
    print("check_meta: " + p)
if problems:
    sys.exit(1)
print(f"check_meta: META.json {version} agrees with durable_sink.control and debian/")
PY
