package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// basicsServer is a fakeServer whose programs are the basics' (sshd, nft,
// apt-get, apt-config), each changing or reading the temp root as the
// real one would.
type basicsServer struct {
	*fakeServer
	progs *basicsPrograms
}

type basicsPrograms struct {
	s     *fakeServer
	calls []string
	// sshd -T: its lines; passwords says whether they let passwords in
	// when no drop-in of ours wins (dropInLoses: it never does).
	sshdPorts   string
	passwords   bool
	dropInLoses bool
	sshdTFails  bool
	// nft's table inet slipway as `nft list` prints it ("" none);
	// nftRefuses fails nft -c.
	table      string
	nftRefuses bool
	// apt: offline fails apt-get; periodic is 20auto-upgrades' value.
	offline  bool
	periodic string
}

func newBasicsServer(t *testing.T, netAdmin bool) *basicsServer {
	t.Helper()
	s := newFakeServer(t)
	caps := "00000000a80425fb" // systemd-nspawn sharing the host's network: no bit 12
	if netAdmin {
		caps = "000001ffffffffff"
	}
	s.write("/proc/self/status", "Name:\tslipway-helper\nCapInh:\t0000000000000000\nCapEff:\t"+caps+"\n")
	s.write("/usr/sbin/nft", "")
	s.sys.Set("apt-daily.timer", "UnitFileState", "enabled", "ActiveState", "active")
	s.sys.Set("apt-daily-upgrade.timer", "UnitFileState", "enabled", "ActiveState", "active")
	return &basicsServer{fakeServer: s, progs: &basicsPrograms{s: s, sshdPorts: "port 22\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\n", periodic: "1"}}
}

func (p *basicsPrograms) run(_ context.Context, pr program) ([]byte, error) {
	argv := strings.Join(pr.argv, " ")
	p.calls = append(p.calls, argv)
	s := p.s
	fail := errors.New("exit status 1")
	switch {
	case argv == "/usr/sbin/sshd -T":
		if p.sshdTFails {
			return []byte("/etc/ssh/sshd_config line 3: Bad configuration option: Prot\n"), fail
		}
		pw := "yes"
		if !p.passwords || (!p.dropInLoses && exists(s.path(SSHDropIn)) && strings.Contains(s.read(SSHDropIn), "PasswordAuthentication no")) {
			pw = "no"
		}
		return []byte(p.sshdPorts + "passwordauthentication " + pw + "\nkbdinteractiveauthentication no\npubkeyauthentication yes\n"), nil
	case argv == "/usr/sbin/sshd -t":
		return nil, nil
	case argv == "/usr/sbin/nft list table inet slipway":
		if p.table == "" {
			return []byte("Error: No such file or directory\nlist table inet slipway\n"), fail
		}
		return []byte(p.table), nil
	case strings.HasPrefix(argv, "/usr/sbin/nft -c -f "):
		if p.nftRefuses {
			return []byte("/etc/nftables.d/.slipway.nft.next:12:3-9: Error: syntax error, unexpected string\n\t\ttcp dport { 22 } acept\n\t\t                 ^^^^^\n"), fail
		}
		if !strings.Contains(s.read(strings.TrimPrefix(argv[len("/usr/sbin/nft -c -f "):], s.e.Root)), "table inet slipway {") {
			return []byte("Error: no table\n"), fail
		}
		return nil, nil
	case strings.HasPrefix(argv, "/usr/sbin/nft -f "):
		data, err := os.ReadFile(argv[len("/usr/sbin/nft -f "):])
		if err != nil {
			return nil, err
		}
		_, table, _ := strings.Cut(string(data), "delete table inet slipway\n")
		p.table = table
		return nil, nil
	case strings.HasPrefix(argv, "apt-get "):
		if p.offline {
			return []byte("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'\nE: Unable to locate package unattended-upgrades\n"), errors.New("exit status 100")
		}
		if pr.argv[1] == "install" {
			pkg := pr.argv[len(pr.argv)-1]
			s.append("/var/lib/dpkg/status", "\nPackage: "+pkg+"\nStatus: install ok installed\nVersion: 2.9.1+nmu3\n")
			if pkg == "nftables" {
				s.write("/usr/sbin/nft", "")
			}
		}
		return nil, nil
	case argv == "apt-config dump":
		d := fmt.Sprintf("APT \"\";\nAPT::Periodic::Update-Package-Lists %q;\nAPT::Periodic::Unattended-Upgrade %q;\n", p.periodic, p.periodic)
		if exists(s.path(UpgradesConf)) {
			d += "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"
		}
		d += "Unattended-Upgrade::Origins-Pattern \"\";\nUnattended-Upgrade::Origins-Pattern:: \"origin=Debian,codename=${distro_codename},label=Debian-Security\";\n"
		return []byte(d), nil
	}
	return nil, fmt.Errorf("fake programs: no %s", argv)
}

