# Monitoring (contract §23) where pg_regress cannot look:
#  - without shared_preload_libraries nothing is counted: durable_sink.stats
#    is empty and says why in a NOTICE, stats_reset() fails with 55000, and
#    feed_latency (lock mode) names a prepared transaction that holds the
#    feed's lock, without waiting for that lock;
#  - with the library preloaded, counters are per database and start again
#    at zero when the server restarts.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $emit = q{SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"m"}', 't1', 'r1', announce => false)};
my $emitted = q{SELECT calls || '/' || events_appended FROM durable_sink.stats WHERE entry_point = 'emit'};

my $node = PostgreSQL::Test::Cluster->new('monitoring');
$node->init;
$node->append_conf('postgresql.conf', "max_prepared_transactions = 4");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION durable_sink');

# --- not preloaded
$node->safe_psql('postgres', $emit);
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM durable_sink.stats');
is($stdout, '0', 'without preload: the stats view is empty');
like($stderr, qr/NOTICE:  durable_sink keeps counters only when it is in shared_preload_libraries/,
	'without preload: a NOTICE says why');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT durable_sink.stats_reset()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  55000: durable_sink keeps counters only when/,
	'without preload: stats_reset() fails with 55000');

is($node->safe_psql('postgres',
		'SELECT mode, positions_pending, committing_transactions, holding_xid IS NULL FROM durable_sink.feed_latency'),
	'lock|0|0|t', 'lock mode: nothing committing');
$node->safe_psql('postgres', "BEGIN; $emit; PREPARE TRANSACTION 'held';");
# the view must not wait for the lock the prepared transaction holds
is($node->safe_psql('postgres', q{
	SET statement_timeout = '20s';
	SELECT committing_transactions, holding_prepared,
	       holding_xid = (SELECT transaction FROM pg_prepared_xacts WHERE gid = 'held'),
	       holding_age >= '0'::interval, horizon IS NULL, positions_pending IS NULL,
	       newest_readable_position IS NULL
	FROM durable_sink.feed_latency}),
	'1|t|t|t|t|t|t', 'lock mode: the prepared transaction holding the feed lock is named, without waiting');
is($node->safe_psql('postgres', 'SELECT count(*) FROM durable_sink.feed_transactions()'),
	'0', 'lock mode: no registered transactions');
$node->safe_psql('postgres', "COMMIT PREPARED 'held'");

# --- preloaded: per database, since server start
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'");
$node->restart;
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION durable_sink');
$node->safe_psql('postgres', $emit) for 1 .. 3;
$node->safe_psql('other', $emit);
is($node->safe_psql('postgres', $emitted), '3/3', 'counted in its own database');
is($node->safe_psql('other', $emitted), '1/1', 'each database counts its own');
$node->safe_psql('other', 'SELECT durable_sink.stats_reset()');
is($node->safe_psql('other', $emitted), '0/0', 'a reset zeroes its own database');
is($node->safe_psql('postgres', $emitted), '3/3', 'and no other');

$node->restart;
is($node->safe_psql('postgres', $emitted), '0/0', 'counters start again at server start');
is($node->safe_psql('postgres', 'SELECT mode FROM durable_sink.feed_latency'),
	'shared_memory', 'preloaded: shared-memory mode');

$node->stop;
done_testing();
