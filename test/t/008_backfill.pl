# durable_sink.backfill() interrupted three ways — cancelled, its backend
# terminated, the server stopped immediately (a crash) — and re-run each
# time: whatever committed is exactly the raw rows up to the last committed
# ordering value, and the final state has every raw row captured exactly
# once (valid ones in the store, rejected ones in capture_failures), with
# seqs following the ordering column within each stream (contract §22).
# Also: the per-batch NOTICE, the progress view seen from another session
# while it runs, and a second concurrent backfill of the table refused.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('backfill');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'");
$node->start;

# 100,000 raw rows over 50 streams, ids in an order unlike the physical one
# (ids interleave two inserts); every 97th is rejected.  full_fidelity: each
# valid raw row yields exactly one canonical row, tagged with its id.
my $rows = 100_000;
$node->safe_psql('postgres', qq{
CREATE EXTENSION durable_sink;
CREATE TABLE raw (id bigint PRIMARY KEY, thread_id text NOT NULL, run_id text NOT NULL,
                  event jsonb, tag text GENERATED ALWAYS AS ('r:' || id) STORED);
INSERT INTO raw (id, thread_id, run_id, event)
SELECT g, 't' || g % 50, 'r' || g % 50,
       CASE WHEN g % 97 = 0 THEN '{"event_type":"text_delta"}'::jsonb
            WHEN g % 3 = 0 THEN jsonb_build_object('event_type', 'error', 'message', 'e' || g)
            ELSE jsonb_build_object('event_type', 'text_delta', 'delta', 'd' || g) END
FROM generate_series(1, $rows) g ORDER BY g % 2, g;
});

my $call = q{CALL durable_sink.backfill('raw', 'event', 'thread_id', 'run_id', 'bf', 'id',
  mode => 'full_fidelity', correlation_id_column => 'tag', batch_size => 1000)};

# Start the backfill in a session of its own.
sub start_backfill
{
	my %h = (out => '', err => '');
	$h{run} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c', $call ],
		'>', \$h{out}, '2>', \$h{err});
	return \%h;
}

# Wait until the committed progress shows at least $n rows done and the
# backfill running; its pid.
sub wait_for_progress
{
	my ($n) = @_;
	$node->poll_query_until('postgres',
		"SELECT running AND rows_done >= $n FROM durable_sink.backfill_progress WHERE raw_table = 'public.raw'")
	  or die "backfill did not reach $n rows";
	return $node->safe_psql('postgres',
		"SELECT pid FROM durable_sink.backfill_progress WHERE raw_table = 'public.raw'");
}

# What is committed matches the backfill's recorded state exactly: every raw
# row up to last_value once (in the store or in capture_failures), nothing
# after it.
sub check_committed
{
	my ($label) = @_;
	my $state = $node->safe_psql('postgres', q{
	  WITH b AS (SELECT last_value::bigint AS last, rows_done, rows_failed, finished_at IS NOT NULL AS finished
	             FROM durable_sink.backfills WHERE raw_table = 'public.raw'),
	       e AS (SELECT substr(correlation_id, 3)::bigint AS id FROM durable_sink.events
	             WHERE origin = 'bf'),
	       f AS (SELECT 1 FROM durable_sink.capture_failures WHERE source_table = 'public.raw')
	  SELECT b.last IS NOT NULL AND b.last < } . $rows . q{ AND NOT b.finished,
	         b.rows_done = (SELECT count(*) FROM raw WHERE id <= b.last),
	         (SELECT count(*) FROM e) = (SELECT count(*) FROM raw WHERE id <= b.last AND id % 97 <> 0),
	         (SELECT count(DISTINCT id) FROM e) = (SELECT count(*) FROM e),
	         (SELECT coalesce(max(id), 0) FROM e) <= b.last,
	         b.rows_failed = (SELECT count(*) FROM f),
	         (SELECT count(*) FROM f) = (SELECT count(*) FROM raw WHERE id <= b.last AND id % 97 = 0)
	  FROM b});
	is($state, 't|t|t|t|t|t|t', "$label: committed batches are exactly the rows up to the last value, once");
	return $node->safe_psql('postgres',
		"SELECT last_value FROM durable_sink.backfills WHERE raw_table = 'public.raw'");
}

