# Fixtures shared by the TAP tests in test/t.
package DurableSinkTest;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(tagged_raw_tables);

# SQL that creates two raw event tables: <prefix>_row, captured by a row
# trigger, and <prefix>_stmt, captured by a statement trigger.  Each row
# carries a tag ('row:<id>', 'stmt:<id>') that the trigger passes as
# correlation_id, so every canonical row names the raw row it came from.
# Arguments: prefix, origin, row_mode, stmt_mode (durability modes).
sub tagged_raw_tables
{
	my (%arg) = @_;
	my $sql = '';
	for my $kind ('row', 'stmt')
	{
		my $table = "$arg{prefix}_$kind";
		my $args = "'event', 'thread_id', 'run_id', '$arg{origin}', '$arg{\"${kind}_mode\"}', 'tag'";
		$sql .= "CREATE TABLE $table (id bigserial PRIMARY KEY, thread_id text, run_id text, event jsonb,\n"
		  . "  tag text GENERATED ALWAYS AS ('$kind:' || id) STORED);\n";
		$sql .= $kind eq 'row'
		  ? "CREATE TRIGGER capture AFTER INSERT ON $table FOR EACH ROW\n"
		  . "  EXECUTE FUNCTION durable_sink.capture($args);\n"
		  : "CREATE TRIGGER capture AFTER INSERT ON $table REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT\n"
		  . "  EXECUTE FUNCTION durable_sink.capture_statement($args);\n";
	}
	return $sql;
}

1;
