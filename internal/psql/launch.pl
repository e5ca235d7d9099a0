# Runs in the psql transient unit on the server (see Command in psql.go),
# with the service's env file loaded by systemd: the app's database URL
# variable (second argument, DATABASE_URL by default; a postgres://
# URL or libpq key=value pairs, as pgx reads it) becomes a libpq service
# file in the unit's private /tmp (0600, gone with the unit), and psql is
# exec'd with the remaining arguments. The password thus never appears in
# any process's arguments, and psql keeps no history.
# Perl because Debian's psql is itself a Perl script (pg_wrapper): wherever
# psql runs, so does this.
use strict; use warnings; use Fcntl;
my $env = shift @ARGV;
my $var = shift @ARGV;
my $url = delete $ENV{$var};
die "psql: $var is not set in $env: add it there (sudoedit $env)\n" unless defined $url && $url ne '';
my $bad = "psql: $var in $env is neither a postgres:// URL nor key=value pairs";
sub dec { my $s = shift // ''; $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }
# pgx's own parameters (pool_max_conns...) are not libpq's: dropped below.
my (%kv, @h, @p);
if ($url =~ m{^postgres(?:ql)?://([^/?#]*)([^?#]*)(?:\?([^#]*))?}s) {
	my ($auth, $path, $query) = ($1, $2, $3 // '');
	if ($auth =~ /^(.*)@(.*)$/s) {
		$auth = $2;
		my ($u, $p) = split /:/, $1, 2;
		$kv{user} = dec($u) if $u ne '';
		$kv{password} = dec($p) if defined $p;
	}
	for (split /,/, $auth) {
		/^(\[[^\]]*\]|[^:]*)(?::(.*))?$/s or die "$bad\n";
		my ($h, $p) = ($1, $2 // '');
		$h =~ s/^\[(.*)\]$/$1/;
		push @h, dec($h); push @p, $p;
	}
	$kv{host} = join ',', @h if grep { $_ ne '' } @h;
	$kv{port} = join ',', @p if grep { $_ ne '' } @p;
	$path =~ s{^/}{};
	$kv{dbname} = dec($path) if $path ne '';
	for (split /&/, $query) {
		my ($k, $v) = split /=/, $_, 2;
		$kv{dec($k)} = dec($v);
	}
} else {
	while ($url =~ /\G\s*(\w+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|((?:[^\s'\\]|\\.)+))/gc) {
		my ($k, $v) = ($1, defined $2 ? $2 : $3);
		$v =~ s/\\(.)/$1/gs;
		$kv{$k} = $v;
	}
	$url =~ /\G\s*\z/gc or die "$bad\n";
}
my %libpq = map { $_ => 1 } qw(host hostaddr port dbname user password passfile channel_binding
	connect_timeout client_encoding options application_name fallback_application_name keepalives
	keepalives_idle keepalives_interval keepalives_count tcp_user_timeout gssencmode sslmode requiressl
	sslcompression sslcert sslkey sslpassword sslrootcert sslcrl sslcrldir sslsni requirepeer
	ssl_min_protocol_version ssl_max_protocol_version krbsrvname gsslib target_session_attrs load_balance_hosts);
my $conf = "[app]\n";
for my $k (sort keys %kv) {
	next unless $libpq{$k};
	die "psql: $var in $env: the $k value holds a line break or ends in a space, which a libpq service file can't carry\n" if $kv{$k} =~ /[\r\n]|\s\z/;
	$conf .= "$k=$kv{$k}\n";
}
my $file = ($ENV{TMPDIR} // '/tmp') . '/slipway-psql-' . $$ . '.conf';
sysopen(my $fh, $file, O_WRONLY | O_CREAT | O_EXCL, 0600) or die "psql: create $file: $!\n";
print $fh $conf or die "psql: write $file: $!\n";
close $fh or die "psql: write $file: $!\n";

# psql gets none of the app's other settings (PASSWORD_PEPPER...).
my %keep = map { $_ => $ENV{$_} } grep { /^(PG\w+|TERM|LANG|LC_\w+|PATH|HOME|USER|LOGNAME|TZ)$/ } keys %ENV;
%ENV = (%keep, PGSERVICEFILE => $file, PGSERVICE => 'app', PSQL_HISTORY => '/dev/null', HISTFILE => '/dev/null');

exec { 'psql' } 'psql', @ARGV or die "psql: run psql on the server: $! (install postgresql-client there)\n";
