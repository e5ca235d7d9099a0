package backup

import "github.com/slipway-dev/slipway/internal/service"

// preamble defines what every server-side script shares. They run as root
// in a transient unit (service.Detached), so the database's credentials are
// read here, on the server, from the env file the app itself reads: they
// go into PG* environment variables of the clients (never their argv, never
// the output), and the clients run as the service user, whose peer or
// password authentication is the app's own.
//
//	dburl FILE   prints $urlvar (the app's database URL variable, set
//	             by withURLVar; DATABASE_URL) as the app gets it: systemd loads FILE
//	             (EnvironmentFile=) for a unit of its own that prints it,
//	             so no shell reading of the file's syntax can differ; 1:
//	             not set, 2: systemd refuses FILE
//	dbenv FILE   exports PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE...
//	             from that DATABASE_URL (postgres:// form), or fails
//	as_app CMD   CMD as the service user ($user), environment kept
//	as_pg SQL... psql as the local postgres superuser (peer), for what the
//	             app's role may not do: create, rename, drop databases
//	die MSG      the one-line failure result
const preamble = `set -u
rm -f "$0"
say() { printf '%s\n' "$*"; }
die() { say "result failed $*"; exit 1; }
now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
as_app() { runuser -u "$user" -- "$@"; }
as_pg() { env -u PGPASSWORD -u PGSSLMODE PGUSER=postgres PGDATABASE=postgres runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
tmpd=$(mktemp -d /run/slipway-backup.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$tmpd"' EXIT
err() { tail -n 3 "$tmpd/err" 2>/dev/null | tr '\n' ' ' | cut -c1-400; }
dburl() {
  systemd-run --pipe --wait --collect --service-type=exec -p EnvironmentFile="$1" /usr/bin/printenv "$urlvar" </dev/null 2>"$tmpd/err" && return 0
  grep -q 'result: resources' "$tmpd/err" && return 2
  return 1
}
dbenv() {
  [ -r "$1" ] || die "no env file $1: run provision, then write $urlvar into it"
  u=$(dburl "$1")
  [ $? = 2 ] && die "systemd can't load $1, so neither can the app: fix the line journalctl -n 20 names (env:list says which)"
  [ -n "$u" ] || die "$1 sets no $urlvar: backups read the app's database from it"
  DBURL=$u awk '` + urlAWK + `' > "$tmpd/pgenv"
  unset u
  while IFS= read -r kv; do
    case $kv in
    ERR\ *) die "${kv#ERR }" ;;
    *) export "$kv" ;;
    esac
  done < "$tmpd/pgenv"
  rm -f "$tmpd/pgenv"
  [ -n "${PGDATABASE:-}" ] || die "$urlvar in $1 names no database"
  case $PGDATABASE in
  *[!A-Za-z0-9_]*) die "database name $PGDATABASE: backups handle names of letters, digits and _ only" ;;
  esac
  export PGAPPNAME=slipway-backup
  db=$PGDATABASE
}
schema_of() {
  PGDATABASE=$1 as_app psql -X -q -At -c 'SELECT COALESCE(max(version_id), 0) FROM goose_db_version' 2>/dev/null || echo 0
}
bk="$dp/backups"
`

// withURLVar puts the env file's database URL variable (validated by
// service.Config: letters, digits, _) in front of script as $urlvar.
func withURLVar(c service.Config, script string) string {
	return "urlvar=" + c.DatabaseURLVar() + "\n" + script
}

