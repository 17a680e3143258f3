# The feed (contract §19) survives a crash: a poller that copies read_all
# into a table (in the same transaction as it reads, like a projection)
# runs next to eight writers; the server is stopped immediately in the
# middle; after the restart the poller catches up.  Its copy must then hold
# every stored event exactly once, in strictly increasing positions, and new
# positions must continue above every position handed out before the crash.
# Then the same guarantees without shared_preload_libraries (the lock mode).
use strict;
use warnings;

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

# Writers: two to four events per transaction, on 16 threads.
my $writer = write_file('writer.sql', <<'SQL');
\set t random(1, 16)
\set n random(2, 4)
BEGIN;
SELECT count(*) FROM generate_series(1, :n) g,
  LATERAL durable_sink.emit(jsonb_build_object('event_type', 'error', 'message', 'm' || g),
                            'feed-t' || :t, 'feed-r' || :t, announce => false) e;
COMMIT;
SQL

# The poller: reads after the last position it copied, in one transaction.
my $poller = write_file('poller.sql', <<'SQL');
INSERT INTO polled (position, event_id, copied_at)
SELECT position, event_id, clock_timestamp()
FROM durable_sink.read_all((SELECT coalesce(max(position), 0) FROM polled), 500);
SQL

my $check = q{
SELECT (SELECT count(*) FROM durable_sink.events) AS events,
       (SELECT count(*) FROM polled) AS polled,
       (SELECT count(*) FROM (SELECT event_id FROM polled GROUP BY event_id HAVING count(*) > 1) d) AS duplicates,
       (SELECT count(*) FROM durable_sink.events e WHERE NOT EXISTS (SELECT FROM polled p WHERE p.event_id = e.event_id)) AS missing,
       (SELECT count(*) FROM polled p WHERE NOT EXISTS (SELECT FROM durable_sink.feed f WHERE f.position = p.position AND f.event_id = p.event_id)) AS wrong,
       (SELECT count(*) FROM (SELECT position, lag(position) OVER (ORDER BY copied_at, position) AS prev FROM polled) o
        WHERE prev >= position) AS out_of_order};

# Catch up: poll until a poll copies nothing and the horizon is the last position.
sub catch_up
{
	my ($node) = @_;
	for my $i (1 .. 1000)
	{
		my $copied = $node->safe_psql('postgres', q{
		  WITH c AS (INSERT INTO polled (position, event_id, copied_at)
		             SELECT position, event_id, clock_timestamp()
		             FROM durable_sink.read_all((SELECT coalesce(max(position), 0) FROM polled), 5000)
		             RETURNING 1)
		  SELECT count(*) FROM c});
		return if $copied == 0;
	}
	die 'the poller did not catch up';
}

sub run_load
{
	my ($node, $seconds, $clients) = @_;
	$clients //= 8;
	my ($wout, $werr, $pout, $perr) = ('', '', '', '');
	my $writers = IPC::Run::start(
		[ 'pgbench', '-n', '-c', $clients, '-j', '2', '-T', $seconds, '-f', $writer,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$wout, '2>', \$werr);
	my $polling = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '1', '-T', $seconds, '-f', $poller,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$pout, '2>', \$perr);
	return ($writers, $polling, \$werr);
}

my $setup = q{
CREATE EXTENSION durable_sink;
CREATE TABLE polled (position bigint PRIMARY KEY, event_id bigint NOT NULL, copied_at timestamptz NOT NULL);
};

# --------------------------------------------------------------- crash
my $node = PostgreSQL::Test::Cluster->new('feed');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'");
$node->start;
$node->safe_psql('postgres', $setup);
is($node->safe_psql('postgres', 'SELECT mode FROM durable_sink.feed_status()'),
	'shared_memory', 'preloaded: the shared-memory mode');

# No skip under load: 16 writers commit all the time, so commits keep
# finishing while others register; the poller must still get everything.
my ($writers, $polling, $werr) = run_load($node, 10, 16);
$writers->finish;
$polling->finish;
catch_up($node);
my ($events, $polled, $duplicates, $missing, $wrong, $out_of_order) =
  split /\|/, $node->safe_psql('postgres', $check);
cmp_ok($events, '>', 1000, "events were stored under load ($events)");
is("$polled $duplicates $missing $wrong $out_of_order", "$events 0 0 0 0",
	'under load: the poller has every event once, in increasing positions');

# The crash: the same, stopped in the middle.
$node->safe_psql('postgres', 'TRUNCATE polled');
($writers, $polling, $werr) = run_load($node, 60);
$node->poll_query_until('postgres', 'SELECT count(*) >= 500 FROM polled')
  or die 'the poller did not start';
$node->stop('immediate');
$writers->finish;
$polling->finish;
like($$werr, qr/(terminat|server closed|connection)/i, 'the writers were cut off by the crash');

$node->start;
my $before = $node->safe_psql('postgres', 'SELECT max(position) FROM polled');
catch_up($node);
($events, $polled, $duplicates, $missing, $wrong, $out_of_order) =
  split /\|/, $node->safe_psql('postgres', $check);
cmp_ok($events, '>', 500, "events were stored before the crash ($events)");
is($polled, $events, 'after the restart the poller has every stored event');
is("$duplicates $missing $wrong $out_of_order", '0 0 0 0',
	'no event twice, none missing, every position as in the feed, positions strictly increasing');

# New positions continue above everything handed out before the crash.
$node->safe_psql('postgres', q{
  SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"after"}', 'feed-after', 'feed-after', announce => false)});
catch_up($node);
is($node->safe_psql('postgres', qq{
  SELECT p.position > $before AND p.position > (SELECT max(position) FROM polled WHERE event_id <> e.event_id)
  FROM durable_sink.events e JOIN polled p USING (event_id) WHERE e.thread_id = 'feed-after'}),
	't', 'positions continue after the restart and never repeat');
$node->stop;

# ----------------------------------------------------------- lock mode
# Without the preloaded library: the same guarantees, commits serialized.
my $plain = PostgreSQL::Test::Cluster->new('feed_lock');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', $setup);
is($plain->safe_psql('postgres', 'SELECT mode FROM durable_sink.feed_status()'),
	'lock', 'not preloaded: the lock mode, reported by feed_status()');
($writers, $polling, $werr) = run_load($plain, 5);
$writers->finish;
$polling->finish;
catch_up($plain);
($events, $polled, $duplicates, $missing, $wrong, $out_of_order) =
  split /\|/, $plain->safe_psql('postgres', $check);
cmp_ok($events, '>', 100, "events were stored in the lock mode ($events)");
is("$polled $duplicates $missing $wrong $out_of_order", "$events 0 0 0 0",
	'lock mode: the poller has every event once, in increasing positions');
$plain->stop;

done_testing();
