package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

// The server basics provision sets once (issue 28): a firewall
// (provision-firewall, basics_firewall.go), unattended security upgrades
// (provision-upgrades) and sshd's password login (provision-sshd). Each
// prints one "ok:", "changed:", "skipped:" or "warning:" line; the client
// copies them. ssh-session, run as the SSH user, tells the client which
// port its session came in on (sudo drops SSH_CONNECTION).

// SSHDropIn is the drop-in provision-sshd writes to turn password login
// off. sshd takes the first value it reads for a keyword and Debian's
// sshd_config includes sshd_config.d/*.conf at its top, in lexical order:
// "00-" comes first.
const SSHDropIn = "/etc/ssh/sshd_config.d/00-slipway.conf"

// UpgradesConf is the apt.conf.d file provision-upgrades writes when the
// periodic unattended upgrade is off: after Debian's 20auto-upgrades, so
// its values win.
const UpgradesConf = "/etc/apt/apt.conf.d/21slipway-upgrades"

// SSHDArgs are provision-sshd's: TurnOff writes SSHDropIn when sshd allows
// password login (PROVISION_SSH_PASSWORDS=off); without it the step only
// warns.
type SSHDArgs struct {
	TurnOff bool `json:"turn_off"`
}

// UpgradesArgs are provision-upgrades': none.
type UpgradesArgs struct{}

// SessionArgs are ssh-session's: none.
type SessionArgs struct{}

func init() {
	Register("ssh-session", false, func(_ context.Context, e *Env, _ SessionArgs) error {
		if p := sessionPort(os.Getenv("SSH_CONNECTION")); p > 0 {
			e.Result("ok", strconv.Itoa(p))
		} else {
			e.Result("ok", "none")
		}
		return nil
	})
	Register("provision-upgrades", true, func(ctx context.Context, e *Env, a UpgradesArgs) error {
		return upgrades(ctx, e, osPrograms{e}, a)
	})
	Register("provision-sshd", true, func(ctx context.Context, e *Env, a SSHDArgs) error {
		return sshdPasswords(ctx, e, osPrograms{e}, a)
	})
}

// sessionPort is the server's port in SSH_CONNECTION ("client_ip
// client_port server_ip server_port"); 0 when there is none.
func sessionPort(conn string) int {
	f := strings.Fields(conn)
	if len(f) != 4 {
		return 0
	}
	p, err := strconv.Atoi(f[3])
	if err != nil || p < 1 || p > 65535 {
		return 0
	}
	return p
}

// sshdConfig is `sshd -T`: sshd's effective configuration, the drop-ins'
// first-match-wins applied (nothing else tells the truth), as lowercase
// keyword → values, in order.
func sshdConfig(ctx context.Context, progs programs) (map[string][]string, error) {
	out, err := progs.run(ctx, program{argv: []string{"/usr/sbin/sshd", "-T"}})
	if err != nil {
		return nil, fmt.Errorf("sshd -T: %w: %s", err, finalLine(out))
	}
	m := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			m[k] = append(m[k], v)
		}
	}
	return m, nil
}

// sshdPorts are the TCP ports sshd listens on: each ListenAddress's (which
// sshd -T always prints with its port), and each Port.
func sshdPorts(conf map[string][]string) []int {
	var ports []int
	for _, a := range conf["listenaddress"] {
		if i := strings.LastIndex(a, ":"); i >= 0 {
			if p, err := strconv.Atoi(a[i+1:]); err == nil && p > 0 && p < 65536 {
				ports = append(ports, p)
			}
		}
	}
	for _, s := range conf["port"] {
		if p, err := strconv.Atoi(s); err == nil && p > 0 && p < 65536 {
			ports = append(ports, p)
		}
	}
	return ports
}

// passwordLogin lists the keywords by which sshd lets a password in:
// PasswordAuthentication, and KbdInteractiveAuthentication (PAM asks for
// the password there; ChallengeResponseAuthentication before OpenSSH 8.7).
func passwordLogin(conf map[string][]string) []string {
	var on []string
	for _, k := range []string{"passwordauthentication", "kbdinteractiveauthentication", "challengeresponseauthentication"} {
		if v := conf[k]; len(v) > 0 && v[0] == "yes" {
			on = append(on, k+" yes")
		}
	}
	return on
}

