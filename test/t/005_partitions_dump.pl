# A tree captured with durable_sink.capture_table() survives pg_dump and
# pg_restore: whether a table is captured is read from its own capture
# trigger (no registry), pg_dump restores every table's trigger, the restore
# fails on nothing, and afterwards every row is still captured once and new
# partitions still get the trigger.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('partitions_dump');
$node->init;
# The feed's shared memory (contract §19) needs the library preloaded.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION durable_sink;
CREATE TABLE raw (k int, thread_id text, run_id text, event jsonb) PARTITION BY RANGE (k);
CREATE TABLE raw_1 PARTITION OF raw FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (k);
CREATE TABLE raw_1a PARTITION OF raw_1 FOR VALUES FROM (0) TO (100);
CREATE TABLE raw_2 PARTITION OF raw FOR VALUES FROM (100) TO (200);
SELECT count(*) FROM durable_sink.capture_table('raw', 'event', 'thread_id', 'run_id', 'app');
CREATE TABLE raw_3 PARTITION OF raw FOR VALUES FROM (200) TO (300);
INSERT INTO raw VALUES (1, 't', 'r', '{"event_type":"error","message":"1"}'),
                       (101, 't', 'r', '{"event_type":"error","message":"2"}');
INSERT INTO raw_1a VALUES (2, 't', 'r', '{"event_type":"error","message":"3"}');
INSERT INTO raw_3 VALUES (201, 't', 'r', '{"event_type":"error","message":"4"}');
});

# The capture triggers of the tree, one line per table.
my $triggers = q{
SELECT string_agg(t.tgrelid::regclass || ':' || t.tgname || ':' || encode(t.tgargs, 'hex'), ' '
                  ORDER BY t.tgrelid::regclass::text COLLATE "C")
FROM pg_trigger t
WHERE t.tgfoid = 'durable_sink.capture_statement'::regproc};
my $captured = q{SELECT string_agg(payload->>'message', ',' ORDER BY seq) FROM durable_sink.read('thread', 't')};

my $before = $node->safe_psql('postgres', $triggers);
is(scalar(() = $before =~ /durable_sink_capture/g), 5, 'every table of the tree has the capture trigger');
is($node->safe_psql('postgres', $captured), '1,2,3,4', 'each row captured once before the dump');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/db.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore of a captured tree fails on nothing');

is($node->safe_psql('restored', $triggers), $before, 'the restored tree has the same capture triggers');
is($node->safe_psql('restored', $captured), '1,2,3,4', 'the store is restored, rows not captured again');

$node->safe_psql('restored', q{
CREATE TABLE raw_4 PARTITION OF raw FOR VALUES FROM (300) TO (400);
INSERT INTO raw VALUES (3, 't', 'r', '{"event_type":"error","message":"5"}');
INSERT INTO raw_1a VALUES (4, 't', 'r', '{"event_type":"error","message":"6"}');
INSERT INTO raw_4 VALUES (301, 't', 'r', '{"event_type":"error","message":"7"}');
});
is($node->safe_psql('restored', $captured), '1,2,3,4,5,6,7',
	'after the restore each row is captured once, also in a partition created then');

$node->stop;
done_testing();