# 1. Cancel.  While it runs: the view shows it running, with its pid, and a
# second backfill of the table is refused.
my $bf = start_backfill();
my $pid = wait_for_progress(5_000);
like($pid, qr/^\d+$/, 'the view shows the running backfill with its pid');
my ($ok, $stdout, $stderr) = $node->psql('postgres', $call);
like($stderr, qr/a backfill of public\.raw is already running/, 'a second backfill of the table is refused');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$bf->{run}->finish;
like($bf->{err}, qr/canceling statement due to user request/, 'the backfill was cancelled');
like($bf->{err},
	qr/NOTICE:  durable_sink: backfill of public\.raw: \d+ of $rows rows \(\d+\.\d%\), \d+ rows\/s, about \d+\.\d s left/,
	'a NOTICE per batch: rows done, rows per second, time left');
my $last1 = check_committed('after a cancel');
is($node->safe_psql('postgres', "SELECT running FROM durable_sink.backfill_progress"),
	'f', 'a cancelled backfill is not shown running');

# 2. Terminate the backend of the re-run.
$bf = start_backfill();
$pid = wait_for_progress($last1 + 5_000);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$bf->{run}->finish;
my $last2 = check_committed('after pg_terminate_backend');
cmp_ok($last2, '>', $last1, 'the re-run continued after the cancelled one');

# 3. Crash (immediate stop) in the middle of the next re-run.
$bf = start_backfill();
wait_for_progress($last2 + 5_000);
$node->stop('immediate');
$bf->{run}->finish;
$node->start;
my $last3 = check_committed('after a crash');
cmp_ok($last3, '>', $last2, 'the re-run continued after the terminated one');

# 4. Run to the end: every raw row exactly once, seqs in id order per stream.
$bf = start_backfill();
$bf->{run}->finish;
like($bf->{err}, qr/backfill of public\.raw is complete: $rows rows, \d+ not captured/, 'the backfill completes');
is( $node->safe_psql('postgres', q{
  WITH e AS (SELECT thread_id, thread_seq, run_seq, substr(correlation_id, 3)::bigint AS id
             FROM durable_sink.events WHERE origin = 'bf')
  SELECT (SELECT count(*) FROM e) = (SELECT count(*) FROM raw WHERE id % 97 <> 0),
         (SELECT count(DISTINCT id) FROM e) = (SELECT count(*) FROM e),
         (SELECT count(*) FROM raw JOIN e USING (id)) = (SELECT count(*) FROM e),
         (SELECT count(*) FROM durable_sink.capture_failures WHERE source_table = 'public.raw')
           = (SELECT count(*) FROM raw WHERE id % 97 = 0),
         (SELECT bool_and(ordered) FROM (
            SELECT id > lag(id) OVER (PARTITION BY thread_id ORDER BY thread_seq)
                   AND thread_seq = lag(thread_seq) OVER (PARTITION BY thread_id ORDER BY thread_seq) + 1
                   AND run_seq = lag(run_seq) OVER (PARTITION BY thread_id ORDER BY thread_seq) + 1 AS ordered
            FROM e) s WHERE ordered IS NOT NULL),
         (SELECT bool_and(thread_seq = 1 AND run_seq = 1) FROM (
            SELECT DISTINCT ON (thread_id) thread_seq, run_seq FROM e ORDER BY thread_id, id) f)}),
	't|t|t|t|t|t',
	'every raw row captured exactly once; seqs gapless and in id order in every stream');
is( $node->safe_psql('postgres', q{
  SELECT rows_done, rows_total, percent_done, running, time_left FROM durable_sink.backfill_progress}),
	"$rows|$rows|100.0|f|00:00:00", 'the view shows it complete');

$node->stop;
done_testing();
