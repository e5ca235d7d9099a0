package helper

import (
	"context"
	"strings"
	"testing"
)

const (
	testPassword = "0123456789abcdef0123456789abcdef"
	testPepper   = "fedcba9876543210fedcba9876543210"
)

func databaseArgs() DatabaseArgs {
	return DatabaseArgs{
		EnvFile: "/etc/shop/shop.env", URLVar: "DATABASE_URL", Marker: "/var/lib/slipway/postgresql-installed-by-provision", Name: "shop",
		Verifier: "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy",
		URL:      "postgres://shop:" + testPassword + "@/shop?host=/var/run/postgresql", Pepper: testPepper,
	}
}

func TestDatabaseOnAnEmptyServerInstallsPostgreSQLAndFillsTheEnvFileOnce(t *testing.T) {
	s := newFakeServer(t)
	ctx := context.Background()
	s.write("/etc/shop/shop.env", "# the app's settings\nDATABASE_URL=\n# PASSWORD_PEPPER=\nLOG_FORMAT=json\n")
	if err := database(ctx, s.e, s.progs, databaseArgs()); err != nil {
		t.Fatal(err)
	}
	out := s.lines()
	for _, want := range []string{
		"changed: installed PostgreSQL 15+248 from the distribution's packages (apt-get install postgresql)",
		"changed: PostgreSQL role shop (login; no superuser, createdb or createrole) and database shop owned by it, generated password",
		"changed: /etc/postgresql/15/main/pg_hba.conf: local shop shop scram-sha-256 (first), PostgreSQL reloaded",
		"changed: /etc/shop/shop.env: DATABASE_URL and PASSWORD_PEPPER written (generated, not shown; root:root 600)",
		"result ok created",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testPassword) || strings.Contains(out, testPepper) {
		t.Errorf("a secret is in the output:\n%s", out)
	}
	want := "# the app's settings\nDATABASE_URL=" + databaseArgs().URL + "\nPASSWORD_PEPPER=" + testPepper + "\nLOG_FORMAT=json\n"
	if got := s.read("/etc/shop/shop.env"); got != want {
		t.Errorf("env file:\n%s\nwant:\n%s", got, want)
	}
	if m := mode(t, s.path("/etc/shop/shop.env")); m != 0o600 {
		t.Errorf("env file mode %o", m)
	}
	if got := s.read("/etc/postgresql/15/main/pg_hba.conf"); got != "local shop shop scram-sha-256\nlocal all postgres peer\n" {
		t.Errorf("pg_hba.conf:\n%s", got)
	}
	if !exists(s.path(databaseArgs().Marker)) {
		t.Error("no marker: the next provision would take PostgreSQL for someone else's")
	}
	if len(s.progs.sql) != 1 || !strings.Contains(s.progs.sql[0], `CREATE ROLE "shop" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'SCRAM-SHA-256$4096:`) {
		t.Errorf("SQL sent: %q", s.progs.sql)
	}
	for _, p := range s.progs.calls {
		if argv := strings.Join(p.argv, " "); strings.Contains(argv, testPassword) || strings.Contains(argv, testPepper) || strings.Contains(argv, "SCRAM") {
			t.Errorf("a secret is in an argv: %s", argv)
		}
	}
	calls := len(s.progs.calls)
	if err := database(ctx, s.e, s.progs, databaseArgs()); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "result ok set\n" {
		t.Errorf("second run: %q", out)
	}
	if len(s.progs.calls) != calls {
		t.Errorf("second run ran programs: %q", s.progs.argvs()[calls:])
	}
}

func TestDatabaseCreatesNoRoleInAPostgreSQLProvisionDidNotInstall(t *testing.T) {
	s := newFakeServer(t)
	s.append("/var/lib/dpkg/status", "\nPackage: postgresql\nStatus: install ok installed\nVersion: 15+248")
	s.write("/etc/shop/shop.env", "DATABASE_URL=\n")
	if err := database(context.Background(), s.e, s.progs, databaseArgs()); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "result ok theirs\n" || len(s.progs.calls) != 0 {
		t.Errorf("got %q, programs %q", out, s.progs.argvs())
	}
}

func TestDatabaseExternalInstallsNothing(t *testing.T) {
	s := newFakeServer(t)
	s.write("/etc/shop/shop.env", "DATABASE_URL=\n")
	a := DatabaseArgs{EnvFile: "/etc/shop/shop.env", URLVar: "DATABASE_URL", Marker: databaseArgs().Marker, Name: "shop", External: true}
	if err := database(context.Background(), s.e, s.progs, a); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "result ok external\n" || len(s.progs.calls) != 0 {
		t.Errorf("got %q, programs %q", out, s.progs.argvs())
	}
}

func TestDatabaseLeavesAnExistingRoleAndTheEnvFileAlone(t *testing.T) {
	s := newFakeServer(t)
	s.append("/var/lib/dpkg/status", "\nPackage: postgresql\nStatus: install ok installed\nVersion: 15+248")
	s.write(databaseArgs().Marker, "x\n")
	s.write("/etc/shop/shop.env", "DATABASE_URL=\n")
	s.progs.roles["shop"] = true
	if err := database(context.Background(), s.e, s.progs, databaseArgs()); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "result ok exists role\n" {
		t.Errorf("got %q", out)
	}
	if got := s.read("/etc/shop/shop.env"); got != "DATABASE_URL=\n" || len(s.progs.sql) != 0 {
		t.Errorf("env file %q, SQL %q", got, s.progs.sql)
	}
}

func TestDatabaseKeepsAPepperTheEnvFileSets(t *testing.T) {
	s := newFakeServer(t)
	s.write("/etc/shop/shop.env", "PASSWORD_PEPPER=theirs\n")
	if err := database(context.Background(), s.e, s.progs, databaseArgs()); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.Contains(out, "changed: /etc/shop/shop.env: DATABASE_URL written (generated") {
		t.Errorf("got:\n%s", out)
	}
	if got, want := s.read("/etc/shop/shop.env"), "PASSWORD_PEPPER=theirs\nDATABASE_URL="+databaseArgs().URL+"\n"; got != want {
		t.Errorf("env file %q, want %q", got, want)
	}
}

func TestDatabaseReportsAFailedAptGetWithItsLastLines(t *testing.T) {
	s := newFakeServer(t)
	s.progs.aptFails = true
	err := database(context.Background(), s.e, s.progs, databaseArgs())
	if err == nil || err.Error() != "apt-get update -q: failed" {
		t.Fatalf("err = %v", err)
	}
	if out := s.lines(); !strings.Contains(out, "log E: Unable to locate package postgresql\n") {
		t.Errorf("apt's output not shown:\n%s", out)
	}
	if exists(s.path(databaseArgs().Marker)) {
		t.Error("marker written after a failed install")
	}
}
