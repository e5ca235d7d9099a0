package psql

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/testenv"
)

// launchLocally runs launch.pl on this machine as the unit would, with
// DATABASE_URL and a pepper in its environment and, first on PATH, a psql
// that reports what it got: its arguments, its environment, the service
// file and that file's mode.
func launchLocally(t *testing.T, databaseURL string) (string, error) {
	t.Helper()
	perl, err := exec.LookPath("perl")
	testenv.Need(t, err == nil, "perl (apt-get install perl): launch.pl runs psql on the server")
	bin := t.TempDir()
	report := "#!/bin/sh\necho \"argv: $*\"\nenv | sort\necho ---\ncat \"$PGSERVICEFILE\"\nstat -c 'mode %a' \"$PGSERVICEFILE\"\n"
	if err := os.WriteFile(filepath.Join(bin, "psql"), []byte(report), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(perl, "-e", launch, "/etc/app/app.env", "DATABASE_URL", "-c", "select 1")
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "TMPDIR=" + t.TempDir(), "DATABASE_URL=" + databaseURL,
		"PASSWORD_PEPPER=pepper-never-shown", "PGSSLROOTCERT=/etc/ssl/ca.pem", "TERM=xterm"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestLaunchHandsDatabaseURLToPsqlInAPrivateServiceFileOnly(t *testing.T) {
	for url, want := range map[string]string{
		// pgx's pool parameter is not libpq's: dropped.
		"postgres://app:p%40ss%2Fw0rd@/app?host=/var/run/postgresql&pool_max_conns=4":  "[app]\ndbname=app\nhost=/var/run/postgresql\npassword=p@ss/w0rd\nuser=app\n",
		"postgresql://u:p%40ss%2Fw0rd@[::1]:5433,db2:5434/my%20db?sslmode=verify-full": "[app]\ndbname=my db\nhost=::1,db2\npassword=p@ss/w0rd\nport=5433,5434\nsslmode=verify-full\nuser=u\n",
		`host=/tmp user=app dbname=app password='p@ss/w0rd \'q\''`:                     "[app]\ndbname=app\nhost=/tmp\npassword=p@ss/w0rd 'q'\nuser=app\n",
	} {
		out, err := launchLocally(t, url)
		if err != nil {
			t.Fatalf("%s: %v\n%s", url, err, out)
		}
		argv, rest, _ := strings.Cut(out, "\n")
		env, file, _ := strings.Cut(rest, "---\n")
		if argv != "argv: -c select 1" {
			t.Errorf("%s: psql got %q, want the arguments given", url, argv)
		}
		if !strings.HasPrefix(file, want) || !strings.HasSuffix(file, "mode 600\n") {
			t.Errorf("%s: service file\n%s\nwant\n%s(mode 600)", url, file, want)
		}
		for _, w := range []string{"PGSERVICE=app\n", "PSQL_HISTORY=/dev/null\n", "HISTFILE=/dev/null\n", "PGSSLROOTCERT=/etc/ssl/ca.pem\n", "TERM=xterm\n"} {
			if !strings.Contains(env, w) {
				t.Errorf("%s: psql's environment lacks %s", url, w)
			}
		}
		if strings.Contains(env, "p@ss") || strings.Contains(env, "DATABASE_URL") || strings.Contains(env, "pepper") {
			t.Errorf("%s: psql's environment holds the app's secrets:\n%s", url, env)
		}
	}
}

func TestLaunchRefusesADatabaseURLItCannotPassOnWithoutRunningPsql(t *testing.T) {
	for url, want := range map[string]string{
		"":                          "DATABASE_URL is not set in /etc/app/app.env",
		"host=db port":              "neither a postgres:// URL nor key=value pairs",
		"postgres://u:secret%20@h/": "the password value holds a line break or ends in a space",
	} {
		out, err := launchLocally(t, url)
		if err == nil || !strings.Contains(out, want) || strings.Contains(out, "argv:") {
			t.Errorf("%q: %v\n%s\nwant a refusal naming %q, psql not run", url, err, out, want)
		}
		if url != "" && strings.Contains(out, "secret") {
			t.Errorf("%q: the refusal quotes the value:\n%s", url, out)
		}
	}
}
