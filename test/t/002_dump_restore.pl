# pg_dump keeps the extension's state: a dump/restore round trip restores
# the event store, sequences heads, run and compaction state, idempotency
# keys and capture failures, and everything goes on from where it was.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
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
-- a frame with the event body, too large for NOTIFY: stored in live_frames
SET durable_sink.announce_events = on;
SELECT count(*) FROM durable_sink.emit(jsonb_build_object('event_type', 'text_delta', 'delta', repeat('x', 9000)), 't1', 'r1');
});

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

$node->stop;
done_testing();
