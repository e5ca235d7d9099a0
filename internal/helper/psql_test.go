package helper

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestPsqlGetsTheDatabaseURLAsLibpqVariablesAndNoneOfTheAppsSettings(t *testing.T) {
	for url, want := range map[string][]string{
		"postgres://app:p%40ss%2Fw0rd@/app?host=/var/run/postgresql&pool_max_conns=4": {"PGDATABASE=app", "PGHOST=/var/run/postgresql", "PGPASSWORD=p@ss/w0rd", "PGUSER=app"},
		`host=/tmp user=app dbname=app password='p@ss/w0rd \'q\''`:                    {"PGHOST=/tmp", "PGPASSWORD=p@ss/w0rd 'q'"},
	} {
		environ := []string{"DATABASE_URL=" + url, "PASSWORD_PEPPER=pepper-never-shown", "TERM=xterm", "PATH=/usr/bin", "PGPASSWORD=stale"}
		argv, env, err := psqlInvocation(PsqlArgs{EnvFile: "/etc/app/app.env", URLVar: "DATABASE_URL", Args: []string{"-v", "ON_ERROR_STOP=1"}}, environ)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if !slices.Equal(argv, []string{"psql", "-v", "ON_ERROR_STOP=1"}) {
			t.Errorf("argv %q", argv)
		}
		for _, w := range append(want, "TERM=xterm", "PATH=/usr/bin", "PSQL_HISTORY=/dev/null", "HISTFILE=/dev/null") {
			if !slices.Contains(env, w) {
				t.Errorf("%s: psql's environment lacks %s: %q", url, w, env)
			}
		}
		all := strings.Join(env, "\n")
		if strings.Contains(all, "DATABASE_URL") || strings.Contains(all, "pepper") || strings.Contains(all, "stale") {
			t.Errorf("%s: psql's environment holds the app's settings: %q", url, env)
		}
	}
}

func TestPsqlRefusesADatabaseURLItCannotPassOnWithoutQuotingIt(t *testing.T) {
	for url, want := range map[string]string{
		"":                            "DATABASE_URL is not set in /etc/app/app.env",
		"host=db port":                "is not a database URL pgx accepts",
		"postgres://u:secret@h/?x=\n": "holds a line break or NUL",
	} {
		_, _, err := psqlInvocation(PsqlArgs{EnvFile: "/etc/app/app.env", URLVar: "DATABASE_URL"}, []string{"DATABASE_URL=" + url})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: %v, want a refusal naming %q without the value", url, err, want)
		}
	}
	if _, _, err := psqlInvocation(PsqlArgs{URLVar: "DATABASE_URL", Args: []string{"-c", "DROP TABLE x"}}, []string{"DATABASE_URL=postgres://h/db"}); err == nil {
		t.Error("psql took an argument other than -v ON_ERROR_STOP=1")
	}
}

// psql's stdin is the user's: its request comes from argv, hex-encoded.
func TestPsqlTakesItsRequestFromArgv(t *testing.T) {
	word, err := ArgvRequest("psql", PsqlArgs{EnvFile: "/etc/app/app.env", URLVar: "bad name"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rc := run(context.Background(), &Env{Root: t.TempDir(), Sys: NewFakeSystemd(), Out: &out}, []string{"psql", word}, strings.NewReader("SELECT 1;\n"))
	if rc != 1 || out.String() != "result failed psql: \"bad name\" is not a variable name\n" {
		t.Fatalf("rc %d, %q", rc, out.String())
	}
	rc = run(context.Background(), &Env{Root: t.TempDir(), Sys: NewFakeSystemd(), Out: &out}, []string{"exec-app", word}, nil)
	if rc != 2 {
		t.Errorf("exec-app took a request from argv: rc %d", rc)
	}
}
