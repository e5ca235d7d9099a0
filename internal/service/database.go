package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// PostgreSQLMarker is the file provision leaves when it installed
// PostgreSQL itself: only then does it create roles and databases in it. A
// PostgreSQL installed by someone else is theirs; provision only asks for
// the database URL.
const PostgreSQLMarker = "/var/lib/slipway/postgresql-installed-by-provision"

// databaseStateScript prints where the app's database stands: "set" when
// the env file sets the URL variable (systemd reads the file, as for the
// app), else "ours" (PostgreSQL installed by provision), "theirs" (by
// someone else) or "none" (not installed).
const databaseStateScript = `set -eu
envfile=$1 urlvar=$2 marker=$3
if [ -n "$(systemd-run --quiet --pipe --wait --collect -p EnvironmentFile="$envfile" /usr/bin/printenv "$urlvar" </dev/null 2>/dev/null)" ]; then
  echo set
elif [ "$(dpkg-query -W -f '${Status}' postgresql 2>/dev/null)" != "install ok installed" ]; then
  echo none
elif [ -e "$marker" ]; then
  echo ours
else
  echo theirs
fi
`

// installPostgreSQLScript installs PostgreSQL from the distribution's
// packages, quietly (apt's output only when it fails), and marks it as
// provision's.
const installPostgreSQLScript = `set -eu
marker=$1
export DEBIAN_FRONTEND=noninteractive
run() { if ! out=$("$@" 2>&1); then printf '%s\n' "$out" | tail -n 20; echo "$*: failed"; exit 1; fi; }
run apt-get update -q
run apt-get install -y -q -o Dpkg::Options::=--force-confold postgresql
install -d -m 755 "${marker%/*}"
echo "PostgreSQL installed by Slipway's provision: it creates the apps' roles and databases here" > "$marker"
echo "changed: installed PostgreSQL $(dpkg-query -W -f '${Version}' postgresql) from the distribution's packages (apt-get install postgresql)"
`

// createDatabaseScript creates the app's role and database, unless either
// exists: a role provision did not just create has a password it doesn't
// know. The CREATE statements come on stdin (the password as a SCRAM
// verifier, never in an argv). The role logs in over the unix socket with
// its password (a pg_hba.conf line of its own, first: whatever the service
// user's name).
const createDatabaseScript = `set -eu
name=$1
cd /
q() { runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -Atq "$@"; }
i=0
until q -c 'SELECT 1' </dev/null >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 120 ] || { echo "PostgreSQL does not answer after 60 s (pg_lsclusters; journalctl -u postgresql)"; exit 1; }
  sleep 0.5
done
r=$(q -c "SELECT 'role' FROM pg_roles WHERE rolname = '$name'" </dev/null)
d=$(q -c "SELECT 'database' FROM pg_database WHERE datname = '$name'" </dev/null)
if [ -n "$r$d" ]; then echo "exists $r $d"; exit 0; fi
q
echo "changed: PostgreSQL role $name (login; no superuser, createdb or createrole) and database $name owned by it, generated password"
hba=$(q -c 'SHOW hba_file' </dev/null)
line="local $name $name scram-sha-256"
if ! grep -qxF "$line" "$hba"; then
  sed -i "1i $line" "$hba"
  q -c 'SELECT pg_reload_conf()' </dev/null >/dev/null
  echo "changed: $hba: $line (first), PostgreSQL reloaded"
fi
`

// writeEnvScript fills the URL variable and, unless set, PASSWORD_PEPPER
// into the env file, read from stdin (one line each): an empty "VAR=" or a
// "# PASSWORD_PEPPER=" line of the template takes the value, else it is
// appended. Shell builtins only: the values reach no argv.
const writeEnvScript = `set -eu
envfile=$1 urlvar=$2
IFS= read -r url
IFS= read -r pepper
if [ -n "$(systemd-run --quiet --pipe --wait --collect -p EnvironmentFile="$envfile" /usr/bin/printenv PASSWORD_PEPPER </dev/null 2>/dev/null)" ]; then
  pepper= ; what=$urlvar
else
  what="$urlvar and PASSWORD_PEPPER"
fi
tmp=$envfile.provision-tmp
(umask 077; : > "$tmp")
seturl= setpep=
while IFS= read -r line || [ -n "$line" ]; do
  if [ -z "$seturl" ] && [ "$line" = "$urlvar=" ]; then
    printf '%s=%s\n' "$urlvar" "$url"; seturl=1
  elif [ -n "$pepper" ] && [ -z "$setpep" ] && [ "$line" = "# PASSWORD_PEPPER=" ]; then
    printf 'PASSWORD_PEPPER=%s\n' "$pepper"; setpep=1
  else
    printf '%s\n' "$line"
  fi
done < "$envfile" > "$tmp"
[ -n "$seturl" ] || printf '%s=%s\n' "$urlvar" "$url" >> "$tmp"
[ -z "$pepper" ] || [ -n "$setpep" ] || printf 'PASSWORD_PEPPER=%s\n' "$pepper" >> "$tmp"
chown root:root "$tmp"
chmod 600 "$tmp"
mv "$tmp" "$envfile"
echo "changed: $envfile: $what written (generated, not shown; root:root 600)"
`

