# ALTER EXTENSION durable_sink UPDATE from the released 1.0 to 1.1: a 1.0
# store filled through every path keeps every row, the updated extension is
# the same as a fresh 1.1 install (same member objects, definitions, ACLs
# and comments), the schema becomes a member, and normalization and the
# per-scope sequences go on where they stopped.  The update refuses a
# durable_sink schema that another role owns.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use DurableSinkTest qw(tagged_raw_tables);

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
# The feed's shared memory (contract §19) needs the library preloaded.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'durable_sink'");
$node->start;

# ---------------------------------------------------------------------------
# A 1.0 store, filled through every path.
# ---------------------------------------------------------------------------
# The installed version and the schema the extension is recorded in.
sub extension_state
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
	  SELECT extversion || ' ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'durable_sink'});
}

$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('upgraded', q{CREATE EXTENSION durable_sink VERSION '1.0'});
is(extension_state('upgraded'),
	'1.0 durable_sink', 'the released 1.0 installs as it did');

# Three streams (thread tN, run rN) of the same seven events: each kind of
# state is touched, and step 6 is rejected (capture_failures).  Stream 1 goes
# through emit, stream 2 through a row trigger, stream 3 through a statement
# trigger; appends with idempotency keys and a frame too large for NOTIFY
# (live_frames) complete the picture.
my $stream = q{
CREATE TABLE stream AS
SELECT i AS stream_no, s AS step, 't' || i AS thread_id, 'r' || i AS run_id,
  CASE s
    WHEN 1 THEN jsonb_build_object('event_type', 'run_start', 'thread_id', 't' || i, 'run_id', 'r' || i)
    WHEN 2 THEN jsonb_build_object('event_type', 'text_delta', 'delta', 'hello ' || i)
    WHEN 3 THEN jsonb_build_object('event_type', 'tool_call_ready', 'id', 'c' || i, 'name', 'search', 'arguments', '{}'::jsonb)
    WHEN 4 THEN '{"event_type":"state_snapshot","snapshot":{"extensions":{"__context_compaction":{"total_compactions":1,"boundaries":[{"task_id":"a","summary":"s"}],"in_flight":{"task_id":"b"}}}}}'::jsonb
    WHEN 5 THEN jsonb_build_object('event_type', 'error', 'message', 'rate limited ' || i)
    WHEN 6 THEN '{"event_type":"text_delta"}'::jsonb
    WHEN 7 THEN jsonb_build_object('event_type', 'run_finish', 'thread_id', 't' || i, 'run_id', 'r' || i,
                                   'termination', jsonb_build_object('type', 'suspended'))
  END AS event
FROM generate_series(1, 3) i, generate_series(1, 7) s;
} . tagged_raw_tables(prefix => 'raw', origin => 'load', row_mode => 'full_fidelity', stmt_mode => 'compacted');

# The stream fed through every path (run before and again after the update).
my $mailbox_draft = q{ROW('domain_event', 'MailboxQueued',
  '[{"scope_type":"thread","thread_id":"t1"},{"scope_type":"run","run_id":"r1"}]',
  NULL, NULL, '{"m":1}', NULL, NULL, 'mailbox', 'audit', 1)::durable_sink.canonical_event_draft};
my $feed = q{
SET durable_sink.announce_events = on;
SELECT count(*) FROM (SELECT * FROM stream WHERE stream_no = 1 ORDER BY step) s,
  LATERAL durable_sink.emit(s.event, s.thread_id, s.run_id) e;
INSERT INTO raw_row (thread_id, run_id, event)
  SELECT thread_id, run_id, event FROM stream WHERE stream_no = 2 ORDER BY step;
INSERT INTO raw_stmt (thread_id, run_id, event)
  SELECT thread_id, run_id, event FROM stream WHERE stream_no = 3 ORDER BY step;
SELECT count(*) FROM durable_sink.append(} . $mailbox_draft . q{,
  'mailbox-1', 'k-' || (SELECT count(*) FROM durable_sink.idempotency_keys));
SELECT count(*) FROM durable_sink.append(ROW('domain_event', 'PermissionGranted',
  '[{"scope_type":"thread","thread_id":"t2"}]', NULL, NULL, '{"call":"c2"}', NULL, NULL,
  'mailbox', 'audit', 1)::durable_sink.canonical_event_draft,
  'mailbox-2', 'k-' || (SELECT count(*) FROM durable_sink.idempotency_keys));
SELECT count(*) FROM durable_sink.emit(
  jsonb_build_object('event_type', 'text_delta', 'delta', repeat('x', 9000)), 't1', 'r1');
};
$node->safe_psql('upgraded', $stream . $feed);

