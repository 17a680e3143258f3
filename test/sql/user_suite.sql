-- README "Testing an application with pg_regress": its example suite, run
-- as written, after other rows were stored: reset() makes the output the
-- same whatever ran before.
\pset null '(null)'
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_ds_user_suite;
ALTER DATABASE regress_ds_user_suite SET lc_messages = 'C';
\c regress_ds_user_suite
CREATE EXTENSION durable_sink;
SELECT count(*) FROM durable_sink.emit('{"event_type":"run_start","thread_id":"t1","run_id":"r1"}', 't1', 'r1');
SELECT count(*) FROM durable_sink.emit('{"event_type":"error","message":"before"}', 't1', 'r1');
\getenv abs_builddir PG_ABS_BUILDDIR
\! awk '/^## Testing an application with pg_regress/ { s = 1 } s && /^```$/ && b { exit } s && b { print } s && /^```sql$/ { b = 1 }' "$PG_ABS_SRCDIR"/../README.md > "$PG_ABS_BUILDDIR"/results/user_suite_example.sql
\i :abs_builddir/results/user_suite_example.sql
-- only the suite's own events are left (without reset() there would be 4)
SELECT count(*) AS events FROM durable_sink.events;
\c :regress_db
DROP DATABASE regress_ds_user_suite;