// sshdPasswords is provision-sshd: a warning when sshd lets passwords in,
// or, with TurnOff, SSHDropIn written, checked (sshd -t, and sshd -T says
// no) and sshd reloaded. Without TurnOff nothing is touched.
func sshdPasswords(ctx context.Context, e *Env, progs programs, a SSHDArgs) error {
	conf, err := sshdConfig(ctx, progs)
	if err != nil {
		return fmt.Errorf("%w: fix sshd's configuration, or set PROVISION_SSH_PASSWORDS=allow to skip this check", err)
	}
	on := passwordLogin(conf)
	if len(on) == 0 {
		e.Line("ok:", "sshd: password login off (sshd -T: passwordauthentication no, kbdinteractiveauthentication no)")
		e.Result("ok", "off")
		return nil
	}
	if !a.TurnOff {
		e.Line("warning:", "sshd lets passwords in (sshd -T: "+strings.Join(on, ", ")+"): once your key login works, PROVISION_SSH_PASSWORDS=off has provision turn it off")
		e.Result("ok", "warned")
		return nil
	}
	file := e.Path(SSHDropIn)
	old, err := os.ReadFile(file)
	hadOld := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	undo := func() {
		if hadOld {
			_ = writeRootFile(file, old, 0o644)
		} else {
			os.Remove(file)
		}
	}
	if err := os.MkdirAll(e.Path("/etc/ssh/sshd_config.d"), 0o755); err != nil {
		return err
	}
	content := "# " + UnitMarker + " (PROVISION_SSH_PASSWORDS=off): keys only. sshd takes the first value\n" +
		"# it reads, and sshd_config includes this folder first: this file comes first.\n" +
		"PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
	if err := writeRootFile(file, []byte(content), 0o644); err != nil {
		return err
	}
	if out, err := progs.run(ctx, program{argv: []string{"/usr/sbin/sshd", "-t"}}); err != nil {
		undo()
		return fmt.Errorf("sshd -t refuses the configuration with %s: %s: nothing changed, fix sshd's configuration first", SSHDropIn, finalLine(out))
	}
	conf, err = sshdConfig(ctx, progs)
	if err == nil {
		if still := passwordLogin(conf); len(still) > 0 {
			undo()
			return fmt.Errorf("%s did not win (sshd -T still says %s): sshd_config must include sshd_config.d/*.conf before it sets these keywords (Debian's does, at its top); nothing changed", SSHDropIn, strings.Join(still, ", "))
		}
	}
	if err != nil {
		undo()
		return err
	}
	if err := e.Sys.Reload(ctx, "ssh.service"); err != nil {
		undo()
		return fmt.Errorf("reload sshd: %w: %s removed again", err, SSHDropIn)
	}
	e.Line("changed:", "sshd: password login off ("+SSHDropIn+", checked with sshd -t, sshd reloaded; open sessions stay)")
	e.Result("ok", "changed")
	return nil
}

// upgrades is provision-upgrades: unattended-upgrades installed (apt-get,
// when missing), the periodic run on (apt-config's effective values;
// UpgradesConf written when off) and apt's daily timers enabled. A
// configuration naming no security origin gets a warning.
func upgrades(ctx context.Context, e *Env, progs programs, _ UpgradesArgs) error {
	const pkg = "unattended-upgrades"
	installed, version, err := dpkgInstalled(e, pkg)
	if err != nil {
		return err
	}
	if !installed {
		if err := aptInstall(ctx, progs, pkg, "PROVISION_UPGRADES=off"); err != nil {
			return err
		}
		if _, version, err = dpkgInstalled(e, pkg); err != nil {
			return err
		}
		e.Line("changed:", "unattended upgrades: installed "+pkg+" "+version+" (apt-get install "+pkg+")")
	}
	conf, err := aptConfig(ctx, progs)
	if err != nil {
		return err
	}
	if !periodicOn(conf) {
		content := "// " + UnitMarker + " (provision): apt's daily run updates the lists and installs\n" +
			"// the security updates unattended-upgrades allows (PROVISION_UPGRADES=off: leave it alone).\n" +
			"APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"
		if err := os.MkdirAll(e.Path(path.Dir(UpgradesConf)), 0o755); err != nil {
			return err
		}
		if err := writeRootFile(e.Path(UpgradesConf), []byte(content), 0o644); err != nil {
			return err
		}
		if conf, err = aptConfig(ctx, progs); err != nil {
			return err
		}
		if !periodicOn(conf) {
			return fmt.Errorf("unattended upgrades: %s written, but a file after it in /etc/apt/apt.conf.d still turns APT::Periodic::Unattended-Upgrade off: remove that setting, or set PROVISION_UPGRADES=off", UpgradesConf)
		}
		e.Line("changed:", "unattended upgrades: turned on in "+UpgradesConf+" (APT::Periodic::Update-Package-Lists and Unattended-Upgrade \"1\")")
	}
	var timers []string
	for _, t := range []string{"apt-daily.timer", "apt-daily-upgrade.timer"} {
		p, err := e.Sys.Show(ctx, t, "UnitFileState", "ActiveState")
		if err != nil {
			return err
		}
		if !enabledStates[p["UnitFileState"]] {
			if err := e.Sys.Enable(ctx, t); err != nil {
				return err
			}
			timers = append(timers, t+" enabled")
		}
		if p["ActiveState"] != "active" {
			if err := e.Sys.Start(ctx, t, true); err != nil {
				return err
			}
			timers = append(timers, t+" started")
		}
	}
	if len(timers) > 0 {
		e.Line("changed:", "unattended upgrades: "+strings.Join(timers, ", "))
	}
	if !securityOrigin(conf) {
		e.Line("warning:", "unattended upgrades: no origin of unattended-upgrades' configuration names a security archive (Unattended-Upgrade::Origins-Pattern in /etc/apt/apt.conf.d/50unattended-upgrades): security updates will not install by themselves")
	} else {
		e.Line("ok:", "unattended upgrades: "+pkg+" "+version+" installs the security updates daily (apt-daily-upgrade.timer)")
	}
	e.Result("ok", "")
	return nil
}