// ensureDatabase gives the app a database when the env file names none: on
// a server without PostgreSQL it installs it, creates the app's role and
// database (named after the app) with a generated password and writes the
// URL and a generated PASSWORD_PEPPER into the env file. An env file that
// sets the URL (an external database, env:set) is left alone and no
// PostgreSQL installed, as with external (PROVISION_DATABASE=external:
// before env:set could set it); a PostgreSQL installed by someone else gets no new
// role: provision asks for the URL instead.
func ensureDatabase(ctx context.Context, r Runner, c Config, external bool, out io.Writer) (int, error) {
	v := c.DatabaseURLVar()
	todo := fmt.Sprintf("todo: set %s in %s (go run mage.go env:set %s), then deploy", v, c.EnvFile(), v)
	res, err := r.RunRoot(ctx, "sh -c "+quote(databaseStateScript)+" database "+quoteAll(c.EnvFile(), v, PostgreSQLMarker), nil)
	if err != nil {
		return 0, fmt.Errorf("provision database: %w: %s", err, bytes.TrimSpace(res))
	}
	total := 0
	st := strings.TrimSpace(string(res))
	switch {
	case st == "set":
		fmt.Fprintf(out, "ok: %s set in %s: the app uses the database it names; provision installs no PostgreSQL\n", v, c.EnvFile())
		return 0, nil
	case external:
		fmt.Fprintf(out, "%s: the database is external (PROVISION_DATABASE=external), provision installs no PostgreSQL\n", todo)
		return 0, nil
	case st == "theirs":
		fmt.Fprintf(out, "%s: PostgreSQL was installed without provision, which creates no role in it\n", todo)
		return 0, nil
	case st == "none":
		n, err := runScript(ctx, r, "postgresql", installPostgreSQLScript, quote(PostgreSQLMarker), nil, out)
		if err != nil {
			return n, err
		}
		total += n
	case st != "ours":
		return 0, fmt.Errorf("provision database: unexpected answer %q", st)
	}
	pw, err := secret()
	if err != nil {
		return total, err
	}
	verifier, err := scramVerifier(pw)
	if err != nil {
		return total, err
	}
	name := c.AppName
	sql := fmt.Sprintf("CREATE ROLE %q LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '%s';\nCREATE DATABASE %q OWNER %q;\n", name, verifier, name, name)
	var buf bytes.Buffer
	n, err := runScript(ctx, r, "database", createDatabaseScript, quote(name), []byte(sql), &buf)
	total += n
	if err != nil {
		return total, err
	}
	if rest, ok := strings.CutPrefix(strings.TrimSpace(buf.String()), "exists"); ok {
		fmt.Fprintf(out, "%s: %s already in PostgreSQL, with a password provision doesn't know\n", todo, strings.Join(strings.Fields(rest), " and "))
		return total, nil
	}
	io.Copy(out, &buf)
	pepper, err := secret()
	if err != nil {
		return total, err
	}
	url := fmt.Sprintf("postgres://%s:%s@/%s?host=/var/run/postgresql", name, pw, name)
	n, err = runScript(ctx, r, "env", writeEnvScript, quoteAll(c.EnvFile(), v), []byte(url+"\n"+pepper+"\n"), out)
	return total + n, err
}

// secret is 32 random bytes in hex: safe in a URL and an env file as is.
func secret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// scramVerifier is what PostgreSQL stores for password (RFC 5802, 7677;
// PostgreSQL's format): given in CREATE ROLE, the password itself never
// reaches the server's SQL, whatever a log keeps.
func scramVerifier(password string) (string, error) {
	const iter = 4096
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate a salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, enc(salt), enc(stored[:]), enc(mac(salted, "Server Key"))), nil
}