# The extension's tables and sequences, and a fingerprint of each: row
# count and the md5 of its rows in a stable order (sequences: last_value,
# is_called).  Members are found through pg_depend, so a table added later
# is covered without changing this test.  1.1 moves the compaction
# fingerprints from an array column of compaction_state (1.0) to the table
# compaction_fingerprints: both layouts are summed as the same set of
# (thread_key, digest) pairs, and compaction_state by its other columns;
# scopes by its 1.0 columns.
my $table_sums = q{
CREATE FUNCTION pg_temp.table_sums() RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
  rel record;
  sum text;
BEGIN
  FOR rel IN
    SELECT c.oid::regclass AS name, c.relkind FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'durable_sink')
      AND d.deptype = 'e' AND c.relkind IN ('r', 'S')
      AND c.relname <> 'compaction_fingerprints'
    ORDER BY c.relname
  LOOP
    EXECUTE format('SELECT count(*) || '' '' || md5(coalesce(string_agg(%1$s::text, E''\n'' ORDER BY %1$s::text), '''')) FROM %2$s t',
                   CASE WHEN rel.relkind = 'S' THEN 'row(t.last_value, t.is_called)'
                        WHEN rel.name::text = 'durable_sink.compaction_state'
                        THEN 'row(t.thread_key, t.thread_id, t.total_compactions, t.in_flight_task_id, t.in_flight_boundary_message_id, t.updated_at)'
                        -- 1.1 adds pruned_head (retention, 0 for every existing scope)
                        WHEN rel.name::text = 'durable_sink.scopes'
                        THEN 'row(t.scope_no, t.scope_type, t.scope_key, t.scope_id)'
                        ELSE 't' END, rel.name)
      INTO sum;
    RETURN NEXT rel.name::text || ' ' || sum;
  END LOOP;
  IF to_regclass('durable_sink.compaction_fingerprints') IS NOT NULL THEN
    SELECT count(*) || ' ' || md5(coalesce(string_agg(row(f.thread_key, f.digest)::text, E'\n' ORDER BY row(f.thread_key, f.digest)::text), ''))
      INTO sum FROM durable_sink.compaction_fingerprints f;
  ELSE
    EXECUTE 'SELECT count(*) || '' '' || md5(coalesce(string_agg(row(c.thread_key, f.digest)::text, E''\n'' ORDER BY row(c.thread_key, f.digest)::text), '''')) '
            'FROM durable_sink.compaction_state c, unnest(c.fingerprints) f(digest)'
      INTO sum;
  END IF;
  RETURN NEXT 'compaction fingerprints ' || sum;
END $f$;
};
my $sums_query = q{SELECT string_agg(s, E'\n') FROM pg_temp.table_sums() s;};

my @sums = split /\n/, $node->safe_psql('upgraded', $table_sums . $sums_query);
my @empty = grep { /^\S+ 0 / && !/_seq / } @sums;
is(join(', ', @empty), '', 'every extension table has rows before the update');
cmp_ok(scalar(grep { !/_seq / } @sums), '>=', 7, 'the fingerprint covers the extension tables');

# The positions reached before the update.
my $old_max_event = $node->safe_psql('upgraded', 'SELECT max(event_id) FROM durable_sink.events');
my $old_counts = $node->safe_psql('upgraded', q{
  SELECT string_agg(event_kind || '=' || n, ' ' ORDER BY event_kind) FROM (
    SELECT event_kind, count(*) AS n FROM durable_sink.events GROUP BY 1) x});