// aptConfig is `apt-config dump`: apt's effective configuration, every
// file of apt.conf.d applied, as key → values ("Key::" lists gather their
// items under "Key::").
func aptConfig(ctx context.Context, progs programs) (map[string][]string, error) {
	out, err := progs.run(ctx, program{argv: []string{"apt-config", "dump"}})
	if err != nil {
		return nil, fmt.Errorf("apt-config dump: %w: %s", err, finalLine(out))
	}
	m := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		v = strings.TrimSuffix(v, ";")
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		m[k] = append(m[k], v)
	}
	return m, nil
}

// periodicOn: apt's daily run updates the lists and runs
// unattended-upgrade (APT::Periodic values are days; "0" or none is off).
func periodicOn(conf map[string][]string) bool {
	on := func(k string) bool {
		v := conf[k]
		if len(v) == 0 {
			return false
		}
		last := v[len(v)-1]
		return last != "" && last != "0" && last != "false" && last != "no"
	}
	return on("APT::Periodic::Update-Package-Lists") && on("APT::Periodic::Unattended-Upgrade")
}

// securityOrigin: an origin unattended-upgrades takes from is a security
// archive (Debian's "label=Debian-Security", Ubuntu's "-security" pocket).
func securityOrigin(conf map[string][]string) bool {
	for _, k := range []string{"Unattended-Upgrade::Origins-Pattern::", "Unattended-Upgrade::Allowed-Origins::"} {
		for _, v := range conf[k] {
			if strings.Contains(strings.ToLower(v), "security") {
				return true
			}
		}
	}
	return false
}

// aptInstall installs pkg from the distribution's packages, quietly; a
// failure is one line: apt's last error, and optOut, the setting that
// skips what needed pkg.
func aptInstall(ctx context.Context, progs programs, pkg, optOut string) error {
	// A fresh server's first apt-daily run may hold dpkg's lock: wait for
	// it rather than fail.
	lock := []string{"-o", "DPkg::Lock::Timeout=300"}
	for _, argv := range [][]string{
		append([]string{"apt-get", "update", "-q"}, lock...),
		append(append([]string{"apt-get", "install", "-y", "-q", "-o", "Dpkg::Options::=--force-confold"}, lock...), "--", pkg),
	} {
		out, err := progs.run(ctx, program{argv: argv, env: []string{"DEBIAN_FRONTEND=noninteractive"}})
		if err != nil {
			return fmt.Errorf("%s is not installed and apt-get could not install it (%s: %s): is a package mirror reachable from the server? Install it by hand, or set %s", pkg, strings.Join(argv[:2], " "), aptError(out), optOut)
		}
	}
	return nil
}

// aptError is the line of apt's output that says what failed: the first
// "E:" line (a failed fetch names its URL and cause; the last only says
// "Unable to fetch some archives"), else the last line.
func aptError(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") {
			return strings.TrimSpace(l)
		}
	}
	return finalLine(out)
}

// writeRootFile writes a file of the server's configuration, owned by the
// helper's own account (root on a server), through a rename.
func writeRootFile(p string, data []byte, mode os.FileMode) error {
	return writeFileAs(p, data, os.Getuid(), os.Getgid(), mode)
}

// finalLine is out's last non-empty line.
func finalLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
