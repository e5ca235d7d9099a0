package backup

// preamble defines what the swap script uses. It runs as root in a
// transient unit (service.Detached).
//
//	as_pg SQL... psql as the local postgres superuser (peer), for what the
//	             app's role may not do: create, rename, drop databases
//	die MSG      the one-line failure result
const preamble = `set -u
rm -f "$0"
say() { printf '%s\n' "$*"; }
die() { say "result failed $*"; exit 1; }
now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
as_pg() { env -u PGPASSWORD -u PGSSLMODE PGUSER=postgres PGDATABASE=postgres runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
tmpd=$(mktemp -d /run/slipway-backup.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$tmpd"' EXIT
err() { tail -n 3 "$tmpd/err" 2>/dev/null | tr '\n' ' ' | cut -c1-400; }
`

// swapScript puts <db>_restore in place of the live database and makes
// release $6 live on it: every instance stops (the socket keeps queueing
// connections, none is refused), the databases are renamed, current (and
// previous) are switched when $6 isn't current, and $6's instance starts
// (Type=notify: ready means migrated and serving). Downtime is from the
// stop to ready. If the instance doesn't get ready, all of it is undone:
// the old database, links and instance are back. It runs to its end
// whatever happens to the client.
//
// Args: app dp db pghost pgport release logprefix: the database and how
// the local postgres superuser reaches it (restore-prepare's result line).
const swapScript = `app=$1 dp=$2 db=$3 pghost=$4 pgport=$5 new=$6 logp=$7
` + preamble + `
[ "$pghost" = - ] || export PGHOST="$pghost"
[ "$pgport" = - ] || export PGPORT="$pgport"
cd "$dp" || die "no $dp"
fresh="${db}_restore" old="${db}_before_restore"
rel() { r=$(readlink "$1" 2>/dev/null) || r=; printf '%s' "${r##*/}"; }
link() { ln -sfn "releases/$2" "$1.tmp-$$" && chown -h --reference=releases "$1.tmp-$$" && mv -T "$1.tmp-$$" "$1"; }
cur=$(rel current) prev=$(rel previous)
[ -x "releases/$new/app" ] || die "no release $new on the server"
[ "$(as_pg -c "SELECT count(*) FROM pg_database WHERE datname = '$fresh'")" = 1 ] || die "no restored database $fresh: the restore's first step did not finish"
instances() { systemctl list-units --plain --no-legend --all "$app@*.service" | awk '{print $1}'; }
term() { as_pg -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN ('$db', '$fresh', '$old') AND pid <> pg_backend_pid()" >/dev/null; }
as_pg -c "DROP DATABASE IF EXISTS \"$old\" WITH (FORCE)" 2>/dev/null
t0=$(now)
for u in $(instances); do systemctl stop "$u"; done
say "step instances stopped, the socket queues new connections"
term
if ! as_pg -c "ALTER DATABASE \"$db\" RENAME TO \"$old\"" 2>"$tmpd/err"; then
  [ -n "$cur" ] && systemctl start "$app@$cur.service"
  die "rename $db: $(err); nothing changed"
fi
as_pg -c "ALTER DATABASE \"$fresh\" RENAME TO \"$db\"" 2>"$tmpd/err" || { as_pg -c "ALTER DATABASE \"$old\" RENAME TO \"$db\""; [ -n "$cur" ] && systemctl start "$app@$cur.service"; die "rename $fresh: $(err); nothing changed"; }
say "step $db is the restored database ($old kept until $new is ready)"
if [ "$new" != "$cur" ]; then
  [ "$prev" = "$new" ] && rm -f previous
  link current "$new" && { [ -z "$cur" ] || link previous "$cur"; }
  say "step current -> releases/$new, previous -> ${cur:-none}"
fi
if ! systemctl start "$app@$new.service" 2>"$tmpd/err"; then
  why=$(err)
  systemctl stop "$app@$new.service" 2>/dev/null; systemctl reset-failed "$app@$new.service" 2>/dev/null
  term
  as_pg -c "ALTER DATABASE \"$db\" RENAME TO \"$fresh\"" -c "ALTER DATABASE \"$old\" RENAME TO \"$db\""
  if [ "$new" != "$cur" ] && [ -n "$cur" ]; then link current "$cur"; if [ -n "$prev" ]; then link previous "$prev"; else rm -f previous; fi; fi
  [ -n "$cur" ] && systemctl start "$app@$cur.service"
  die "$app@$new.service did not get ready on the restored database ($why): undone, $db and release ${cur:-none} are back"
fi
down=$(ms "$t0")
systemctl start "$app-current.service" 2>/dev/null
as_pg -c "DROP DATABASE IF EXISTS \"$old\" WITH (FORCE)" 2>/dev/null
if [ "$logp" != - ]; then
  printf '%s release=%s downtime=%sms result=ok\n' "$logp" "$new" "$down" >> deploy.log
  chown --reference=releases deploy.log 2>/dev/null
fi
say "result ok release=$new downtime_ms=$down"`
