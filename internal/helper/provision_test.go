package helper

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeServer is a server for the provision steps' unit tests: a root
// folder with /etc/passwd, /etc/group, the unit folder and dpkg's status,
// a FakeSystemd and fake programs (useradd, usermod, apt-get, psql) that
// change those files as the real ones would.
type fakeServer struct {
	t     *testing.T
	e     *Env
	sys   *FakeSystemd
	out   *bytes.Buffer
	progs *fakePrograms
	// uid and gid of root and of the SSH user: distinct when the tests run
	// as root, the test's own otherwise (chown needs root).
	rootID, userID int
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	root := t.TempDir()
	s := &fakeServer{t: t, sys: NewFakeSystemd(), out: &bytes.Buffer{}}
	s.e = &Env{Root: root, Sys: s.sys, Out: s.out}
	s.progs = &fakePrograms{s: s, roles: map[string]bool{}, dbs: map[string]bool{}}
	s.rootID, s.userID = os.Getuid(), os.Getuid()
	if os.Getuid() == 0 {
		s.userID = 1000
	}
	for _, d := range []string{"/etc/systemd/system", "/var/lib/dpkg", "/home/deployer", "/etc/postgresql/15/main"} {
		s.mkdir(d)
	}
	s.write("/etc/passwd", fmt.Sprintf("root:x:%d:%d:root:/root:/bin/bash\ndeployer:x:%d:%d:Deployer,,,:/home/deployer:/bin/bash\npostgres:x:%d:%d:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n",
		s.rootID, s.rootID, s.userID, s.userID, s.userID+1, s.userID+1))
	s.write("/etc/group", fmt.Sprintf("root:x:%d:\nsudo:x:27:deployer\ndeployer:x:%d:\npostgres:x:%d:\n", s.rootID, s.userID, s.userID+1))
	s.write("/var/lib/dpkg/status", "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\n")
	s.write("/etc/postgresql/15/main/pg_hba.conf", "local all postgres peer\n")
	return s
}

func (s *fakeServer) path(p string) string { return s.e.Path(p) }

