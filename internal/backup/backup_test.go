package backup

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// dbenv runs the scripts' dbenv on an env file holding content and
// returns the PG* variables it exported, or the failure line. On the
// server systemd reads the file (dburl); here, without systemd as PID 1,
// dburl gives what envfile.Parse reads in it, which the corpus test in
// internal/deploy holds to systemd's reading on the sandbox.
func dbenv(t *testing.T, content string) (map[string]string, string) {
	t.Helper()
	_, err := exec.LookPath("awk")
	testenv.Need(t, err == nil, "awk (apt-get install mawk)")
	dir := t.TempDir()
	envf := filepath.Join(dir, "app.env")
	if err := os.WriteFile(envf, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := envfile.Parse([]byte(content))
	if err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "script.sh")
	script := withURLVar(service.Config{}, "user=nobody dp="+dir+"\n") + strings.Replace(preamble, "/run/slipway-backup.XXXXXX", dir+"/t.XXXXXX", 1) + `
dburl() { [ -n "${TEST_DBURL+x}" ] && printf '%s' "$TEST_DBURL"; }
dbenv "$1"
env | grep '^PG' | sort`
	if err := os.WriteFile(self, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", self, envf)
	cmd.Env = os.Environ()
	if u, ok := f.Lookup("DATABASE_URL"); ok {
		cmd.Env = append(cmd.Env, "TEST_DBURL="+u)
	}
	out, _ := cmd.CombinedOutput()
	if _, err := os.Stat(self); err == nil {
		t.Error("the script did not remove itself")
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if r, ok := strings.CutPrefix(line, "result failed "); ok {
			return nil, r
		}
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	return vars, ""
}

func TestDbenvTurnsTheURLIntoLibpqVariables(t *testing.T) {
	vars, fail := dbenv(t, "# the app's\nNO_MIGRATE=false\nDATABASE_URL=\"postgres://app:p%40ss%3Aw%20rd@db.example.com:6432/app_prod?sslmode=verify-full&pool_max_conns=4\"\n")
	if fail != "" {
		t.Fatal(fail)
	}
	want := map[string]string{"PGUSER": "app", "PGPASSWORD": "p@ss:w rd", "PGHOST": "db.example.com", "PGPORT": "6432",
		"PGDATABASE": "app_prod", "PGSSLMODE": "verify-full", "PGAPPNAME": "slipway-backup"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, vars[k], v, vars)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("exported %v, want exactly %v", vars, want)
	}
}

func TestDbenvReadsAUnixSocketURL(t *testing.T) {
	vars, fail := dbenv(t, "DATABASE_URL=postgres://app:secret@/app?host=/var/run/postgresql\n")
	if fail != "" {
		t.Fatal(fail)
	}
	if vars["PGHOST"] != "/var/run/postgresql" || vars["PGDATABASE"] != "app" || vars["PGPASSWORD"] != "secret" {
		t.Errorf("vars %v", vars)
	}
}

func TestDbenvRefusesWhatItCannotRead(t *testing.T) {
	for content, want := range map[string]string{
		"PASSWORD_PEPPER=x\n":                              "sets no DATABASE_URL",
		"DATABASE_URL=host=/tmp user=app dbname=app\n":     "not a postgres:// URL",
		"DATABASE_URL=postgres://app@localhost/\n":         "names no database",
		"DATABASE_URL=postgres://app@localhost/app;drop\n": "letters, digits and _ only",
	} {
		_, fail := dbenv(t, content)
		if !strings.Contains(fail, want) || strings.Contains(fail, "\n") {
			t.Errorf("%q: failure %q, want one line with %q", content, fail, want)
		}
	}
}

func TestParseStatusCountsPendingAndTheLatestVersion(t *testing.T) {
	out := []byte(`VERSION  STATE    APPLIED AT (UTC)     FILE
1        applied  2026-01-02 03:04:05  00001_create_users.sql
2        applied  2026-01-02 03:04:05  00002_admin_sessions.sql
3        pending  -                    00003_login_failures_device.sql
4        pending  -                    00004_more.sql
`)
	m, err := parseStatus(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, Migrations{Latest: 4, Applied: 2, Pending: 2, PendingFiles: []string{"00003_login_failures_device.sql", "00004_more.sql"}}) {
		t.Errorf("got %+v", m)
	}
	if _, err := parseStatus([]byte("database unreachable\n")); err == nil {
		t.Error("no rows parsed as no migrations pending")
	}
}

func TestListAndFind(t *testing.T) {
	list := parseList([]byte("backup 20260102T030405Z-0123456789ab file_size=100 when=2026-01-02T03:04:05Z size=100 schema=3 release=20260101T000000Z-aaaaaaaaaaaa kind=deploy duration_ms=250 database=app \n" +
		"backup 20260101T000000Z-manual file_size=50 \n"))
	if len(list) != 2 || list[0].Schema != 3 || list[0].Kind != KindDeploy || list[0].Duration.Milliseconds() != 250 || list[1].Size != 50 {
		t.Fatalf("parsed %+v", list)
	}
	if _, err := Find(list, "20260101T000000Z-manual", "h"); err != nil {
		t.Error(err)
	}
	_, err := Find(list, "nope", "h")
	if err == nil || !strings.Contains(err.Error(), "20260102T030405Z-0123456789ab, 20260101T000000Z-manual") {
		t.Errorf("unknown id: %v", err)
	}
	if got := FreeID(list, "20260102T030405Z-0123456789ab"); got != "20260102T030405Z-0123456789ab-2" {
		t.Errorf("FreeID = %s", got)
	}
}

func TestResultReadsTheLastResultLine(t *testing.T) {
	kv, err := result([]byte("step a\nresult ok id=x size=10\n"))
	if err != nil || kv["size"] != "10" {
		t.Errorf("%v %v", kv, err)
	}
	if _, err := result([]byte("result failed only 3 MiB free\n")); err == nil || err.Error() != "only 3 MiB free" {
		t.Errorf("failure: %v", err)
	}
	if _, err := result([]byte("nothing\n")); err == nil {
		t.Error("no result line accepted")
	}
}