// urlAWK turns DBURL (from the environment, not argv) into NAME=value
// lines for libpq's environment variables, percent-decoded; a problem is
// one "ERR ..." line. Query parameters libpq has no variable for (pgx's
// pool_*) are skipped.
const urlAWK = `
function hexval(c) { return index("0123456789abcdef", tolower(c)) - 1 }
function dec(s,   out, i, c) {
  out = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "%" && i + 2 <= length(s)) { out = out sprintf("%c", hexval(substr(s, i + 1, 1)) * 16 + hexval(substr(s, i + 2, 1))); i += 2 }
    else out = out c
  }
  return out
}
function emit(k, v) { if (v ~ /\n/) { print "ERR DATABASE_URL holds a line break"; exit } print k "=" v }
BEGIN {
  u = ENVIRON["DBURL"]
  if (u !~ /^postgres(ql)?:\/\//) { print "ERR DATABASE_URL is not a postgres:// URL: backups read only that form"; exit }
  sub(/^postgres(ql)?:\/\//, "", u)
  q = ""; i = index(u, "?"); if (i) { q = substr(u, i + 1); u = substr(u, 1, i - 1) }
  p = ""; i = index(u, "/"); if (i) { p = substr(u, i + 1); u = substr(u, 1, i - 1) }
  at = 0; for (j = 1; j <= length(u); j++) if (substr(u, j, 1) == "@") at = j
  if (at) {
    ui = substr(u, 1, at - 1); u = substr(u, at + 1)
    i = index(ui, ":")
    if (i) { emit("PGUSER", dec(substr(ui, 1, i - 1))); emit("PGPASSWORD", dec(substr(ui, i + 1))) }
    else emit("PGUSER", dec(ui))
  }
  if (u != "") {
    host = u; port = ""
    if (u ~ /^\[/) { i = index(u, "]"); host = substr(u, 2, i - 2); if (substr(u, i + 1, 1) == ":") port = substr(u, i + 2) }
    else if (u !~ /,/) { i = index(u, ":"); if (i) { host = substr(u, 1, i - 1); port = substr(u, i + 1) } }
    if (host != "") emit("PGHOST", dec(host))
    if (port != "") emit("PGPORT", port)
  }
  if (p != "") emit("PGDATABASE", dec(p))
  env["host"] = "PGHOST"; env["port"] = "PGPORT"; env["user"] = "PGUSER"; env["password"] = "PGPASSWORD"
  env["dbname"] = "PGDATABASE"; env["sslmode"] = "PGSSLMODE"; env["sslrootcert"] = "PGSSLROOTCERT"
  env["sslcert"] = "PGSSLCERT"; env["sslkey"] = "PGSSLKEY"; env["connect_timeout"] = "PGCONNECT_TIMEOUT"
  env["target_session_attrs"] = "PGTARGETSESSIONATTRS"; env["options"] = "PGOPTIONS"
  n = split(q, kv, "&")
  for (k = 1; k <= n; k++) {
    i = index(kv[k], "="); if (!i) continue
    key = substr(kv[k], 1, i - 1)
    if (key in env) emit(env[key], dec(substr(kv[k], i + 1)))
  }
}`

// takeScript dumps the app's database into backups/$5.dump:
// pg_dump --format=custom as the service user into a root-written file,
// read back with pg_restore --list, then chmod 600 and owned like the
// releases (the SSH user: scp can fetch it; the service user can't read
// it), beside a .meta of key=value lines. Refused, with nothing written:
// no pg_dump, a pg_dump older than the server, less free space than twice
// the last backup. Prunes to the newest $8 dumps and, unless a deploy's
// (its line says it), appends a line to deploy.log.
//
// Args: app dp envfile user id release kind keep host.
const takeScript = `app=$1 dp=$2 envf=$3 user=$4 id=$5 release=$6 kind=$7 keep=$8 host=$9
` + preamble + `
command -v pg_dump >/dev/null 2>&1 || die "the server has no pg_dump: apt-get install postgresql-client"
dbenv "$envf"
sv=$(as_app psql -X -q -At -c 'SHOW server_version_num' 2>"$tmpd/err") || die "cannot connect to database $db as ${PGUSER:-$user}: $(err)"
smaj=$((sv / 10000))
dmaj=$(pg_dump --version | awk '{print $3}' | cut -d. -f1)
[ "$dmaj" -ge "$smaj" ] 2>/dev/null || die "pg_dump on the server is version $dmaj but the database server runs $smaj: install postgresql-client-$smaj (pg_dump must be at least the server's major version)"
owner=$(stat -c %u:%g "$dp/releases" 2>/dev/null) || owner=$(stat -c %u:%g "$dp")
install -d -m 700 -o "${owner%:*}" -g "${owner#*:}" "$bk" || die "cannot create $bk"
last=$(ls -t "$bk"/*.dump 2>/dev/null | head -n 1)
if [ -n "$last" ]; then
  lsz=$(stat -c %s "$last")
  # Bytes as digits: awk would print them in exponent notation.
  free=$(df -B1 --output=avail "$bk" | tail -n 1 | tr -d ' ')
  [ "$free" -ge $((2 * lsz)) ] || die "only $((free / 1048576)) MiB free on the disk of $bk, below twice the last backup ($(basename "$last"), $((lsz / 1048576)) MiB): free space or remove old backups there, or set DEPLOY_BACKUP=off"
fi
schema=$(schema_of "$db")
tmp="$bk/.$id.dump.tmp"
t0=$(now)
(umask 077; as_app pg_dump --format=custom --no-password > "$tmp" 2>"$tmpd/err") || { rm -f "$tmp"; die "pg_dump of $db failed: $(err)"; }
pg_restore --list "$tmp" > /dev/null 2>"$tmpd/err" || { rm -f "$tmp"; die "the dump of $db does not read back (pg_restore --list): $(err)"; }
dur=$(ms "$t0")
size=$(stat -c %s "$tmp")
chmod 600 "$tmp" && chown "$owner" "$tmp"
when=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf 'when=%s\nsize=%s\nschema=%s\nrelease=%s\nkind=%s\nduration_ms=%s\ndatabase=%s\n' "$when" "$size" "$schema" "$release" "$kind" "$dur" "$db" > "$bk/.$id.meta.tmp"
chmod 600 "$bk/.$id.meta.tmp" && chown "$owner" "$bk/.$id.meta.tmp"
mv "$bk/.$id.meta.tmp" "$bk/$id.meta" && mv "$tmp" "$bk/$id.dump" || die "cannot write $bk/$id.dump"
pruned=
for f in $(ls -t "$bk"/*.dump | tail -n +$((keep + 1))); do
  b=$(basename "$f" .dump)
  rm -f "$f" "$bk/$b.meta" && pruned="$pruned${pruned:+,}$b"
done
# A deploy's backup goes on the deploy's own line (Info.LogFields).
[ "$kind" = deploy ] || printf '%s backup host=%s id=%s kind=%s release=%s database=%s schema=%s size=%s duration=%sms\n' \
  "$when" "$host" "$id" "$kind" "$release" "$db" "$schema" "$size" "$dur" >> "$dp/deploy.log"
chown "$owner" "$dp/deploy.log" 2>/dev/null
say "result ok id=$id size=$size schema=$schema duration_ms=$dur pruned=${pruned:--}"`