func TestFirewallSkipsWithoutNetAdminAndAppliesNothing(t *testing.T) {
	s := newBasicsServer(t, false)
	if err := firewall(context.Background(), s.e, s.progs, "", FirewallArgs{SessionPort: 22}); err != nil {
		t.Fatal(err)
	}
	out := s.lines()
	if !strings.HasPrefix(out, "skipped: firewall: the helper has no CAP_NET_ADMIN here") || strings.Count(out, "\n") != 2 {
		t.Errorf("want one skipped line, got:\n%s", out)
	}
	if len(s.progs.calls) != 0 || len(s.sys.Called()) != 0 || exists(s.path(FirewallFile)) {
		t.Errorf("a skipped firewall ran %q, systemd %q", s.progs.calls, s.sys.Called())
	}
}

func TestFirewallOpensSSHWebAndTheSessionPortOnceThenChangesNothing(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.sshdPorts = "port 22\nport 2222\nlistenaddress 0.0.0.0:22\nlistenaddress 0.0.0.0:2222\n"
	ctx := context.Background()
	// The session came in on 8022 (a port forwarded to sshd): it stays open.
	if err := firewall(ctx, s.e, s.progs, "203.0.113.9 50022 10.0.0.5 8022", FirewallArgs{SessionPort: 2222}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "changed: firewall: table inet slipway lets in only SSH (22, 2222, 8022), 80 and 443, and replies; loaded at boot by slipway-firewall.service from /etc/nftables.d/slipway.nft\nresult ok changed\n" {
		t.Errorf("first run:\n%s", out)
	}
	if got := openPorts(s.progs.table); fmt.Sprint(got) != "[22 80 443 2222 8022]" {
		t.Errorf("loaded table opens %v\n%s", got, s.progs.table)
	}
	if !strings.Contains(s.progs.table, "policy drop;") || !strings.Contains(s.progs.table, "ct state established,related accept") {
		t.Errorf("table:\n%s", s.progs.table)
	}
	next := s.path("/etc/nftables.d/.slipway.nft.next")
	want := []string{"/usr/sbin/sshd -T", "/usr/sbin/nft list table inet slipway", "/usr/sbin/nft -c -f " + next, "/usr/sbin/nft -f " + next}
	if strings.Join(s.progs.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("programs:\n%s\nwant:\n%s", strings.Join(s.progs.calls, "\n"), strings.Join(want, "\n"))
	}
	if got := strings.Join(s.sys.Called(), ","); got != "daemon-reload,enable slipway-firewall.service,start slipway-firewall.service" {
		t.Errorf("systemd calls %s", got)
	}
	if f := s.read(FirewallFile); !strings.Contains(f, "table inet slipway\ndelete table inet slipway\ntable inet slipway {") || strings.Contains(f, "flush ruleset") {
		t.Errorf("%s:\n%s", FirewallFile, f)
	}
	if u := s.read("/etc/systemd/system/" + FirewallUnit); !strings.Contains(u, "ExecStart=/usr/sbin/nft -f "+FirewallFile) || !strings.Contains(u, "WantedBy=sysinit.target") {
		t.Errorf("unit:\n%s", u)
	}
	if d := s.read(FirewallDropIn); !strings.Contains(d, "\nExecStartPost=/usr/sbin/nft -f "+FirewallFile+"\nExecReload=/usr/sbin/nft -f "+FirewallFile+"\n") {
		t.Errorf("nftables.service drop-in:\n%s", d)
	}
	if exists(next) {
		t.Error("the checked copy was left behind")
	}

	s.progs.calls, s.sys.Calls = nil, nil
	if err := firewall(ctx, s.e, s.progs, "203.0.113.9 50022 10.0.0.5 8022", FirewallArgs{}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); out != "ok: firewall: table inet slipway lets in only SSH (22, 2222, 8022), 80 and 443, and replies (slipway-firewall.service)\nresult ok\n" {
		t.Errorf("second run:\n%s", out)
	}
	if len(s.progs.calls) != 2 || len(s.sys.Called()) != 0 {
		t.Errorf("second run changed something: %q, systemd %q", s.progs.calls, s.sys.Called())
	}

	// sshd moved to another port: the table follows.
	s.progs.sshdPorts = "port 2200\nlistenaddress 0.0.0.0:2200\n"
	if err := firewall(ctx, s.e, s.progs, "203.0.113.9 50022 10.0.0.5 2200", FirewallArgs{}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.HasPrefix(out, "changed: firewall: table inet slipway lets in only SSH (2200), 80 and 443") {
		t.Errorf("after sshd moved:\n%s", out)
	}
	if got := openPorts(s.progs.table); fmt.Sprint(got) != "[80 443 2200]" {
		t.Errorf("loaded table opens %v", got)
	}
}

func TestFirewallWhatNftRefusesChangesNothing(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.nftRefuses = true
	err := firewall(context.Background(), s.e, s.progs, "", FirewallArgs{SessionPort: 22})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "nft -c refuses the rules: /etc/nftables.d/.slipway.nft.next:12:3-9: Error: syntax error, unexpected string: nothing applied") {
		t.Fatalf("err = %v, want one line", err)
	}
	if s.progs.table != "" || exists(s.path(FirewallFile)) || exists(s.path("/etc/nftables.d/.slipway.nft.next")) || exists(s.path("/etc/systemd/system/"+FirewallUnit)) || len(s.sys.Called()) != 0 {
		t.Errorf("a refused table changed the server: programs %q, systemd %q", s.progs.calls, s.sys.Called())
	}
}

func TestFirewallWithoutSSHDPortsRefusesInOneLine(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.sshdTFails = true
	err := firewall(context.Background(), s.e, s.progs, "", FirewallArgs{SessionPort: 22})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "Bad configuration option") || !strings.Contains(err.Error(), "PROVISION_FIREWALL=off") {
		t.Fatalf("err = %v", err)
	}
	if s.progs.table != "" || exists(s.path(FirewallFile)) {
		t.Error("rules applied without knowing SSH's ports")
	}
}