func (s *fakeServer) mkdir(p string) {
	s.t.Helper()
	if err := os.MkdirAll(s.path(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
}

func (s *fakeServer) write(p, content string) {
	s.t.Helper()
	s.mkdir(filepath.Dir(p))
	if err := os.WriteFile(s.path(p), []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *fakeServer) read(p string) string {
	s.t.Helper()
	b, err := os.ReadFile(s.path(p))
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

func (s *fakeServer) append(p, line string) {
	s.t.Helper()
	s.write(p, s.read(p)+line+"\n")
}

// lines returns what the steps printed since the last call, and forgets it.
func (s *fakeServer) lines() string {
	out := s.out.String()
	s.out.Reset()
	return out
}

// fakePrograms stands in for the server's programs.
type fakePrograms struct {
	s     *fakeServer
	calls []program
	// PostgreSQL: its roles and databases, the SQL it was sent on stdin.
	roles, dbs map[string]bool
	sql        []string
	aptFails   bool
	// apt is the dpkg status stanza apt-get install adds (PostgreSQL's
	// when empty).
	apt string
}

func (f *fakePrograms) argvs() []string {
	var a []string
	for _, p := range f.calls {
		a = append(a, strings.Join(p.argv, " "))
	}
	return a
}

func (f *fakePrograms) run(_ context.Context, p program) ([]byte, error) {
	f.calls = append(f.calls, p)
	s := f.s
	last := p.argv[len(p.argv)-1]
	switch p.argv[0] {
	case "useradd":
		id := 900 + len(f.calls)
		if os.Getuid() != 0 {
			id = os.Getuid()
		}
		s.append("/etc/passwd", fmt.Sprintf("%s:x:%d:%d:slipway:/nonexistent:/usr/sbin/nologin", last, id, id))
		s.append("/etc/group", fmt.Sprintf("%s:x:%d:", last, id))
	case "usermod":
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(s.read("/etc/passwd")), "\n") {
			if f := strings.Split(l, ":"); f[0] == last {
				f[4] = "slipway"
				l = strings.Join(f, ":")
			}
			lines = append(lines, l)
		}
		s.write("/etc/passwd", strings.Join(lines, "\n")+"\n")
	case "apt-get":
		if f.aptFails {
			return []byte("E: Unable to locate package postgresql\n"), fmt.Errorf("exit status 100")
		}
		if p.argv[1] == "install" {
			stanza := f.apt
			if stanza == "" {
				stanza = "Package: postgresql\nStatus: install ok installed\nVersion: 15+248\n"
			}
			s.append("/var/lib/dpkg/status", stanza)
		}
	case "caddy":
		// caddy reload: Caddy takes the configuration.
	case "systemctl":
		// systemctl status of an inactive unit: its lines, exit status 3
		// (here 1, from test: an *exec.ExitError all the same).
		return []byte("○ shop.socket\n     Active: inactive (dead)\n"), exec.Command("test", "-e", "/nonexistent").Run()
	case "psql":
		if p.user != "postgres" {
			return nil, fmt.Errorf("psql as %q, not postgres", p.user)
		}
		if p.stdin != nil {
			f.sql = append(f.sql, string(p.stdin))
			for _, l := range strings.Split(string(p.stdin), "\n") {
				if fs := strings.Fields(l); len(fs) > 2 && fs[0] == "CREATE" {
					name := strings.Trim(fs[2], `"`)
					if fs[1] == "ROLE" {
						f.roles[name] = true
					} else {
						f.dbs[name] = true
					}
				}
			}
			return nil, nil
		}
		switch q := last; {
		case q == "SELECT 1":
			return []byte("1\n"), nil
		case strings.Contains(q, "FROM pg_roles"):
			for r := range f.roles {
				if strings.Contains(q, "'"+r+"'") {
					return []byte("role\n"), nil
				}
			}
		case strings.Contains(q, "FROM pg_database"):
			for d := range f.dbs {
				if strings.Contains(q, "'"+d+"'") {
					return []byte("database\n"), nil
				}
			}
		case q == "SHOW hba_file":
			return []byte("/etc/postgresql/15/main/pg_hba.conf\n"), nil
		case q == "SELECT pg_reload_conf()":
			return []byte("t\n"), nil
		default:
			return nil, fmt.Errorf("fake psql: no answer for %q", q)
		}
	default:
		return nil, fmt.Errorf("fake programs: no %s", p.argv[0])
	}
	return nil, nil
}

func prepareArgs() PrepareArgs {
	return PrepareArgs{User: "shop", DeployPath: "/srv/shop", EnvDir: "/etc/shop", EnvFile: "/etc/shop/shop.env", EnvTemplate: "DATABASE_URL=\n# PASSWORD_PEPPER=\n"}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestProvisionTwiceChangesNothingTheSecondTime(t *testing.T) {
	s := newFakeServer(t)
	ctx := context.Background()
	if err := prepare(ctx, s.e, s.progs, "deployer", prepareArgs()); err != nil {
		t.Fatal(err)
	}
	first := s.lines()
	for _, want := range []string{"changed: created system user shop", "changed: /srv/shop (deployer:deployer 755)",
		"changed: /srv/shop/releases (deployer:deployer 755)", "changed: /etc/shop (root:root 700)",
		"changed: /etc/shop/shop.env created from the template (root:root 600)", "result ok"} {
		if !strings.Contains(first, want+"\n") {
			t.Errorf("first provision lacks %q:\n%s", want, first)
		}
	}
	if got := mode(t, s.path("/etc/shop")); got != 0o700 {
		t.Errorf("env folder mode %o, want 700", got)
	}
	if got := mode(t, s.path("/etc/shop/shop.env")); got != 0o600 {
		t.Errorf("env file mode %o, want 600", got)
	}
	if got := s.read("/etc/shop/shop.env"); got != prepareArgs().EnvTemplate {
		t.Errorf("env file %q, want the template", got)
	}
	if !strings.Contains(s.read("/etc/passwd"), "shop:x:") {
		t.Error("no account shop in /etc/passwd")
	}
	if err := prepare(ctx, s.e, s.progs, "deployer", prepareArgs()); err != nil {
		t.Fatal(err)
	}
	second := s.lines()
	if strings.Contains(second, "changed:") || !strings.Contains(second, "ok: user shop exists") {
		t.Errorf("second provision changed something:\n%s", second)
	}
	if got := s.progs.argvs(); len(got) != 1 || !strings.HasPrefix(got[0], "useradd --system --user-group --comment slipway ") {
		t.Errorf("programs run %q, want one useradd", got)
	}
}

func TestProvisionNeverRewritesAnExistingEnvFileOnlyItsMode(t *testing.T) {
	s := newFakeServer(t)
	s.mkdir("/etc/shop")
	s.write("/etc/shop/shop.env", "DATABASE_URL=postgres://secret\n")
	if err := prepare(context.Background(), s.e, s.progs, "deployer", prepareArgs()); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.Contains(out, "changed: /etc/shop/shop.env brought back to root:root 600 (content untouched)") {
		t.Errorf("no line for the env file's mode:\n%s", out)
	}
	if got := s.read("/etc/shop/shop.env"); got != "DATABASE_URL=postgres://secret\n" {
		t.Errorf("env file rewritten: %q", got)
	}
	if got := mode(t, s.path("/etc/shop/shop.env")); got != 0o600 {
		t.Errorf("env file mode %o, want 600", got)
	}
}

func TestProvisionMarksTheAccountAnOlderSlipwayMade(t *testing.T) {
	s := newFakeServer(t)
	s.append("/etc/passwd", fmt.Sprintf("shop:x:%d:%d::/nonexistent:/usr/sbin/nologin", s.userID, s.userID))
	if err := prepare(context.Background(), s.e, s.progs, "deployer", prepareArgs()); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.Contains(out, "changed: marked user shop as Slipway's (GECOS slipway)") {
		t.Errorf("account not marked:\n%s", out)
	}
	if got := s.progs.argvs(); len(got) != 1 || got[0] != "usermod --comment slipway -- shop" {
		t.Errorf("programs run %q, want usermod", got)
	}
}

func TestProvisionRefusesBadInputAndChangesNothing(t *testing.T) {
	for name, a := range map[string]PrepareArgs{
		"account":       {User: "Shop;rm", DeployPath: "/srv/shop", EnvDir: "/etc/shop", EnvFile: "/etc/shop/shop.env"},
		"relative path": {User: "shop", DeployPath: "srv/shop", EnvDir: "/etc/shop", EnvFile: "/etc/shop/shop.env"},
		"unclean path":  {User: "shop", DeployPath: "/srv/../etc", EnvDir: "/etc/shop", EnvFile: "/etc/shop/shop.env"},
		"env file":      {User: "shop", DeployPath: "/srv/shop", EnvDir: "/etc/shop", EnvFile: "/etc/other/shop.env"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newFakeServer(t)
			err := prepare(context.Background(), s.e, s.progs, "deployer", a)
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "fix") {
				t.Fatalf("err = %v, want one line naming the fix", err)
			}
			if len(s.progs.calls) != 0 || exists(s.path("/srv/shop")) || exists(s.path("/etc/shop")) {
				t.Errorf("a refused provision changed the server: %q", s.progs.argvs())
			}
		})
	}
}

func TestEnableTurnsTheSocketAndCurrentOnOnce(t *testing.T) {
	s := newFakeServer(t)
	ctx := context.Background()
	a := EnableArgs{Socket: "shop.socket", Current: "shop-current.service"}
	if err := enable(ctx, s.e, a); err != nil {
		t.Fatal(err)
	}
	first := s.lines()
	for _, want := range []string{"changed: shop.socket enabled", "changed: shop.socket started", "changed: shop-current.service enabled (starts the current release at boot)", "changed: shop-current.service started"} {
		if !strings.Contains(first, want+"\n") {
			t.Errorf("lacks %q:\n%s", want, first)
		}
	}
	if err := enable(ctx, s.e, a); err != nil {
		t.Fatal(err)
	}
	if second := s.lines(); strings.Contains(second, "changed:") || !strings.Contains(second, "ok: shop.socket listening") {
		t.Errorf("second enable changed something:\n%s", second)
	}
	want := []string{"enable shop.socket", "start shop.socket", "enable shop-current.service", "start shop-current.service"}
	if got := s.sys.Called(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("systemd calls %q, want %q", got, want)
	}
}

func TestLegacyRetiresTheOldServiceWhenNoReleaseIsCurrent(t *testing.T) {
	s := newFakeServer(t)
	s.write("/etc/systemd/system/shop.service", "# generated by Slipway\n")
	if err := legacy(context.Background(), s.e, LegacyArgs{Unit: "shop.service", CurrentLink: "/srv/shop/current"}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.Contains(out, "changed: retired shop.service (the layout before instances)\nresult ok retired\n") {
		t.Errorf("not retired:\n%s", out)
	}
	if exists(s.path("/etc/systemd/system/shop.service")) {
		t.Error("shop.service still installed")
	}
	if got := strings.Join(s.sys.Called(), ","); got != "disable shop.service,stop shop.service,daemon-reload" {
		t.Errorf("systemd calls %s", got)
	}
	if err := legacy(context.Background(), s.e, LegacyArgs{Unit: "shop.service", CurrentLink: "/srv/shop/current"}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "result ok none\n" {
		t.Errorf("second run: %q", out)
	}
}

func TestLegacyReportsTheCurrentReleaseToHandOverAndTouchesNothing(t *testing.T) {
	s := newFakeServer(t)
	s.write("/etc/systemd/system/shop.service", "# generated by Slipway\n")
	s.mkdir("/srv/shop/releases/r7")
	if err := os.Symlink("/srv/shop/releases/r7", s.path("/srv/shop/current")); err != nil {
		t.Fatal(err)
	}
	if err := legacy(context.Background(), s.e, LegacyArgs{Unit: "shop.service", CurrentLink: "/srv/shop/current"}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "legacy r7\nresult ok legacy\n" {
		t.Errorf("got %q", out)
	}
	if len(s.sys.Called()) != 0 || !exists(s.path("/etc/systemd/system/shop.service")) {
		t.Errorf("the old service was touched: %q", s.sys.Called())
	}
}
