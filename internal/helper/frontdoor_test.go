package helper

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

const debianCaddyfile = "# The Caddyfile is an easy way to configure your Caddy web server.\n\n:80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n"

func TestGlobalOptionsAreReadLikeCaddyReadsThem(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{debianCaddyfile, "none"},
		{"", "none"},
		{"# comment\n{\n\temail a@b.c\n}\n:80 {\n}\n", "block"},
		{"{\n\tadmin unix//run/caddy/admin.sock # ours\n}\n", "admin unix//run/caddy/admin.sock"},
		{"{\n\tservers {\n\t\tadmin off\n\t}\n\tadmin localhost:2019\n}\n", "admin localhost:2019"},
		{"{\n\tlog {\n\t}\n}\n", "block"},
	} {
		if got := globalOptions(tc.file); got != tc.want {
			t.Errorf("globalOptions(%q) = %q, want %q", tc.file, got, tc.want)
		}
	}
}

func TestTheAdminLineGoesIntoTheGlobalOptionsAndNothingElseChanges(t *testing.T) {
	adm := "admin unix//run/caddy/admin.sock"
	got := withAdmin(debianCaddyfile, "none", adm)
	if !strings.HasSuffix(got, "\n{\n\t"+adm+"\n}\n\n"+debianCaddyfile) || globalOptions(got) != adm {
		t.Errorf("no global options before:\n%s", got)
	}
	block := "{\n\temail a@b.c\n}\n" + debianCaddyfile
	got = withAdmin(block, "block", adm)
	if globalOptions(got) != adm || !strings.Contains(got, "\temail a@b.c\n}\n"+debianCaddyfile) {
		t.Errorf("global options before:\n%s", got)
	}
}

func caddyServer(t *testing.T) *fakeServer {
	s := newFakeServer(t)
	s.append("/etc/passwd", fmt.Sprintf("caddy:x:%d:%d:Caddy web server:/var/lib/caddy:/usr/sbin/nologin", s.userID, s.userID))
	s.append("/var/lib/dpkg/status", "\nPackage: caddy\nStatus: install ok installed\nVersion: 2.6.2-5")
	s.write("/etc/caddy/Caddyfile", debianCaddyfile)
	return s
}

func siteArgs(content string) CaddySiteArgs {
	return CaddySiteArgs{Site: "/etc/caddy/sites/shop.caddy", Content: content, Main: "/etc/caddy/Caddyfile", Import: "import /etc/caddy/sites/*.caddy", Socket: "/run/caddy/admin.sock"}
}

func TestCaddySiteTwiceReloadsOnceAndTheSecondChangesNothing(t *testing.T) {
	s := caddyServer(t)
	s.sys.Set("caddy.service", "ActiveState", "active", "UnitFileState", "enabled")
	ctx := context.Background()
	if err := caddySite(ctx, s.e, s.progs, siteArgs("shop.example {\n}\n")); err != nil {
		t.Fatal(err)
	}
	first := s.lines()
	for _, want := range []string{"changed: /etc/caddy/Caddyfile puts Caddy's admin API on /run/caddy/admin.sock", "changed: /etc/caddy/Caddyfile imports /etc/caddy/sites",
		"changed: /etc/caddy/sites/shop.caddy written", "changed: caddy reloaded (graceful)"} {
		if !strings.Contains(first, want) {
			t.Errorf("lacks %q:\n%s", want, first)
		}
	}
	// No admin socket yet: the reload went to localhost:2019, as Caddy.
	if got := s.progs.argvs(); len(got) != 1 || !strings.HasPrefix(got[0], "caddy reload") || s.progs.calls[0].user != "caddy" {
		t.Errorf("programs %q", got)
	}
	main := s.read("/etc/caddy/Caddyfile")
	if globalOptions(main) != "admin unix//run/caddy/admin.sock" || !strings.Contains(main, "\nimport /etc/caddy/sites/*.caddy\n") || !strings.Contains(main, debianCaddyfile) {
		t.Errorf("Caddyfile:\n%s", main)
	}
	if err := caddySite(ctx, s.e, s.progs, siteArgs("shop.example {\n}\n")); err != nil {
		t.Fatal(err)
	}
	if second := s.lines(); strings.Contains(second, "changed:") || !strings.Contains(second, "ok: caddy active, nothing to reload") {
		t.Errorf("second run:\n%s", second)
	}
	if len(s.progs.calls) != 1 || len(s.sys.Called()) != 0 {
		t.Errorf("second run reloaded: %q %q", s.progs.argvs(), s.sys.Called())
	}
}

