# The announcer (contract §17): with the library preloaded, live frames are
# sent after commit by a background worker, not by NOTIFY in the writing
# transaction.  A listening psql session collects the frames; each case
# writes on its own thread so its frames can be told apart:
#  - a committed emit's frame arrives, with a feed frame covering its position;
#  - a transaction that emitted can be prepared; its frame arrives only with
#    COMMIT PREPARED (which starts an announcer if none runs any more),
#    never after ROLLBACK PREPARED;
#  - frames queued before SET LOCAL announce_after_commit = off are sent;
#  - a transaction that emitted and then dropped the extension commits;
#  - frames of a rolled-back transaction or subtransaction are never sent;
#  - feed frames of many small transactions cover every position;
#  - a frame too long for NOTIFY arrives by reference;
#  - an idle announcer exits, and DROP DATABASE is not held up by it;
#  - with durable_sink.announce_after_commit off, frames are sent in the
#    writing transaction again, and PREPARE TRANSACTION fails as in 1.0.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('announcer');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'\nmax_prepared_transactions = 4");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION durable_sink');

# The listener: a psql session fed through a pipe; psql prints the
# notifications it received after each command.
my ($in, $out, $err) = ('', '', '');
my $listener = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') ],
	\$in, \$out, \$err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
$in .= "LISTEN durable_sink;\n";
$listener->pump until $out =~ /^LISTEN$/m;

# Every frame received so far, as payload strings.
sub frames
{
	$in .= "SELECT 1;\n";
	$listener->pump while length $in;
	$listener->pump_nb;
	return ($out =~ /Asynchronous notification "durable_sink" with payload "(.*?)" received from server process/g);
}

# Poll until some frame matches the pattern (or time runs out).
sub wait_for_frame
{
	my ($pattern) = @_;
	for my $i (1 .. 300)
	{
		return 1 if grep { /$pattern/ } frames();
		usleep(50_000);
	}
	return 0;
}

sub emit_sql
{
	my ($thread, $message) = @_;
	$message //= 'm';
	return "SELECT count(*) FROM durable_sink.emit('{\"event_type\":\"error\",\"message\":\"$message\"}', '$thread', 'r-$thread')";
}

# --- a committed emit
my $position = $node->safe_psql('postgres', emit_sql('ann-commit') . ';'
	  . "SELECT f.position FROM durable_sink.feed f JOIN durable_sink.events e USING (event_id) WHERE e.thread_id = 'ann-commit'");
($position) = (split /\n/, $position)[1];
ok(wait_for_frame('"source":"emit".*"thread_id":"ann-commit"'), 'a committed emit is announced by the announcer');
ok(wait_for_frame('"source":"feed"'), 'feed frames are sent');
my @covering = grep {
	/"source":"feed".*"first_position":(\d+),"last_position":(\d+)/ && $1 <= $position && $position <= $2
} frames();
is(scalar @covering, 1, 'exactly one feed frame covers the new position');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'durable_sink announcer'"),
	'1', 'the announcer runs as a background worker');

# --- two-phase commit
$node->safe_psql('postgres', 'BEGIN; ' . emit_sql('ann-2pc-commit') . "; PREPARE TRANSACTION 'ann1';");
$node->safe_psql('postgres', 'BEGIN; ' . emit_sql('ann-2pc-rollback') . "; PREPARE TRANSACTION 'ann2';");
usleep(500_000);
is(scalar(grep { /ann-2pc/ } frames()), 0, 'a prepared transaction is not announced before it commits');
$node->safe_psql('postgres', "COMMIT PREPARED 'ann1'");
$node->safe_psql('postgres', "ROLLBACK PREPARED 'ann2'");
ok(wait_for_frame('"thread_id":"ann-2pc-commit"'), 'COMMIT PREPARED: its frame arrives');

# COMMIT PREPARED when the announcer that polled for it is gone
$node->safe_psql('postgres', 'BEGIN; ' . emit_sql('ann-2pc-late') . "; PREPARE TRANSACTION 'ann4';");
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'durable_sink announcer'");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'durable_sink announcer'")
  or die 'the announcer did not stop';
$node->safe_psql('postgres', "COMMIT PREPARED 'ann4'");
ok(wait_for_frame('"thread_id":"ann-2pc-late"'), 'COMMIT PREPARED starts an announcer for the prepared frames');

# frames queued before the setting was turned off in the same transaction
$node->safe_psql('postgres',
	'BEGIN; ' . emit_sql('ann-setting') . '; SET LOCAL durable_sink.announce_after_commit = off; COMMIT;');
ok(wait_for_frame('"thread_id":"ann-setting"'), 'frames queued before SET LOCAL ... = off are sent');

