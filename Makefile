# durable_sink — PGXS build.  `make && make install`, then `make installcheck`
# against a running server (scripts/test.sh does all of it on a fresh box).

EXTENSION   = durable_sink
MODULE_big  = durable_sink
OBJS        = src/module.o src/normalize.o src/event_validate.o src/event_mapping.o \
              src/draft.o src/durability.o src/run_state.o src/compaction.o \
              src/compaction_state.o src/state_access.o src/text_util.o src/store.o src/sink.o \
              src/announce.o src/announcer.o src/capture.o src/capture_partitions.o src/feed.o \
              src/xact_list.o src/stats.o src/backfill.o src/retention.o src/state_write.o
DATA        = sql/durable_sink--1.0.sql sql/durable_sink--1.1.sql sql/durable_sink--1.0--1.1.sql \
              durable_sink--1.0.control
PGFILEDESC  = "durable_sink - durable capture of agent-runtime events"

# pg_regress suites: test/sql/<name>.sql against test/expected/<name>.out.
# They share one database and pass in any order, or alone: each uses thread
# and run ids of its own and looks only at its own rows, never TRUNCATEs the
# store and shows ids relative to its own first (store, emit, feed); one that
# needs an empty store uses a database of its own (roles, edge_cases, feed).
# Output goes to test/results/, test/regression.diffs and
# test/regression.out; a suite that writes files of its own puts them under
# $PG_ABS_BUILDDIR/results (pg_regress sets it to the --outputdir).
REGRESS     = mapping validation drafts run_lifecycle permission compaction encoding \
              transactions privileges store emit capture partitions listen extension_schema \
              roles edge_cases cancel srf_call_styles feed capture_ddl user_suite monitoring backfill retention
REGRESS_OPTS = --inputdir=test --outputdir=test --load-extension=durable_sink

# isolation specs: test/specs/<name>.spec against test/expected/<name>.out,
# output in output_iso/
ISOLATION   = run_start_race compaction_race append_race idempotency_race \
              emit_run_start_race lock_order held_snapshot feed_skip feed_pollers \
              feed_rollback retention_race claim_deadlock
ISOLATION_OPTS = --inputdir=test --load-extension=durable_sink

# Both kinds share test/expected: a name in both lists would compare two
# different outputs against one file.
ifneq ($(filter $(REGRESS),$(ISOLATION)),)
$(error REGRESS and ISOLATION share a name: $(filter $(REGRESS),$(ISOLATION)))
endif

EXTRA_CLEAN = test/results/ test/regression.diffs test/regression.out

# TAP tests (PostgreSQL::Test::Cluster): crash and restart behaviour
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

# PostgreSQL's headers are system headers here so -Wextra judges only our code.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS   = -Wall -Wextra $(EXTRA_CFLAGS)

# Export only the SQL entry points (durable_sink_*, their pg_finfo_ records),
# Pg_magic_func and _PG_init: PostgreSQL 15 loads libraries with RTLD_GLOBAL,
# so generic helper names (sha256_hex, text_trim, ...) could collide with
# another extension's.  A version script, because PG15's PGDLLEXPORT has no
# visibility attribute on Linux: -fvisibility=hidden would hide the entry
# points too.  SHLIB_LINK is what reaches MODULE_big's link line
# (Makefile.shlib: $(LINK.shared) -o $@ $(OBJS) $(LDFLAGS) $(LDFLAGS_SL)
# $(SHLIB_LINK)).  test/check_exports.sh (run by scripts/test.sh) checks it.
EXPORTS_MAP = src/exports.map
SHLIB_LINK  = -Wl,--version-script=$(srcdir)/$(EXPORTS_MAP)

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header changes.
$(OBJS): $(wildcard src/*.h)

# Relink when the export list changes.
$(shlib): $(EXPORTS_MAP)

# The TAP tests start their own servers, which refuse to run as root: as
# root, stop before any suite runs instead of failing after pg_regress.
# `make installcheck TAP_TESTS=` runs only the pg_regress and isolation
# suites, which root may run (debian/rules, debian/tests/installcheck).
ifdef TAP_TESTS
installcheck: installcheck-not-root
endif
.PHONY: installcheck-not-root
installcheck-not-root:
	@if [ "$$(id -u)" -eq 0 ]; then \
	    echo "make installcheck: the TAP tests (test/t) cannot run as root: PostgreSQL refuses to start a server as root." >&2; \
	    echo "Run it as the postgres user or another non-root user (e.g. runuser -u postgres -- make installcheck, on a checkout that user can write to), or run scripts/test.sh as root, which does that for you." >&2; \
	    exit 1; \
	fi