func TestARefusedCaddyConfigurationPutsTheFilesBack(t *testing.T) {
	s := caddyServer(t)
	s.sys.Set("caddy.service", "ActiveState", "inactive", "UnitFileState", "enabled")
	s.sys.Fail["start caddy.service"] = errors.New("exit status 1")
	s.sys.JournalLines["_SYSTEMD_UNIT=caddy.service"] = []string{`{"level":"error","msg":"listen tcp :443: bind: address already in use"}`, "unrelated"}
	s.write("/etc/caddy/sites/shop.caddy", "old site\n")
	err := caddySite(context.Background(), s.e, s.progs, siteArgs("new site\n"))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	if out := s.lines(); !strings.Contains(out, "result failed caddy does not start: {\"level\":\"error\",\"msg\":\"listen tcp :443: bind: address already in use\"}") {
		t.Errorf("no failure in Caddy's words:\n%s", out)
	}
	if got := s.read("/etc/caddy/Caddyfile"); got != debianCaddyfile {
		t.Errorf("Caddyfile not put back:\n%s", got)
	}
	if got := s.read("/etc/caddy/sites/shop.caddy"); got != "old site\n" {
		t.Errorf("site not put back: %q", got)
	}
}

func TestCaddySiteRefusesAnAdminAddressItDidNotSet(t *testing.T) {
	s := caddyServer(t)
	theirs := "{\n\tadmin localhost:2019\n}\n" + debianCaddyfile
	s.write("/etc/caddy/Caddyfile", theirs)
	if err := caddySite(context.Background(), s.e, s.progs, siteArgs("x\n")); !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	if out := s.lines(); !strings.Contains(out, "say 'admin localhost:2019': Slipway needs 'admin unix//run/caddy/admin.sock'") {
		t.Errorf("got:\n%s", out)
	}
	if s.read("/etc/caddy/Caddyfile") != theirs || exists(s.path("/etc/caddy/sites/shop.caddy")) {
		t.Error("a refusal changed files")
	}
}

func TestCaddyPackageInstallsOnceAndWritesTheDropInOnce(t *testing.T) {
	s := newFakeServer(t)
	s.append("/etc/passwd", fmt.Sprintf("caddy:x:%d:%d::/var/lib/caddy:/usr/sbin/nologin", s.userID, s.userID))
	s.progs.apt = "Package: caddy\nStatus: install ok installed\nVersion: 2.6.2-5\n"
	a := CaddyPackageArgs{DropIn: "/etc/systemd/system/caddy.service.d/slipway.conf", DropInBody: "[Service]\nRuntimeDirectory=caddy"}
	ctx := context.Background()
	if err := caddyPackage(ctx, s.e, s.progs, a); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.Contains(out, "changed: installed caddy 2.6.2-5 from the Debian packages") || !strings.Contains(out, "changed: "+a.DropIn) {
		t.Errorf("first:\n%s", out)
	}
	if m := mode(t, s.path("/run/caddy")); m != 0o700 {
		t.Errorf("/run/caddy mode %o", m)
	}
	if err := caddyPackage(ctx, s.e, s.progs, a); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); strings.Contains(out, "changed:") {
		t.Errorf("second:\n%s", out)
	}
	if got := strings.Join(s.sys.Called(), ","); got != "daemon-reload" {
		t.Errorf("systemd calls %s", got)
	}
}

func TestCaddyStateReadsTheSiteTheAccountAndTheCertificates(t *testing.T) {
	s := caddyServer(t)
	store := "/var/lib/caddy/.local/share/caddy/certificates"
	s.write(store+"/acme.example-directory/shop.example/shop.example.crt", "PEM\n")
	s.write("/etc/caddy/sites/shop.caddy", "site\n")
	s.write("/var/lib/caddy/acme/users/default/default.key", "k")
	if err := caddyState(context.Background(), s.e, CaddyStateArgs{Site: "/etc/caddy/sites/shop.caddy", Storage: store, Domains: []string{"shop.example", "none.example"},
		AccountKey: "/var/lib/caddy/acme/users/default/default.key", AccountReg: "/var/lib/caddy/acme/users/default/default.json"}); err != nil {
		t.Fatal(err)
	}
	out := s.lines()
	for _, want := range []string{"site " + base64.StdEncoding.EncodeToString([]byte("site\n")), "account none",
		"cert shop.example acme.example-directory " + base64.StdEncoding.EncodeToString([]byte("PEM\n"))} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "none.example") || !strings.HasPrefix(out, "time ") {
		t.Errorf("got:\n%s", out)
	}
	if err := caddyState(context.Background(), s.e, CaddyStateArgs{Storage: store, Domains: []string{"../etc"}}); err == nil {
		t.Error("a domain with a slash was read")
	}
}