like($old_counts, qr/ContextCompactionCompleted=3 .*ContextCompactionStarted=3 .*RunStarted=3 RunSuspended=3/,
	'the 1.0 store has run and compaction facts of the three streams');

# ---------------------------------------------------------------------------
# The update, in a session that has run the extension's statements before
# (an idempotent retry, a repeated compaction snapshot: they append
# nothing); it fingerprints the tables right before and after ALTER
# EXTENSION.
# ---------------------------------------------------------------------------
my $update = $node->safe_psql('upgraded', $table_sums . q{
SELECT count(*) FROM durable_sink.append(} . $mailbox_draft . q{, 'mailbox-1', 'k-0') \g /dev/null
SELECT count(*) FROM durable_sink.normalize_many((SELECT event FROM stream WHERE stream_no = 1 AND step = 4), 't1', 'r1') \g /dev/null
} . $sums_query . q{
ALTER EXTENSION durable_sink UPDATE;
SELECT '--';
} . $sums_query);
my ($before, $after) = split /\n--\n/, $update;
# Tables that 1.1 adds are checked below; every table 1.0 had must be intact.
my %existed = map { (split / /)[0] => 1 } split /\n/, $before;
my $after_old = join("\n", grep { $existed{(split / /)[0]} } split /\n/, $after);
is($after_old, $before, 'every row of every extension table survives the update (counts and checksums)');

# The feed (1.1): the events stored by 1.0 get positions 1..n in event_id
# order, and new positions continue after them.
is($node->safe_psql('upgraded', q{
  SELECT count(*) = (SELECT count(*) FROM durable_sink.events)
     AND bool_and(f.position = r.n)
     AND (SELECT last_value FROM durable_sink.feed_position_seq) = count(*)
  FROM durable_sink.feed f
  JOIN (SELECT event_id, row_number() OVER (ORDER BY event_id) AS n FROM durable_sink.events) r
    USING (event_id)}), 't', 'the update gives every stored event a position, in event_id order');

is(extension_state('upgraded'),
	'1.1 pg_catalog', 'the extension is at 1.1 and recorded in pg_catalog');
is($node->safe_psql('upgraded', q{
  SELECT string_agg(d.deptype::text, ',') FROM pg_depend d
  WHERE d.classid = 'pg_namespace'::regclass AND d.objid = 'durable_sink'::regnamespace
    AND d.refclassid = 'pg_extension'::regclass
    AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'durable_sink')}),
	'e', 'schema durable_sink is a member of the extension after the update');

# ---------------------------------------------------------------------------
# The updated extension equals a fresh 1.1 install.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION durable_sink');

