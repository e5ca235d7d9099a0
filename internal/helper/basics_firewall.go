package helper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// FirewallFile holds the firewall's rules: the table inet slipway, replaced
// whole in one transaction each time it is loaded. Not Debian's
// /etc/nftables.conf, which starts with `flush ruleset` (Docker's and
// fail2ban's rules gone too); FirewallUnit loads it at boot.
const FirewallFile = "/etc/nftables.d/slipway.nft"

// FirewallUnit loads FirewallFile at boot, before the network is up (and
// after Debian's nftables.service, when that is enabled).
const FirewallUnit = "slipway-firewall.service"

// FirewallDropIn makes Debian's nftables.service, whose start and reload
// begin with flush ruleset, load FirewallFile again right after.
const FirewallDropIn = "/etc/systemd/system/nftables.service.d/slipway.conf"

// FirewallTable is the nftables table provision owns; it never touches
// another.
const FirewallTable = "inet slipway"

// WebPorts are the ports the firewall opens beside SSH's.
var WebPorts = []int{80, 443}

// FirewallArgs are provision-firewall's: the port this SSH session came in
// on (0: unknown), which must stay open whatever sshd -T says, and other
// TCP ports to let in (PROVISION_FIREWALL_PORTS: a database or an app
// port other hosts reach).
type FirewallArgs struct {
	SessionPort int   `json:"session_port"`
	Ports       []int `json:"ports,omitempty"`
}

func init() {
	Register("provision-firewall", true, func(ctx context.Context, e *Env, a FirewallArgs) error {
		return firewall(ctx, e, osPrograms{e}, os.Getenv("SSH_CONNECTION"), a)
	})
}

// capNetAdmin bit in /proc/<pid>/status's CapEff (linux/capability.h).
const capNetAdmin = 12

// netAdmin reports whether the helper may change the firewall: a container
// sharing its host's network (systemd-nspawn without --private-network) is
// denied CAP_NET_ADMIN, and rules made there would be the host's.
func netAdmin(e *Env) (bool, error) {
	data, err := os.ReadFile(e.Path("/proc/self/status"))
	if err != nil {
		return false, fmt.Errorf("read the helper's capabilities: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false, fmt.Errorf("CapEff %q: %w", strings.TrimSpace(v), err)
			}
			return caps&(1<<capNetAdmin) != 0, nil
		}
	}
	return false, errors.New("no CapEff line in /proc/self/status")
}

// firewallRules is table inet slipway exactly as `nft list table inet
// slipway` prints it (nftables 1.0.6, Debian 12), so that the listing of
// a loaded table compares equal: input dropped but for replies, loopback,
// the ICMP and ICMPv6 messages IPv4 and IPv6 need (path MTU, neighbour
// discovery, ping), DHCPv6 replies, and tcp to ports, sorted.
func firewallRules(ports []int) string {
	var p []string
	for _, n := range ports {
		p = append(p, strconv.Itoa(n))
	}
	return `table inet slipway {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		iif "lo" accept
		icmp type { destination-unreachable, echo-request, time-exceeded, parameter-problem } accept
		icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept
		ip6 saddr fe80::/10 udp dport 546 accept
		tcp dport { ` + strings.Join(p, ", ") + ` } accept
	}
}
`
}

// firewallFileContent is FirewallFile: the first two lines make sure the
// table exists, then delete it, so the third replaces it whole and loading
// the file twice (ours, and an nftables.conf that includes
// /etc/nftables.d/*.nft) never doubles a rule. nft -f applies a file as
// one transaction: no moment without rules.
func firewallFileContent(rules string) string {
	return "# " + UnitMarker + " (provision): the firewall, loaded by " + FirewallUnit + ".\n" +
		"# PROVISION_FIREWALL=off leaves it alone; to remove it: systemctl disable --now " + FirewallUnit + ";\n" +
		"# nft delete table " + FirewallTable + "; rm " + FirewallFile + " " + FirewallDropIn + "\n" +
		"table inet slipway\ndelete table inet slipway\n" + rules
}

