# Runs in exec's transient unit (see PrivateCommand in appexec.go), as the
# service, with the binary to run and the name of the variable that carries
# its arguments as our own arguments. The command's arguments arrive first on
# stdin, never in an argv that ps, sudo's log or `systemctl show` would show:
# one line, each argument hex-encoded and followed by a space. The rest of
# stdin is the command's own (admin create's password).
# Perl because Debian's perl-base is essential: every server has it.
use strict; use warnings;
my ($var, $bin) = @ARGV;
my $line = '';
while (1) {
	# One byte at a time: whatever follows the line is not ours to read.
	my $n = sysread STDIN, my $c, 1;
	die "exec: the command's arguments never arrived on stdin\n" unless $n;
	last if $c eq "\n";
	$line .= $c;
}
die "exec: the arguments on stdin are malformed\n" unless $line =~ /\A(?:(?:[0-9a-f]{2})* )*\z/;
# A binary that reads its arguments from $var holds that name; one built
# before it did gets them in its argv, as it always did.
open my $fh, '<:raw', $bin or die "exec: $bin: $!\n";
my ($found, $tail) = (0, '');
while (read $fh, my $buf, 1 << 20) {
	$buf = $tail . $buf;
	if (index($buf, $var) >= 0) { $found = 1; last }
	$tail = length $buf > length $var ? substr($buf, -length $var) : $buf;
}
close $fh;
if ($found) {
	$ENV{$var} = $line;
	exec { $bin } $bin or die "exec: run $bin: $!\n";
}
delete $ENV{$var};
my @args = split / /, $line, -1;
pop @args;
exec { $bin } $bin, map { pack 'H*', $_ } @args or die "exec: run $bin: $!\n";