func TestFirewallInstallsNftablesWhenMissingAndSaysSoOfflineInOneLine(t *testing.T) {
	s := newBasicsServer(t, true)
	os.Remove(s.path("/usr/sbin/nft"))
	s.progs.offline = true
	err := firewall(context.Background(), s.e, s.progs, "", FirewallArgs{SessionPort: 22})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "nftables is not installed and apt-get could not install it") || !strings.Contains(err.Error(), "PROVISION_FIREWALL=off") {
		t.Fatalf("err = %v", err)
	}
	s.progs.offline = false
	if err := firewall(context.Background(), s.e, s.progs, "", FirewallArgs{SessionPort: 22}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.HasPrefix(out, "changed: firewall: installed nftables (apt-get install nftables)\nchanged: firewall: table inet slipway lets in only SSH (22), 80 and 443") {
		t.Errorf("got:\n%s", out)
	}
}

func TestFirewallRulesAreNftsOwnListing(t *testing.T) {
	// nft list table prints sets sorted and ICMP types in numeric order:
	// the rendered table must be that text, or every provision would
	// apply it again. Measured with nftables 1.0.6 (Debian 12).
	r := firewallRules([]int{22, 80, 443})
	for _, want := range []string{
		"\t\ticmp type { destination-unreachable, echo-request, time-exceeded, parameter-problem } accept\n",
		"\t\ttcp dport { 22, 80, 443 } accept\n",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("rules lack %q:\n%s", want, r)
		}
	}
	if !sameRules(r, strings.ReplaceAll(r, "\t", "    ")) || sameRules(r, firewallRules([]int{22, 80})) {
		t.Error("sameRules compares blanks or misses a port")
	}
}

