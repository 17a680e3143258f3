# Crash in the middle of a multi-session capture load (immediate stop),
# restart, and check that every committed raw row has exactly its canonical
# rows, every scope is gapless, and nothing from an uncommitted transaction
# is visible.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# The feed's shared memory (contract §19) needs the library preloaded.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'");
$node->start;

# Two raw tables, one per trigger kind.  full_fidelity: every valid raw row
# yields exactly one canonical row, tagged with the raw row's id through the
# correlation_id column.
$node->safe_psql('postgres', q{
CREATE EXTENSION durable_sink;
CREATE TABLE raw_row (id bigserial PRIMARY KEY, thread_id text NOT NULL, run_id text NOT NULL,
                      event jsonb, tag text GENERATED ALWAYS AS ('row:' || id) STORED);
CREATE TABLE raw_stmt (id bigserial PRIMARY KEY, thread_id text NOT NULL, run_id text NOT NULL,
                       event jsonb, tag text GENERATED ALWAYS AS ('stmt:' || id) STORED);
CREATE TRIGGER capture AFTER INSERT ON raw_row FOR EACH ROW
  EXECUTE FUNCTION durable_sink.capture('event', 'thread_id', 'run_id', 'load', 'full_fidelity', 'tag');
CREATE TRIGGER capture AFTER INSERT ON raw_stmt REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'load', 'full_fidelity', 'tag');
});

# Each transaction writes a burst of one stream (thread tN, run rN) into
# both tables: text deltas, an error event, and now and then a bad event
# that must land in capture_failures instead.
my $script = PostgreSQL::Test::Utils::tempdir() . '/load.sql';
open(my $fh, '>', $script) or die "could not write $script: $!";
print $fh <<'SQL';
\set t random(1, 12)
\set bad random(0, 9)
BEGIN;
INSERT INTO raw_row (thread_id, run_id, event)
  SELECT 't' || :t, 'r' || :t,
         CASE WHEN g = 3 AND :bad = 0 THEN '"not an event"'::jsonb
              WHEN g = 4 THEN jsonb_build_object('event_type', 'error', 'message', 'e' || g)
              ELSE jsonb_build_object('event_type', 'text_delta', 'delta', repeat('x', g)) END
  FROM generate_series(1, 6) g;
INSERT INTO raw_stmt (thread_id, run_id, event)
  SELECT 't' || :t, 'r' || :t,
         CASE WHEN g = 2 AND :bad = 1 THEN '{"event_type":"text_delta"}'::jsonb
              ELSE jsonb_build_object('event_type', 'text_delta', 'delta', repeat('y', g)) END
  FROM generate_series(1, 8) g;
COMMIT;
SQL
close($fh);

my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '6', '-j', '2', '-T', '60', '-f', $script,
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);

# Let the load run, then crash the server while sessions are mid-transaction.
$node->poll_query_until('postgres', 'SELECT count(*) >= 3000 FROM raw_row')
  or die 'the capture load did not start';
$node->stop('immediate');
$load->finish;
like($err, qr/(terminat|server closed|connection)/i, 'the load was cut off by the crash');

$node->start;

my $raw_rows = $node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM raw_row) + (SELECT count(*) FROM raw_stmt)');
cmp_ok($raw_rows, '>', 3000, "committed raw rows survived the crash ($raw_rows)");

# Every committed valid raw row has exactly one canonical row.
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM (
    SELECT r.tag FROM (SELECT tag, event FROM raw_row UNION ALL SELECT tag, event FROM raw_stmt) r
    LEFT JOIN durable_sink.events e ON e.correlation_id = r.tag
    WHERE jsonb_typeof(r.event) = 'object' AND r.event ? 'delta' OR r.event->>'event_type' = 'error'
    GROUP BY r.tag HAVING count(e.event_id) <> 1) wrong}),
	'0', 'every committed raw row has exactly its canonical row');

# No canonical row without a committed raw row: nothing uncommitted is visible.
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM durable_sink.events e
  WHERE NOT EXISTS (SELECT 1 FROM raw_row r WHERE r.tag = e.correlation_id)
    AND NOT EXISTS (SELECT 1 FROM raw_stmt r WHERE r.tag = e.correlation_id)}),
	'0', 'no canonical row of an uncommitted transaction');

# Each rejected raw row is in capture_failures exactly once.
is($node->safe_psql('postgres', q{
  SELECT (SELECT count(*) FROM raw_row WHERE jsonb_typeof(event) <> 'object')
       + (SELECT count(*) FROM raw_stmt WHERE NOT event ? 'delta')
       = (SELECT count(*) FROM durable_sink.capture_failures)}),
	't', 'each rejected raw row recorded once');

# Every scope is gapless: its seqs are exactly 1..count (unique by index).
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM durable_sink.scopes s
  LEFT JOIN LATERAL (
    SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM (
      SELECT e.thread_seq AS seq FROM durable_sink.events e
      WHERE s.scope_type = 'thread' AND e.thread_scope = s.scope_no
      UNION ALL
      SELECT e.run_seq FROM durable_sink.events e
      WHERE s.scope_type = 'run' AND e.run_scope = s.scope_no) x) c ON true
  WHERE c.n = 0 OR c.lo <> 1 OR c.hi <> c.n}),
	'0', 'every scope is gapless');

# Within one transaction, the rows of a thread got increasing seqs in
# insertion order, and the transactions' seq ranges do not interleave.
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM (
    SELECT e.thread_seq,
           lag(e.thread_seq) OVER (PARTITION BY e.thread_id, r.xmin::text ORDER BY r.id) AS prev
    FROM raw_row r JOIN durable_sink.events e ON e.correlation_id = r.tag) x
  WHERE prev >= thread_seq}),
	'0', 'rows of one transaction got increasing seqs in insertion order');
is($node->safe_psql('postgres', q{
  WITH ranges AS (
    SELECT e.thread_id, r.xmin::text AS tx, min(e.thread_seq) AS lo, max(e.thread_seq) AS hi
    FROM (SELECT xmin, tag FROM raw_row UNION ALL SELECT xmin, tag FROM raw_stmt) r
    JOIN durable_sink.events e ON e.correlation_id = r.tag GROUP BY 1, 2)
  SELECT count(*) FROM ranges a JOIN ranges b
    ON a.thread_id = b.thread_id AND a.tx < b.tx AND a.lo <= b.hi AND b.lo <= a.hi}),
	'0', 'each transaction holds one contiguous seq range per thread');

# Capture goes on after the restart, continuing each scope's sequence.
$node->safe_psql('postgres', q{
  INSERT INTO raw_row (thread_id, run_id, event) VALUES ('t1', 'r1', '{"event_type":"error","message":"after"}')});
is($node->safe_psql('postgres', q{
  SELECT e.thread_seq = (SELECT count(*) FROM durable_sink.events WHERE thread_id = 't1')
  FROM durable_sink.events e WHERE e.payload->>'message' = 'after'}),
	't', 'capture continues after the restart');

$node->stop;
done_testing();