func TestCaddyProxyNamesTheInstancesThatDoNotHoldTheSocket(t *testing.T) {
	s := newFakeServer(t)
	s.write("/proc/net/unix", "Num       RefCount Protocol Flags    Type St Inode Path\n0000: 00000002 00000000 00010000 0001 01 4242 /run/shop/proxy.sock\n")
	for pid, ino := range map[string]string{"1": "4242", "100": "4242", "200": "9999"} {
		s.mkdir("/proc/" + pid + "/fd")
		if err := os.Symlink("socket:["+ino+"]", s.path("/proc/"+pid+"/fd/3")); err != nil {
			t.Fatal(err)
		}
	}
	s.sys.Set("shop@r1.service", "ActiveState", "active", "MainPID", "100")
	s.sys.Set("shop@r2.service", "ActiveState", "active", "MainPID", "200")
	s.sys.Set("shop@r0.service", "ActiveState", "inactive", "MainPID", "0")
	s.mkdir("/srv/shop/releases/r2")
	if err := os.Symlink("/srv/shop/releases/r2", s.path("/srv/shop/current")); err != nil {
		t.Fatal(err)
	}
	a := CaddyProxyArgs{Unit: "/etc/systemd/system/shop-proxy.socket", UnitBody: "[Socket]\n", Hold: "/etc/systemd/system/shop-proxy-hold.service", HoldBody: "[Service]\n",
		DropIn: "/etc/systemd/system/shop@.service.d/proxy.conf", DropInBody: "[Service]\n", Socket: "/run/shop/proxy.sock", Instances: "shop@*.service", CurrentLink: "/srv/shop/current"}
	ctx := context.Background()
	if err := caddyProxy(ctx, s.e, a); err != nil {
		t.Fatal(err)
	}
	out := s.lines()
	for _, want := range []string{"changed: shop-proxy.socket listening on /run/shop/proxy.sock", "changed: shop-proxy-hold.service active", "without shop@r2.service", "current r2"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "without shop@r1") || strings.Contains(out, "without shop@r0") {
		t.Errorf("an instance holding the socket, or stopped, is named:\n%s", out)
	}
	calls := len(s.sys.Called())
	if err := caddyProxy(ctx, s.e, a); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); strings.Contains(out, "changed:") {
		t.Errorf("second run:\n%s", out)
	}
	if got := s.sys.Called()[calls:]; len(got) != 0 {
		t.Errorf("second run called systemd: %q", got)
	}
}

func TestCaddyRestorePutsTheSiteBackOrRemovesIt(t *testing.T) {
	s := caddyServer(t)
	ctx := context.Background()
	s.write("/etc/caddy/sites/shop.caddy", "new\n")
	if err := caddyRestore(ctx, s.e, CaddyRestoreArgs{Site: "/etc/caddy/sites/shop.caddy", Had: true, Old: "old\n"}); err != nil {
		t.Fatal(err)
	}
	if got := s.read("/etc/caddy/sites/shop.caddy"); got != "old\n" {
		t.Errorf("site %q", got)
	}
	if err := caddyRestore(ctx, s.e, CaddyRestoreArgs{Site: "/etc/caddy/sites/shop.caddy"}); err != nil {
		t.Fatal(err)
	}
	if exists(s.path("/etc/caddy/sites/shop.caddy")) {
		t.Error("a site that wasn't there before stays")
	}
	if got := strings.Join(s.sys.Called(), ","); got != "reload caddy.service,reload caddy.service" {
		t.Errorf("systemd calls %s", got)
	}
}

func TestABrokenAccountIsReportedAndMovedAsideKept(t *testing.T) {
	s := caddyServer(t)
	ctx := context.Background()
	dir := "/var/lib/caddy/acme/ca/users/ops@x"
	s.write(dir+"/ops.key", "k")
	s.write(dir+"/ops.json", "{}")
	s.sys.JournalLines["_SYSTEMD_UNIT=caddy.service"] = []string{`{"msg":"giving up","error":"JWS verification error"}`, `{"msg":"obtained"}`}
	if err := caddyState(ctx, s.e, CaddyStateArgs{AccountKey: dir + "/ops.key", AccountReg: dir + "/ops.json", Mismatch: "jws verification error"}); err != nil {
		t.Fatal(err)
	}
	out := s.lines()
	if !strings.Contains(out, "account stored\n") || !strings.Contains(out, `refused {"msg":"giving up","error":"JWS verification error"}`+"\n") || strings.Contains(out, "obtained") {
		t.Errorf("got:\n%s", out)
	}
	if err := caddyAside(ctx, s.e, CaddyAsideArgs{Dir: dir, Aside: "/var/lib/caddy/aside/ca/ops@x"}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.Contains(out, "changed: Caddy's ACME account moved aside to /var/lib/caddy/aside/ca/ops@x.") {
		t.Errorf("got:\n%s", out)
	}
	if exists(s.path(dir)) {
		t.Error("the account is still in Caddy's storage")
	}
	kept, _ := os.ReadDir(s.path("/var/lib/caddy/aside/ca"))
	if len(kept) != 1 {
		t.Fatalf("aside: %v", kept)
	}
	if got := s.read("/var/lib/caddy/aside/ca/" + kept[0].Name() + "/ops.key"); got != "k" {
		t.Errorf("the key was not kept: %q", got)
	}
}