// listScript prints one "backup <id> k=v..." line per dump, newest first.
// Run as the SSH user, who owns the backups.
const listScript = `bk="$1/backups"
[ -d "$bk" ] || exit 0
for f in $(ls -t "$bk"/*.dump 2>/dev/null); do
  id=$(basename "$f" .dump)
  printf 'backup %s file_size=%s %s\n' "$id" "$(stat -c %s "$f")" "$(tr '\n' ' ' < "$bk/$id.meta" 2>/dev/null)"
done`

// prepareScript restores backups/$5.dump into a fresh database
// <db>_restore (any leftover of an interrupted restore is dropped first),
// after pg_restore --list read it whole: a damaged dump is refused before
// any database is touched. The live database is never touched: a restore
// stopped here or before changes nothing the app sees. The restored
// database must hold schema version $6.
//
// Args: app dp envfile user id schema.
const prepareScript = `app=$1 dp=$2 envf=$3 user=$4 id=$5 want=$6
` + preamble + `
dbenv "$envf"
f="$bk/$id.dump"
[ -f "$f" ] || die "no backup $id in $bk"
pg_restore --list "$f" > /dev/null 2>"$tmpd/err" || die "backup $id is damaged, not restored (pg_restore --list: $(err)): pick another with -backup=ID"
fresh="${db}_restore"
t0=$(now)
as_pg -c "DROP DATABASE IF EXISTS \"$fresh\" WITH (FORCE)" -c "CREATE DATABASE \"$fresh\" OWNER \"${PGUSER:-$user}\"" 2>"$tmpd/err" || die "create database $fresh (as the local postgres superuser): $(err)"
if ! PGDATABASE=$fresh as_app pg_restore --exit-on-error --single-transaction --no-owner --no-acl -d "$fresh" < "$f" 2>"$tmpd/err"; then
  as_pg -c "DROP DATABASE IF EXISTS \"$fresh\"" 2>/dev/null
  die "pg_restore of backup $id failed, nothing changed: $(err)"
fi
got=$(schema_of "$fresh")
if [ "$got" != "$want" ]; then
  as_pg -c "DROP DATABASE IF EXISTS \"$fresh\"" 2>/dev/null
  die "the restored database holds schema version $got, the backup's record says $want: nothing changed"
fi
say "result ok database=$fresh schema=$got duration_ms=$(ms "$t0")"`
