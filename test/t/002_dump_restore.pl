# pg_dump keeps the extension's state: a dump/restore round trip restores
# the event store, sequences heads, run and compaction state, idempotency
# keys and capture failures, and everything goes on from where it was.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DurableSinkTest qw(tagged_raw_tables);

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
# The feed's shared memory (contract §19) needs the library preloaded.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION durable_sink;
CREATE TABLE raw_events (id bigserial PRIMARY KEY, thread_id text, run_id text, event jsonb);
CREATE TRIGGER capture AFTER INSERT ON raw_events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION durable_sink.capture_statement('event', 'thread_id', 'run_id', 'app', 'compacted');
INSERT INTO raw_events (thread_id, run_id, event) VALUES
  ('t1', 'r1', '{"event_type":"run_start","thread_id":"t1","run_id":"r1"}'),
  ('t1', 'r1', '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"total_compactions":1,"boundaries":[{"task_id":"a","summary":"s"}],"in_flight":{"task_id":"b"}}}}}'),
  ('t1', 'r1', '{"event_type":"tool_call_ready","id":"c","name":"n","arguments":{}}'),
  ('t1', 'r1', '"bad"');
SELECT count(*) FROM durable_sink.emit('{"event_type":"run_finish","thread_id":"t1","run_id":"r1","termination":{"type":"suspended"}}', 't1', 'r1');
SELECT count(*) FROM durable_sink.append(ROW('domain_event', 'MailboxQueued', '[{"scope_type":"thread","thread_id":"t1"}]',
  NULL, NULL, '{"m":1}', NULL, NULL, 'mailbox', 'audit', 1)::durable_sink.canonical_event_draft, 'w', 'k');
-- a frame too large for NOTIFY goes to live_frames (with the event in it)
SET durable_sink.announce_events = on;
SELECT count(*) FROM durable_sink.emit(jsonb_build_object('event_type', 'text_delta', 'delta', repeat('x', 9000)), 't1', 'r1');
});

# Two more raw tables, one per trigger kind, in full_fidelity mode with the
# raw row's tag as correlation_id: each raw row has exactly one canonical
# row, and every restore below must keep exactly that one (a capture trigger
# that fired again while its table's rows are restored would add another).
$node->safe_psql('postgres', tagged_raw_tables(prefix => 'raw_tagged', origin => 'app',
		row_mode => 'full_fidelity', stmt_mode => 'full_fidelity') . q{
INSERT INTO raw_tagged_row (thread_id, run_id, event)
  SELECT 't2', 'r2', jsonb_build_object('event_type', 'text_delta', 'delta', 'row ' || g) FROM generate_series(1, 5) g;
INSERT INTO raw_tagged_stmt (thread_id, run_id, event)
  SELECT 't3', 'r3', jsonb_build_object('event_type', 'text_delta', 'delta', 'stmt ' || g) FROM generate_series(1, 5) g;
});
my $one_per_raw_row = q{
SELECT count(*) || ' raw rows, ' || count(*) FILTER (WHERE n <> 1) || ' without exactly one canonical row'
FROM (SELECT (SELECT count(*) FROM durable_sink.events e WHERE e.correlation_id = r.tag) AS n
      FROM (SELECT tag FROM raw_tagged_row UNION ALL SELECT tag FROM raw_tagged_stmt) r) x};
is($node->safe_psql('postgres', $one_per_raw_row), '10 raw rows, 0 without exactly one canonical row',
	'each tagged raw row has one canonical row');

# A fingerprint of every extension table, in a stable order.
my $fingerprint = q{
SELECT string_agg(t || ':' || md5(c), ' ' ORDER BY t) FROM (
  SELECT 'events' AS t, string_agg(row(event_id, fidelity, event_kind, scopes, thread_id, run_id, payload,
         causation_id, correlation_id, origin, visibility, schema_version, created_at, thread_seq, run_seq,
         writer_id, idempotency_key)::text, ',' ORDER BY event_id) AS c FROM durable_sink.events
  UNION ALL SELECT 'scopes', string_agg(row(scope_no, scope_type, scope_id)::text, ',' ORDER BY scope_type, scope_id) FROM durable_sink.scopes
  UNION ALL SELECT 'run_state', string_agg(row(run_id, starts, finished)::text, ',' ORDER BY run_id) FROM durable_sink.run_state
  UNION ALL SELECT 'compaction', string_agg(row(thread_id, total_compactions, in_flight_task_id, (SELECT array_agg(f.digest ORDER BY f.digest) FROM durable_sink.compaction_fingerprints f WHERE f.thread_key = c.thread_key))::text, ',' ORDER BY thread_id) FROM durable_sink.compaction_state c
  UNION ALL SELECT 'keys', string_agg(row(writer_id, idempotency_key, event_id)::text, ',' ORDER BY writer_id) FROM durable_sink.idempotency_keys
  UNION ALL SELECT 'failures', string_agg(row(failure_id, source, source_table, event, sqlstate, message)::text, ',' ORDER BY failure_id) FROM durable_sink.capture_failures
  UNION ALL SELECT 'frames', string_agg(row(frame_id, frame)::text, ',' ORDER BY frame_id) FROM durable_sink.live_frames
  UNION ALL SELECT 'raw', string_agg(row(id, event)::text, ',' ORDER BY id) FROM raw_events) x};
