# Retention (contract §21) under concurrent writers, and the README's
# pg_cron example.
#
# Eight writers emit observed events on eight threads, record every seq
# they were handed (unique per scope, in their own transaction, so a seq
# handed out twice fails the writer), and roll back one transaction in
# five.  Meanwhile retention deletes everything observed that committed
# before it started (older_than => 0), the scopes' newest events included,
# in small batches, again and again; a consumer follows read_all and one
# follows read() of one thread.  Afterwards: no writer failed, every scope's
# seqs are exactly 1..n (never repeated, never skipped), the consumers got
# strictly increasing positions and seqs, and every event that is still
# stored reached them.
#
# Then the README's "Scheduling retention with pg_cron" block, extracted
# from README.md, runs on a server with pg_cron preloaded; the test waits
# for the job to run and the old events to be gone.
use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $tmp = PostgreSQL::Test::Utils::tempdir();

sub write_file
{
	my ($name, $text) = @_;
	my $path = "$tmp/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh $text;
	close($fh);
	return $path;
}

my $writer = write_file('writer.sql', <<'SQL');
\set t random(1, 8)
\set n random(1, 3)
\set r random(1, 5)
BEGIN;
INSERT INTO handed
SELECT e.thread_id, e.thread_seq, e.run_id, e.run_seq
FROM generate_series(1, :n) g,
     LATERAL durable_sink.emit(jsonb_build_object('event_type', 'text_delta', 'delta', 'd' || g),
                               'ret-t' || :t, 'ret-r' || :t, mode => 'full_fidelity',
                               announce => false) e;
\if :r = 1
ROLLBACK;
\else
COMMIT;
\endif
SQL

my $pruner = write_file('pruner.sql', <<'SQL');
CALL durable_sink.prune_events(older_than => '0 seconds', batch_size => 20);
SQL

my $all_reader = write_file('all_reader.sql', <<'SQL');
INSERT INTO read_all_copy (position, event_id, copied_at)
SELECT position, event_id, clock_timestamp()
FROM durable_sink.read_all((SELECT coalesce(max(position), 0) FROM read_all_copy), 50);
SQL

my $scope_reader = write_file('scope_reader.sql', <<'SQL');
INSERT INTO read_copy (seq, event_id, copied_at)
SELECT seq, event_id, clock_timestamp()
FROM durable_sink.read('thread', 'ret-t1', (SELECT coalesce(max(seq), 0) FROM read_copy), 20);
SQL

sub pgbench
{
	my ($node, $clients, $seconds, $script) = @_;
	my ($out, $err) = ('', '');
	my $run = IPC::Run::start(
		[ 'pgbench', '-n', '-c', $clients, '-j', '2', '-T', $seconds, '-f', $script,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err);
	return { run => $run, out => \$out, err => \$err };
}

# Every failed transaction is an error line; pgbench's own chatter is not.
sub errors_of
{
	my ($bench) = @_;
	$bench->{run}->finish;
	my @errors = grep { /ERROR|FATAL|aborted/ } split /\n/, ${ $bench->{err} };
	return join("\n", @errors);
}

my $node = PostgreSQL::Test::Cluster->new('retention');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'durable_sink,pg_cron'
cron.database_name = 'postgres'
cron.host = '@{[ $node->host ]}'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION durable_sink;
CREATE TABLE handed (thread_id text, thread_seq bigint, run_id text, run_seq bigint,
                     UNIQUE (thread_id, thread_seq), UNIQUE (run_id, run_seq));
CREATE TABLE read_all_copy (position bigint PRIMARY KEY, event_id bigint NOT NULL,
                            copied_at timestamptz NOT NULL);
CREATE TABLE read_copy (seq bigint PRIMARY KEY, event_id bigint NOT NULL,
                        copied_at timestamptz NOT NULL);
SELECT name FROM durable_sink.create_subscription('behind');
});

my $writers = pgbench($node, 8, 8, $writer);
my $pruning = pgbench($node, 1, 8, $pruner);
my $all = pgbench($node, 1, 8, $all_reader);
my $scope = pgbench($node, 1, 8, $scope_reader);
is(errors_of($writers), '', 'no writer failed: no seq was handed out twice');
is(errors_of($pruning), '', 'retention ran without errors');
is(errors_of($all), '', 'the read_all consumer ran without errors');
is(errors_of($scope), '', 'the read consumer ran without errors');

my ($pruned, $heads) = split /\|/, $node->safe_psql('postgres', q{
  SELECT (SELECT sum(events) FROM durable_sink.retention_log),
         (SELECT count(*) FROM durable_sink.scopes WHERE pruned_head > 0)});
cmp_ok($pruned, '>', 1000, "retention deleted events under load ($pruned)");
cmp_ok($heads, '>', 0, "retention deleted scopes' newest events ($heads scopes)");