# --- rollbacks
$node->safe_psql('postgres', 'BEGIN; ' . emit_sql('ann-rolled-back') . '; ROLLBACK;');
$node->safe_psql('postgres', 'BEGIN; ' . emit_sql('ann-sub', 'kept-1') . '; SAVEPOINT s; '
	  . emit_sql('ann-sub', 'dropped') . '; ROLLBACK TO s; ' . emit_sql('ann-sub', 'kept-2') . '; COMMIT;');
$node->safe_psql('postgres', emit_sql('ann-marker') . ';');
ok(wait_for_frame('"thread_id":"ann-marker"'), 'the marker after the rollbacks arrives');
my @sub = grep { /"thread_id":"ann-sub"/ } frames();
is(scalar @sub, 2, 'the committed parts of the transaction with a rolled-back savepoint are announced');
is(scalar(grep { /ann-rolled-back|ann-2pc-rollback/ } frames()), 0,
	'frames of rolled-back and ROLLBACK PREPARED transactions are never sent');

# --- feed frames cover every position of many small transactions
my $script = PostgreSQL::Test::Utils::tempdir() . '/emit.sql';
open(my $fh, '>', $script) or die;
print $fh emit_sql('ann-many') . ";\n";
close($fh);
$node->command_ok([ 'pgbench', '-n', '-c', '4', '-t', '50', '-f', $script, $node->connstr('postgres') ],
	'200 one-event transactions from 4 clients');
my @positions = split /\n/, $node->safe_psql('postgres',
	"SELECT f.position FROM durable_sink.feed f JOIN durable_sink.events e USING (event_id) WHERE e.thread_id = 'ann-many' ORDER BY 1");
my $last = $positions[-1];
ok(wait_for_frame("\"source\":\"feed\".*\"last_position\":(?:$last|[1-9][0-9]{" . length($last) . ',})'),
	'a feed frame reaches the last position');
my @ranges = map { [/"first_position":(\d+),"last_position":(\d+)/] } grep { /"source":"feed"/ } frames();
my @uncovered = grep { my $p = $_; !grep { $_->[0] <= $p && $p <= $_->[1] } @ranges } @positions;
is(scalar @uncovered, 0, 'every position is covered by a feed frame');
my $emit_frames = grep { /"thread_id":"ann-many"/ } frames();
is($emit_frames, 200, 'every transaction is announced');
cmp_ok(scalar @ranges, '<', 200 + 10, 'feed frames are coalesced (fewer than one per transaction)');

# --- a frame too long for NOTIFY
$node->safe_psql('postgres', "ALTER DATABASE postgres SET durable_sink.announce_events = on");
$node->safe_psql('postgres', "SELECT count(*) FROM durable_sink.emit(jsonb_build_object('event_type', 'error', 'message', repeat('x', 9000)), 'ann-large', 'r')");
ok(wait_for_frame('^\{"frame_id":\d+\}$'), 'a large frame arrives by reference');
my ($reference) = grep { /^\{"frame_id":\d+\}$/ } frames();
my ($frame_id) = $reference =~ /(\d+)/;
is($node->safe_psql('postgres', "SELECT durable_sink.live_frame($frame_id)->>'thread_id'"),
	'ann-large', 'live_frame returns the referenced frame');
$node->safe_psql('postgres', "ALTER DATABASE postgres RESET durable_sink.announce_events");

# --- setting off: frames in the writing transaction, as in 1.0
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	'SET durable_sink.announce_after_commit = off; BEGIN; ' . emit_sql('ann-off') . "; PREPARE TRANSACTION 'ann3';");
like($stderr, qr/cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY/,
	'with announce_after_commit off, a transaction that emitted cannot be prepared');
is($node->safe_psql('postgres', 'SELECT count(*) FROM durable_sink.outbox'), '0', 'the outbox is empty');

$in .= "\\q\n";
$listener->finish;

# --- an idle announcer exits; DROP DATABASE is not held up
$node->safe_psql('postgres', 'CREATE DATABASE ann_drop');
$node->safe_psql('ann_drop', 'CREATE EXTENSION durable_sink; ' . emit_sql('ann-drop') . ';');
# emit, then DROP EXTENSION, in one transaction: the commit succeeds
$node->safe_psql('ann_drop', 'BEGIN; ' . emit_sql('ann-dropped') . '; DROP EXTENSION durable_sink; COMMIT;');
is($node->safe_psql('ann_drop', "SELECT count(*) FROM pg_extension WHERE extname = 'durable_sink'"),
	'0', 'a transaction that emitted and then dropped the extension commits');
$node->safe_psql('postgres', 'DROP DATABASE ann_drop');
pass('DROP DATABASE right after an announcing commit succeeds');
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'durable_sink announcer'")
  or die 'announcer did not exit';
pass('an idle announcer exits');

$node->stop;
done_testing();