my $before = $node->safe_psql('postgres', $fingerprint);
like($before, qr/events:\w+ failures:\w+ frames:\w+ keys:\w+ raw:\w+ run_state:\w+ scopes:\w+/,
	'all state is there before the dump');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/db.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore');

is($node->safe_psql('restored', $fingerprint), $before, 'every extension table is restored as it was');
# pg_restore creates triggers after it has loaded the data: no raw row is
# captured a second time.
is($node->safe_psql('restored', $one_per_raw_row), '10 raw rows, 0 without exactly one canonical row',
	'the whole-database restore keeps exactly one canonical row per raw row');

# Everything goes on from where it was.
is($node->safe_psql('restored', q{
  SELECT string_agg(event_kind || '@' || run_seq, ',') FROM durable_sink.emit(
    '{"event_type":"run_start","thread_id":"t1","run_id":"r1"}', 't1', 'r1')}),
	'RunResumed@' . $node->safe_psql('postgres',
		q{SELECT max(run_seq) + 1 FROM durable_sink.events WHERE run_id = 'r1'}),
	'run state and the run sequence continue');
is($node->safe_psql('restored', q{
  SELECT count(*) FROM durable_sink.normalize_many('{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"total_compactions":1,"boundaries":[{"task_id":"a","summary":"s"}],"in_flight":{"task_id":"b"}}}}}', 't1', 'r1')
  WHERE event_kind LIKE 'ContextCompaction%'}),
	'0', 'the compaction observation is restored: nothing announced again');
is($node->safe_psql('restored', q{
  SELECT e.event_id = k.event_id FROM durable_sink.append(ROW('domain_event', 'MailboxQueued',
    '[{"scope_type":"thread","thread_id":"t1"}]', NULL, NULL, '{"m":1}', NULL, NULL, 'mailbox', 'audit', 1)
    ::durable_sink.canonical_event_draft, 'w', 'k') e, durable_sink.idempotency_keys k}),
	't', 'an idempotent retry after the restore returns the original event');
is($node->safe_psql('restored', q{
  INSERT INTO raw_events (thread_id, run_id, event) VALUES ('t1', 'r1', '{"event_type":"error","message":"m"}');
  SELECT count(*) = max(thread_seq) AND count(DISTINCT event_id) = count(*)
  FROM durable_sink.events WHERE thread_id = 't1'}),
	't', 'the restored trigger captures; thread seqs and event ids stay unique and gapless');
is($node->safe_psql('restored', q{
  SELECT count(*) FROM durable_sink.capture_failures}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM durable_sink.capture_failures}),
	'capture failures are restored');

# A data-only dump restored into a database that already has the schema,
# capture triggers included: loading a raw table fires its capture trigger,
# which appends the rows' canonical events again next to the restored ones.
# The triggers must be disabled while the data loads (superuser only):
# pg_restore --disable-triggers, or pg_dump --data-only --disable-triggers
# for a plain dump run with psql.
my $schema_dump = PostgreSQL::Test::Utils::tempdir() . '/schema.dump';
my $data_dump = PostgreSQL::Test::Utils::tempdir() . '/data.dump';
my $data_sql = PostgreSQL::Test::Utils::tempdir() . '/data.sql';
$node->command_ok([ 'pg_dump', '-Fc', '--schema-only', '-f', $schema_dump, '-d', $node->connstr('postgres') ],
	'pg_dump --schema-only');
$node->command_ok([ 'pg_dump', '-Fc', '--data-only', '-f', $data_dump, '-d', $node->connstr('postgres') ],
	'pg_dump --data-only');
$node->command_ok([ 'pg_dump', '--data-only', '--disable-triggers', '-f', $data_sql, '-d', $node->connstr('postgres') ],
	'pg_dump --data-only --disable-triggers (plain)');
for my $db ('data_only_restore', 'data_only_psql', 'data_only_triggers')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr($db), $schema_dump ],
		"schema with capture triggers restored into $db");
}
$node->command_ok([ 'pg_restore', '--data-only', '--disable-triggers', '--exit-on-error',
		'-d', $node->connstr('data_only_restore'), $data_dump ],
	'pg_restore --data-only --disable-triggers');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $data_sql, '-d', $node->connstr('data_only_psql') ],
	'psql of a plain data-only dump made with --disable-triggers');
for my $db ('data_only_restore', 'data_only_psql')
{
	is($node->safe_psql($db, $fingerprint), $before, "$db: every extension table is restored as it was");
	is($node->safe_psql($db, $one_per_raw_row), '10 raw rows, 0 without exactly one canonical row',
		"$db: no raw row is captured twice");
	is($node->safe_psql($db, q{
	  INSERT INTO raw_tagged_row (thread_id, run_id, event) VALUES ('t2', 'r2', '{"event_type":"error","message":"m"}');
	  SELECT count(*) = max(thread_seq) AND count(DISTINCT event_id) = count(*)
	  FROM durable_sink.events WHERE thread_id = 't2'}),
		't', "$db: capture goes on with unique event ids and gapless seqs");
}

# Without --disable-triggers the same restore fails: the raw rows are
# captured again (pg_dump puts the sequences' values after all table data),
# with event ids, or failure ids, the restored store already has.
$node->command_fails_like([ 'pg_restore', '--data-only', '--exit-on-error',
		'-d', $node->connstr('data_only_triggers'), $data_dump ],
	qr/duplicate key value violates unique constraint "(events|capture_failures)_pkey"/,
	'a data-only restore with the capture triggers enabled captures the raw rows again');

$node->stop;
done_testing();