# Every scope's seqs: exactly 1..n, and the scope's head is n.
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM (
    SELECT thread_id, count(*) AS n, max(thread_seq) AS top FROM handed GROUP BY thread_id
    UNION ALL
    SELECT run_id, count(*), max(run_seq) FROM handed GROUP BY run_id) s
  WHERE n <> top}), '0', 'per-scope seqs are gapless and never repeated');
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM (SELECT thread_id, max(thread_seq) AS top FROM handed GROUP BY thread_id) h
  WHERE top <> (SELECT head_seq FROM durable_sink.retained_range('thread', h.thread_id))}),
	'0', 'retained_range reports every head');
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM durable_sink.events e
  WHERE NOT EXISTS (SELECT FROM handed h WHERE h.thread_id = e.thread_id AND h.thread_seq = e.thread_seq)}),
	'0', 'every stored event was handed to a committed writer');

# The consumers: strictly increasing in copy order, and every retained
# event reached them (catch up first).
$node->safe_psql('postgres', q{
  INSERT INTO read_all_copy (position, event_id, copied_at)
  SELECT position, event_id, clock_timestamp()
  FROM durable_sink.read_all((SELECT coalesce(max(position), 0) FROM read_all_copy), 1000000);
  INSERT INTO read_copy (seq, event_id, copied_at)
  SELECT seq, event_id, clock_timestamp()
  FROM durable_sink.read('thread', 'ret-t1', (SELECT coalesce(max(seq), 0) FROM read_copy), 1000000);});
is($node->safe_psql('postgres', q{
  SELECT (SELECT count(*) FROM (SELECT position, lag(position) OVER (ORDER BY copied_at, position) AS prev
                                FROM read_all_copy) o WHERE prev >= position)
       + (SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY copied_at, seq) AS prev
                                FROM read_copy) o WHERE prev >= seq)}),
	'0', 'read_all and read resume across the holes in increasing order');
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM durable_sink.events e
  WHERE NOT EXISTS (SELECT FROM read_all_copy c WHERE c.event_id = e.event_id)
     OR (e.thread_id = 'ret-t1' AND NOT EXISTS (SELECT FROM read_copy c WHERE c.event_id = e.event_id))}),
	'0', 'every retained event reached the consumers');

# The subscription from the start is behind the deletions: a clear error.
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM durable_sink.poll('behind')});
like($err, qr/subscription "behind" is behind the retained range of the feed/,
	'a subscription behind the pruned range gets an error');
like($err, qr/accept_pruned/, 'the error says how to continue');

# ------------------------------------------------------------- pg_cron
# The README's example, verbatim but for the schedule: pg_cron 1.4
# (Debian 12) knows no seconds, so the job runs at the next minute.
my $readme = dirname(__FILE__) . '/../../README.md';
open(my $fh, '<', $readme) or die "could not read $readme: $!";
my ($section, $block, $example) = (0, 0, '');
while (my $line = <$fh>)
{
	$section = 1 if $line =~ /^### Scheduling retention with pg_cron/;
	next unless $section;
	last if $block && $line =~ /^```$/;
	$example .= $line if $block;
	$block = 1 if $line =~ /^```sql$/;
}
close($fh);
like($example, qr/cron\.schedule/, 'the README has a pg_cron example');
my $replaced = ($example =~ s/'\d+ \* \* \* \*'/'* * * * *'/g);
is($replaced, 3, 'the example schedules three jobs hourly (here: every minute)');

$node->safe_psql('postgres', q{
  TRUNCATE handed;
  SELECT count(*) FROM generate_series(1, 5) g,
    LATERAL durable_sink.emit(jsonb_build_object('event_type', 'text_delta', 'delta', 'old' || g),
                              'cron-t', 'cron-r', mode => 'full_fidelity') e;
  SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":1}', 'cron-t', 'cron-r');
  UPDATE durable_sink.events SET created_at = now() - interval '2 days' WHERE thread_id = 'cron-t';
  UPDATE durable_sink.capture_failures SET failed_at = now() - interval '60 days';
  INSERT INTO durable_sink.live_frames (created_at, frame) VALUES (now() - interval '2 days', '{}');
  SELECT count(*) FROM durable_sink.emit('{"event_type":"text_delta","delta":"new"}', 'cron-t', 'cron-r',
                                         mode => 'full_fidelity');
  CREATE EXTENSION pg_cron;});
$node->safe_psql('postgres', $example);
$node->poll_query_until('postgres', q{
  SELECT (SELECT count(*) FROM durable_sink.events WHERE thread_id = 'cron-t') = 1
     AND NOT EXISTS (SELECT FROM durable_sink.capture_failures)
     AND NOT EXISTS (SELECT FROM durable_sink.live_frames)}, 't')
  or diag($node->safe_psql('postgres', 'SELECT * FROM cron.job_run_details'));
is($node->safe_psql('postgres', q{
  SELECT string_agg(payload->>'delta' || ':' || thread_seq, ',') FROM durable_sink.events WHERE thread_id = 'cron-t'}),
	'new:6', 'the scheduled retention deleted the old events; the new one stays, after the pruned head');
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM cron.job_run_details WHERE status = 'failed'}), '0',
	'no scheduled run failed');

$node->stop;
done_testing();