// firewallUnitContent is FirewallUnit, modelled on Debian's
// nftables.service: loaded early, before the network.
func firewallUnitContent() string {
	return `# ` + UnitMarker + ` (provision): loads the firewall, table inet slipway, at boot.
[Unit]
Description=Slipway's firewall (nftables table inet slipway)
Documentation=man:nft(8)
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
Conflicts=shutdown.target
# Debian's nftables.service starts with flush ruleset: after it. Its own
# later starts and reloads load the table again (nftables.service.d/slipway.conf).
After=nftables.service

[Service]
Type=oneshot
RemainAfterExit=yes
StandardInput=null
ProtectSystem=full
ProtectHome=true
ExecStart=/usr/sbin/nft -f ` + FirewallFile + `
ExecReload=/usr/sbin/nft -f ` + FirewallFile + `

[Install]
WantedBy=sysinit.target
`
}

// firewallDropInContent is FirewallDropIn: ExecStartPost and a second
// ExecReload run after the stock commands, which flush every table.
func firewallDropInContent() string {
	return `# ` + UnitMarker + ` (provision): nftables.conf starts with flush ruleset, which
# empties table inet slipway too: load it again after each start and reload.
[Service]
ExecStartPost=/usr/sbin/nft -f ` + FirewallFile + `
ExecReload=/usr/sbin/nft -f ` + FirewallFile + `
`
}

// sameRules compares two listings of a table, blanks aside.
func sameRules(a, b string) bool {
	return slices.Equal(strings.Fields(a), strings.Fields(b))
}