func TestNetAdminReadsCapEff(t *testing.T) {
	for caps, want := range map[string]bool{"000001ffffffffff": true, "00000000a80425fb": false, "0000000000001000": true} {
		s := newFakeServer(t)
		s.write("/proc/self/status", "CapEff:\t"+caps+"\n")
		if got, err := netAdmin(s.e); err != nil || got != want {
			t.Errorf("CapEff %s: %v, %v; want %v", caps, got, err, want)
		}
	}
}

func TestSessionPortIsSSHConnectionsServerPort(t *testing.T) {
	for conn, want := range map[string]int{"10.0.0.1 50000 10.0.0.5 22": 22, "::1 40000 ::1 2222": 2222, "": 0, "a b c d": 0, "1 2 3 70000": 0} {
		if got := sessionPort(conn); got != want {
			t.Errorf("sessionPort(%q) = %d, want %d", conn, got, want)
		}
	}
}

func TestUpgradesInstallsAndTurnsOnOnceThenChangesNothing(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.periodic = "0"
	s.sys.Set("apt-daily-upgrade.timer", "UnitFileState", "disabled", "ActiveState", "inactive")
	ctx := context.Background()
	if err := upgrades(ctx, s.e, s.progs, UpgradesArgs{}); err != nil {
		t.Fatal(err)
	}
	want := "changed: unattended upgrades: installed unattended-upgrades 2.9.1+nmu3 (apt-get install unattended-upgrades)\n" +
		"changed: unattended upgrades: turned on in /etc/apt/apt.conf.d/21slipway-upgrades (APT::Periodic::Update-Package-Lists and Unattended-Upgrade \"1\")\n" +
		"changed: unattended upgrades: apt-daily-upgrade.timer enabled, apt-daily-upgrade.timer started\n" +
		"ok: unattended upgrades: unattended-upgrades 2.9.1+nmu3 installs the security updates daily (apt-daily-upgrade.timer)\nresult ok\n"
	if out := s.lines(); out != want {
		t.Errorf("first run:\n%s\nwant:\n%s", out, want)
	}
	s.progs.calls, s.sys.Calls = nil, nil
	if err := upgrades(ctx, s.e, s.progs, UpgradesArgs{}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); strings.Contains(out, "changed:") || !strings.HasPrefix(out, "ok: unattended upgrades: ") {
		t.Errorf("second run:\n%s", out)
	}
	if fmt.Sprint(s.progs.calls) != "[apt-config dump]" || len(s.sys.Called()) != 0 {
		t.Errorf("second run ran %q, systemd %q", s.progs.calls, s.sys.Called())
	}
}

func TestUpgradesOfflineIsOneClearLine(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.offline = true
	err := upgrades(context.Background(), s.e, s.progs, UpgradesArgs{})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want one line", err)
	}
	for _, want := range []string{"unattended-upgrades is not installed and apt-get could not install it", "E: Unable to locate package unattended-upgrades", "mirror", "PROVISION_UPGRADES=off"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err lacks %q: %v", want, err)
		}
	}
	if exists(s.path(UpgradesConf)) || len(s.sys.Called()) != 0 || s.lines() != "" {
		t.Error("an offline server was changed")
	}
}

func TestUpgradesWarnsWithoutASecurityOrigin(t *testing.T) {
	conf := map[string][]string{"Unattended-Upgrade::Origins-Pattern::": {"origin=Debian,codename=${distro_codename}-updates"}}
	if securityOrigin(conf) {
		t.Error("an -updates origin taken for a security one")
	}
	conf["Unattended-Upgrade::Origins-Pattern::"] = append(conf["Unattended-Upgrade::Origins-Pattern::"], "origin=Debian,codename=${distro_codename},label=Debian-Security")
	if !securityOrigin(conf) {
		t.Error("Debian's security origin not seen")
	}
}

