# durable_sink — PGXS build.  `make && make install`, then `make installcheck`
# against a running server (scripts/test.sh does all of it on a fresh box).

EXTENSION   = durable_sink
MODULE_big  = durable_sink
OBJS        = src/module.o src/normalize.o src/event_validate.o src/event_mapping.o \
              src/draft.o src/run_state.o src/compaction.o \
              src/state_access.o src/text_util.o src/store.o src/sink.o \
              src/announce.o src/capture.o src/capture_partitions.o
DATA        = sql/durable_sink--1.0.sql sql/durable_sink--1.1.sql sql/durable_sink--1.0--1.1.sql \
              durable_sink--1.0.control
PGFILEDESC  = "durable_sink - durable capture of agent-runtime events"

# pg_regress suites: sql/<name>.sql against expected/<name>.out
REGRESS     = mapping validation drafts run_lifecycle permission compaction encoding \
              transactions privileges store emit capture partitions listen edge_cases
REGRESS_OPTS = --load-extension=durable_sink

# isolation specs: test/specs/<name>.spec against test/expected/<name>.out
ISOLATION   = run_start_race compaction_race append_race idempotency_race \
              emit_run_start_race lock_order
ISOLATION_OPTS = --inputdir=test --load-extension=durable_sink

# TAP tests (PostgreSQL::Test::Cluster): crash and restart behaviour
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

# PostgreSQL's headers are system headers here so -Wextra judges only our code.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS   = -Wall -Wextra $(EXTRA_CFLAGS)

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header changes.
$(OBJS): $(wildcard src/*.h)