// firewall is provision-firewall: table inet slipway letting in only SSH
// (every port sshd listens on, and the port this session came in on,
// from sshConn or a.SessionPort), 80 and 443, checked with nft -c, then
// applied with nft -f and made to survive a reboot (FirewallFile,
// FirewallUnit). Without CAP_NET_ADMIN it says it skipped. Nothing
// changes when the table, file and unit are already what it would make.
func firewall(ctx context.Context, e *Env, progs programs, sshConn string, a FirewallArgs) error {
	ok, err := netAdmin(e)
	if err != nil {
		return err
	}
	if !ok {
		e.Line("skipped:", "firewall: the helper has no CAP_NET_ADMIN here (a container sharing its host's network: its rules would be the host's); no rule applied")
		e.Result("ok", "skipped")
		return nil
	}
	if a.SessionPort < 0 || a.SessionPort > 65535 {
		return fmt.Errorf("session port %d: want 1-65535, or 0 for unknown", a.SessionPort)
	}
	for _, p := range a.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("PROVISION_FIREWALL_PORTS: port %d: want 1-65535", p)
		}
	}
	conf, err := sshdConfig(ctx, progs)
	if err != nil {
		return fmt.Errorf("firewall: which ports SSH uses: %w: fix sshd's configuration, or set PROVISION_FIREWALL=off", err)
	}
	sshPorts := sshdPorts(conf)
	session := a.SessionPort
	if p := sessionPort(sshConn); p > 0 {
		session = p
	}
	if session > 0 {
		sshPorts = append(sshPorts, session)
	}
	slices.Sort(sshPorts)
	sshPorts = slices.Compact(sshPorts)
	if len(sshPorts) == 0 {
		return errors.New("firewall: sshd -T names no port and the session's is unknown: nothing applied (a firewall would close SSH); set PROVISION_FIREWALL=off")
	}
	ports := append(append(slices.Clone(sshPorts), WebPorts...), a.Ports...)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	rules := firewallRules(ports)
	file, unit := firewallFileContent(rules), firewallUnitContent()
	what := "in only SSH (" + joinPorts(sshPorts) + "), 80 and 443, and replies"
	if len(a.Ports) > 0 {
		extra := slices.Clone(a.Ports)
		slices.Sort(extra)
		what = "in only SSH (" + joinPorts(sshPorts) + "), 80, 443, " + joinPorts(slices.Compact(extra)) + " (PROVISION_FIREWALL_PORTS) and replies"
	}

	if !exists(e.Path("/usr/sbin/nft")) {
		if err := aptInstall(ctx, progs, "nftables", "PROVISION_FIREWALL=off"); err != nil {
			return fmt.Errorf("firewall: %w", err)
		}
		e.Line("changed:", "firewall: installed nftables (apt-get install nftables)")
	}
	listed, _ := progs.run(ctx, program{argv: []string{"/usr/sbin/nft", "list", "table", "inet", "slipway"}})
	onDisk, _ := os.ReadFile(e.Path(FirewallFile))
	unitOnDisk, _ := os.ReadFile(e.Path(path.Join(UnitDir, FirewallUnit)))
	dropIn := firewallDropInContent()
	dropInOnDisk, _ := os.ReadFile(e.Path(FirewallDropIn))
	st, err := e.Sys.Show(ctx, FirewallUnit, "UnitFileState", "ActiveState")
	if err != nil {
		return err
	}
	if sameRules(string(listed), rules) && string(onDisk) == file && string(unitOnDisk) == unit && string(dropInOnDisk) == dropIn &&
		enabledStates[st["UnitFileState"]] && st["ActiveState"] == "active" {
		e.Line("ok:", "firewall: table "+FirewallTable+" lets "+what+" ("+FirewallUnit+")")
		e.Result("ok", "")
		return nil
	}

	// Never lock out: the ports of this session and of sshd are in the
	// rules nft is about to check, or nothing is applied.
	open := openPorts(rules)
	for _, p := range sshPorts {
		if !slices.Contains(open, p) {
			return fmt.Errorf("firewall: SSH's port %d is not in the rules: nothing applied (a bug: report it)", p)
		}
	}
	if err := os.MkdirAll(e.Path(path.Dir(FirewallFile)), 0o755); err != nil {
		return err
	}
	// The new file is checked, applied, and only then put in place of
	// the one loaded at boot.
	next := e.Path(path.Join(path.Dir(FirewallFile), ".slipway.nft.next"))
	if err := writeRootFile(next, []byte(file), 0o644); err != nil {
		return err
	}
	if out, err := progs.run(ctx, program{argv: []string{"/usr/sbin/nft", "-c", "-f", next}}); err != nil {
		os.Remove(next)
		return fmt.Errorf("firewall: nft -c refuses the rules: %s: nothing applied", nftError(out))
	}
	if out, err := progs.run(ctx, program{argv: []string{"/usr/sbin/nft", "-f", next}}); err != nil {
		os.Remove(next)
		return fmt.Errorf("firewall: nft -f: %s: the rules did not apply (one transaction: all or nothing)", nftError(out))
	}
	if err := os.Rename(next, e.Path(FirewallFile)); err != nil {
		return err
	}
	if string(unitOnDisk) != unit || string(dropInOnDisk) != dropIn {
		if err := writeRootFile(e.Path(path.Join(UnitDir, FirewallUnit)), []byte(unit), 0o644); err != nil {
			return err
		}
		if err := os.MkdirAll(e.Path(path.Dir(FirewallDropIn)), 0o755); err != nil {
			return err
		}
		if err := writeRootFile(e.Path(FirewallDropIn), []byte(dropIn), 0o644); err != nil {
			return err
		}
		if err := e.Sys.DaemonReload(ctx); err != nil {
			return err
		}
	}
	if !enabledStates[st["UnitFileState"]] {
		if err := e.Sys.Enable(ctx, FirewallUnit); err != nil {
			return err
		}
	}
	if st["ActiveState"] != "active" {
		// Loads the same file again: the table is replaced by itself.
		if err := e.Sys.Start(ctx, FirewallUnit, true); err != nil {
			return err
		}
	}
	e.Line("changed:", "firewall: table "+FirewallTable+" lets "+what+"; loaded at boot by "+FirewallUnit+" from "+FirewallFile)
	e.Result("ok", "changed")
	return nil
}

// nftError is the line of nft's output that says what is wrong (the
// lines after it quote the rule and point at it).
func nftError(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "Error:") {
			return strings.TrimSpace(l)
		}
	}
	return finalLine(out)
}

// openPorts reads the TCP ports a rendered table accepts back from its
// text: what nft is given is what is checked.
func openPorts(rules string) []int {
	var ports []int
	for _, line := range strings.Split(rules, "\n") {
		set, ok := strings.CutPrefix(strings.TrimSpace(line), "tcp dport { ")
		if !ok {
			continue
		}
		set, _, _ = strings.Cut(set, " }")
		for _, f := range strings.Split(set, ", ") {
			if p, err := strconv.Atoi(f); err == nil {
				ports = append(ports, p)
			}
		}
	}
	return ports
}

func joinPorts(ports []int) string {
	var b bytes.Buffer
	for i, p := range ports {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(p))
	}
	return b.String()
}
