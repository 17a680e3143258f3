# Released scripts are frozen: every file listed in test/released.sha256
# (written like `sha256sum` output; '#' starts a comment) still has the
# SHA-256 it was released with.  A database created or updated by a
# released script must be reproducible by that script, so a change belongs
# in a new version's scripts instead.  Needs no git history and no server.
use strict;
use warnings;

use Digest::SHA;
use File::Basename qw(dirname);
use File::Spec;
use Test::More;

my $root = File::Spec->catdir(dirname(File::Spec->rel2abs(__FILE__)), '..', '..');
my $manifest = "$root/test/released.sha256";

open(my $fh, '<', $manifest) or die "could not read $manifest: $!";
my $files = 0;
while (my $line = <$fh>)
{
	chomp $line;
	next if $line =~ /^\s*(#|$)/;
	my ($sha, $path) = $line =~ /^([0-9a-f]{64}) [ *](.+)$/
	  or die "$manifest:$.: not '<sha256>  <path>': $line";
	my $file = "$root/$path";
	ok(-f $file, "$path exists") or next;
	is(Digest::SHA->new(256)->addfile($file, 'b')->hexdigest, $sha,
		"$path is unchanged since its release");
	$files++;
}
close($fh);
cmp_ok($files, '>=', 1, 'the manifest lists the released scripts');

done_testing();