# pg_dump --binary-upgrade dumps every member of an extension one by one
# (CREATE ... then ALTER EXTENSION durable_sink ADD ...), with its
# definition, comment and privileges, initial ones (pg_init_privs) included,
# whatever schema it is in.  --extension and --schema restrict the dump to
# durable_sink, its members and whatever else is in schema durable_sink, so
# the application's raw tables and triggers stay out.  Lines that describe this
# instance rather than the extension are masked before comparing:
#  - \restrict / \unrestrict carry a random key per dump;
#  - binary_upgrade_set_next_*() set the OIDs, relfilenodes (and the like)
#    the next CREATE is to use;
#  - relfrozenxid/relminmxid of each table, and the OID of its TOAST table;
#  - setval() of each sequence: its state, which is data (compared above),
#    not its definition;
#  - binary_upgrade_create_empty_extension() lists the configuration tables
#    (pg_extension_config_dump) by OID: replaced by their names, sorted
#    (an update registers new tables after the old ones);
#  - a column an update dropped stays in the table as a dropped attribute,
#    which binary-upgrade mode recreates; users never see it.
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub extension_dump
{
	my ($db) = @_;
	my $file = "$tmp/$db.sql";
	$node->command_ok(
		[ 'pg_dump', '--schema-only', '--binary-upgrade', '--extension=durable_sink', '--schema=durable_sink',
		  '-f', $file, '-d', $node->connstr($db) ],
		"pg_dump --binary-upgrade of the extension in $db");
	my %config = map { split /=/ } split / /, $node->safe_psql($db, q{
	  SELECT string_agg(c.oid || '=' || c.oid::regclass::text, ' ')
	  FROM pg_extension e, unnest(e.extconfig) c(oid) WHERE e.extname = 'durable_sink'});
	my $text = PostgreSQL::Test::Utils::slurp_file($file);
	$text =~ s/^\\(restrict|unrestrict) \S+$/\\$1 <key>/mg;
	$text =~ s/^(SELECT pg_catalog\.binary_upgrade_set_next_\w+)\(.*\);$/$1(<instance>);/mg;
	$text =~ s/^SET relfrozenxid = '\d+', relminmxid = '\d+'$/SET relfrozenxid = <xid>, relminmxid = <mxid>/mg;
	$text =~ s/^WHERE oid = '\d+';$/WHERE oid = <toast>;/mg;
	$text =~ s/^(SELECT pg_catalog\.setval\('[^']+'), \d+, (true|false)\);$/$1, <state>);/mg;
	$text =~ s{^(SELECT pg_catalog\.binary_upgrade_create_empty_extension\('durable_sink', '[^']*', \w+, '[^']*', ')\{([\d,]*)\}}
			  {$1 . '{' . join(',', sort map { $config{$_} // "<unknown oid $_>" } split(/,/, $2)) . '}'}me;
	$text =~ s/^    "\.+pg\.dropped\.\d+\.+" INTEGER \/\* dummy \*\/,\n//mg;
	$text =~ s/^-- For binary upgrade, recreate dropped column\.\n(?:.*\n){4}//mg;
	$text =~ s/^ALTER TABLE ONLY \S+ DROP COLUMN "\.+pg\.dropped\.\d+\.+";\n\n//mg;
	my $masked = "$tmp/$db.masked.sql";
	open(my $fh, '>', $masked) or die "could not write $masked: $!";
	print $fh $text;
	close($fh);
	return ($masked, $text);
}

my ($upgraded_dump, $upgraded_text) = extension_dump('upgraded');
my ($fresh_dump) = extension_dump('fresh');
like($upgraded_text, qr/ALTER EXTENSION durable_sink ADD SCHEMA durable_sink;.*ALTER EXTENSION durable_sink ADD TABLE durable_sink\.events;.*ALTER EXTENSION durable_sink ADD EVENT TRIGGER durable_sink_check_capture_trigger;/s,
	'the dump lists the extension members');
unlike($upgraded_text, qr/<unknown oid|CREATE TABLE public\./, 'the dump is restricted to the extension');
my ($diff) = run_command([ 'diff', '-u', $fresh_dump, $upgraded_dump ]);
is($diff, '', 'the updated extension has the same objects as a fresh 1.1 install');

# ---------------------------------------------------------------------------
# Everything goes on where it stopped: the same stream again, through the
# same paths, after the update.
# ---------------------------------------------------------------------------
$node->safe_psql('upgraded', $feed);
is($node->safe_psql('upgraded', q{
  SELECT string_agg(event_kind || '=' || n, ' ' ORDER BY event_kind) FROM (
    SELECT event_kind, count(*) AS n FROM durable_sink.events
    WHERE event_id > } . $old_max_event . q{ AND event_kind ~ '^(Run|ContextCompaction)' GROUP BY 1) x}),
	'RunResumed=3 RunSuspended=3',
	'run_start of an already-started run gives RunResumed, and a repeated snapshot no compaction fact');
is($node->safe_psql('upgraded', q{
  SELECT count(*) FROM durable_sink.normalize_many('{"event_type":"run_start","thread_id":"t9","run_id":"r9"}', 't9', 'r9')
  WHERE event_kind = 'RunStarted'}),
	'1', 'a run never seen before still starts');
is($node->safe_psql('upgraded', q{
  SELECT e.event_id = k.event_id FROM durable_sink.append(} . $mailbox_draft . q{, 'mailbox-1', 'k-0') e
  JOIN durable_sink.idempotency_keys k ON k.writer_id = 'mailbox-1' AND k.idempotency_key = 'k-0'}),
	't', 'an idempotent retry after the update returns the event appended before it');

# Per-scope sequences: every scope is exactly 1..n, and the events appended
# after the update continue each scope right after its last seq before it.
is($node->safe_psql('upgraded', q{
  SELECT count(*) FROM durable_sink.scopes s
  LEFT JOIN LATERAL (
    SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi, count(DISTINCT seq) AS distinct_n,
           max(seq) FILTER (WHERE event_id <= } . $old_max_event . q{) AS old_hi,
           min(seq) FILTER (WHERE event_id > } . $old_max_event . q{) AS new_lo
    FROM (
      SELECT e.thread_seq AS seq, e.event_id FROM durable_sink.events e
      WHERE s.scope_type = 'thread' AND e.thread_scope = s.scope_no
      UNION ALL
      SELECT e.run_seq, e.event_id FROM durable_sink.events e
      WHERE s.scope_type = 'run' AND e.run_scope = s.scope_no) x) c ON true
  WHERE c.n = 0 OR c.lo <> 1 OR c.hi <> c.n OR c.distinct_n <> c.n
     OR c.new_lo IS DISTINCT FROM c.old_hi + 1}),
	'0', 'per-scope seqs continue after the update without gap or repeat');
is($node->safe_psql('upgraded', 'SELECT count(*) FROM durable_sink.scopes'),
	'6', 'six scopes: three threads, three runs');
# The feed goes on: the events appended after the update follow the old
# ones, read_all returns every stored event once, in position order.
is($node->safe_psql('upgraded', q{
  SELECT count(*) = (SELECT count(*) FROM durable_sink.events)
     AND count(DISTINCT event_id) = count(*)
     AND bool_and(event_id > } . $old_max_event . q{ OR position <= } . $old_max_event . q{)
  FROM durable_sink.read_all(0, 100000)}),
	't', 'read_all returns every event once, new ones after the old ones');
is($node->safe_psql('upgraded', q{
  SELECT count(*) FROM durable_sink.capture_failures WHERE source = 'emit'}),
	'2', 'capture failures keep being recorded');

# DROP EXTENSION removes the schema it now owns (the raw tables stay).
$node->safe_psql('upgraded', q{
  SET client_min_messages = warning;
  DROP EXTENSION durable_sink CASCADE});
is($node->safe_psql('upgraded', q{
  SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'durable_sink') || ' '
      || (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'durable_sink%') || ' '
      || (SELECT count(*) FROM raw_row)}),
	'0 0 14', 'DROP EXTENSION removes schema durable_sink and the event trigger');

# ---------------------------------------------------------------------------
# The update adopts only a schema the extension's owner owns.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
  CREATE DATABASE foreign_schema;
  CREATE ROLE regress_schema_owner});
$node->safe_psql('foreign_schema', q{
  CREATE EXTENSION durable_sink VERSION '1.0';
  ALTER SCHEMA durable_sink OWNER TO regress_schema_owner});
my ($ret, $stdout, $stderr) = $node->psql('foreign_schema', 'ALTER EXTENSION durable_sink UPDATE');
isnt($ret, 0, 'the update refuses a schema owned by another role');
like($stderr, qr/ERROR:  schema durable_sink is owned by role regress_schema_owner, not by the extension's owner \S+/,
	'the error names the schema owner');
like($stderr, qr/HINT:  Check the schema's contents, then ALTER SCHEMA durable_sink OWNER TO the extension's owner and update again\./,
	'the hint says what to do');
is(extension_state('foreign_schema'),
	'1.0 durable_sink', 'the refused update changed nothing');
$node->safe_psql('foreign_schema', q{
  ALTER SCHEMA durable_sink OWNER TO CURRENT_USER;
  ALTER EXTENSION durable_sink UPDATE});
is(extension_state('foreign_schema'),
	'1.1 pg_catalog', 'following the hint, the update succeeds');

$node->stop;
done_testing();