func TestSSHDPasswordsWarnWithoutTheFlagAndTouchNothing(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.passwords = true
	if err := sshdPasswords(context.Background(), s.e, s.progs, SSHDArgs{}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.HasPrefix(out, "warning: sshd lets passwords in (sshd -T: passwordauthentication yes): ") || !strings.Contains(out, "PROVISION_SSH_PASSWORDS=off") {
		t.Errorf("got:\n%s", out)
	}
	if exists(s.path(SSHDropIn)) || len(s.sys.Called()) != 0 {
		t.Error("sshd touched without the flag")
	}
}

func TestSSHDPasswordsTurnedOffByADropInThatWins(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.passwords = true
	ctx := context.Background()
	if err := sshdPasswords(ctx, s.e, s.progs, SSHDArgs{TurnOff: true}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.HasPrefix(out, "changed: sshd: password login off (/etc/ssh/sshd_config.d/00-slipway.conf, checked with sshd -t, sshd reloaded") {
		t.Errorf("got:\n%s", out)
	}
	if f := s.read(SSHDropIn); !strings.Contains(f, "\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n") {
		t.Errorf("drop-in:\n%s", f)
	}
	if got := fmt.Sprint(s.progs.calls); got != "[/usr/sbin/sshd -T /usr/sbin/sshd -t /usr/sbin/sshd -T]" {
		t.Errorf("programs %s", got)
	}
	if got := fmt.Sprint(s.sys.Called()); got != "[reload ssh.service]" {
		t.Errorf("systemd %s", got)
	}
	s.sys.Calls = nil
	if err := sshdPasswords(ctx, s.e, s.progs, SSHDArgs{TurnOff: true}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.HasPrefix(out, "ok: sshd: password login off") || len(s.sys.Called()) != 0 {
		t.Errorf("second run:\n%s", out)
	}
}

func TestSSHDDropInThatLosesIsTakenBack(t *testing.T) {
	s := newBasicsServer(t, true)
	s.progs.passwords, s.progs.dropInLoses = true, true
	err := sshdPasswords(context.Background(), s.e, s.progs, SSHDArgs{TurnOff: true})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "did not win (sshd -T still says passwordauthentication yes)") {
		t.Fatalf("err = %v", err)
	}
	if exists(s.path(SSHDropIn)) || len(s.sys.Called()) != 0 {
		t.Error("a drop-in that changes nothing was left, or sshd reloaded")
	}
}

func TestSSHSessionAnswersTheSessionsPortAsTheSSHUser(t *testing.T) {
	if NeedsRoot("ssh-session") {
		t.Error("ssh-session runs through sudo, which drops SSH_CONNECTION")
	}
	t.Setenv("SSH_CONNECTION", "10.83.65.1 40522 10.83.65.2 2222")
	if out, rc := runStep(t, Env{Root: t.TempDir()}, "ssh-session", SessionArgs{}); rc != 0 || out != "result ok 2222\n" {
		t.Errorf("got %q (exit %d)", out, rc)
	}
	t.Setenv("SSH_CONNECTION", "")
	if out, _ := runStep(t, Env{Root: t.TempDir()}, "ssh-session", SessionArgs{}); out != "result ok none\n" {
		t.Errorf("without SSH: %q", out)
	}
}

func TestFirewallOpensTheExtraPortsAndRefusesABadOne(t *testing.T) {
	s := newBasicsServer(t, true)
	if err := firewall(context.Background(), s.e, s.progs, "", FirewallArgs{SessionPort: 22, Ports: []int{8080, 5432}}); err != nil {
		t.Fatal(err)
	}
	if out := s.lines(); !strings.HasPrefix(out, "changed: firewall: table inet slipway lets in only SSH (22), 80, 443, 5432, 8080 (PROVISION_FIREWALL_PORTS) and replies;") {
		t.Errorf("got:\n%s", out)
	}
	if got := openPorts(s.progs.table); fmt.Sprint(got) != "[22 80 443 5432 8080]" {
		t.Errorf("loaded table opens %v", got)
	}
	s = newBasicsServer(t, true)
	err := firewall(context.Background(), s.e, s.progs, "", FirewallArgs{SessionPort: 22, Ports: []int{70000}})
	if err == nil || !strings.Contains(err.Error(), "PROVISION_FIREWALL_PORTS: port 70000") || len(s.progs.calls) != 0 {
		t.Errorf("err = %v, programs %q", err, s.progs.calls)
	}
}
