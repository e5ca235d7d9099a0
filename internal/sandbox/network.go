package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Network is a private network for sandboxes: a bridge on this machine holding
// HostAddr (x.y.z.1/24), no NAT, no forwarding out, no default route inside
// the sandboxes. Sandboxes join it with WithNetwork; its owner closes it after
// they are down.
type Network struct {
	// Bridge is the bridge's interface name ("slw" and 8 hex digits).
	Bridge string
	// Prefix is a 10.x.y.0/24 that no address or route of this machine
	// overlapped when it was picked.
	Prefix netip.Prefix
	// HostAddr is .1, this machine's address on the network: where tests'
	// load generators, load balancers and webhook receivers listen.
	HostAddr netip.Addr

	closeOnce sync.Once
	closeErr  error
}

// netLockPath serializes picking a prefix and creating its bridge across
// processes: two test binaries never pick the same free prefix.
const netLockPath = "/run/slipway-sandbox-network.lock"

// netOwnerDir records which process made each bridge ("<pid> <start time>"
// in a file named after it): a bridge whose maker died without Close (a go
// test timeout, a crash) is deleted by the next NewNetwork.
const netOwnerDir = "/run/slipway-sandbox-networks"

// NewNetwork creates a bridge with a free 10.x.y.0/24 and this machine's
// address .1 on it. Packets from the sandboxes are never forwarded beyond it
// (forwarding is off on the bridge), so they reach each other and this
// machine only.
func NewNetwork(ctx context.Context) (*Network, error) {
	if err := CheckPrereqs(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, &PrereqError{Missing: "ip not found: apt-get install iproute2"}
	}
	unlock, err := lockFile(ctx, netLockPath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := os.MkdirAll(netOwnerDir, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	removeOrphanBridges(ctx)
	used, err := usedPrefixes(ctx)
	if err != nil {
		return nil, err
	}
	prefix, err := pickPrefix(used)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	n := &Network{
		Bridge:   "slw" + hex.EncodeToString(b),
		Prefix:   prefix,
		HostAddr: prefix.Addr().Next(),
	}
	steps := [][]string{
		{"link", "add", "name", n.Bridge, "type", "bridge"},
		{"addr", "add", netip.PrefixFrom(n.HostAddr, 24).String(), "dev", n.Bridge},
		{"link", "set", n.Bridge, "up"},
	}
	self, err := readStat(os.Getpid())
	if err != nil {
		return nil, err
	}
	owner := filepath.Join(netOwnerDir, n.Bridge)
	if err := os.WriteFile(owner, fmt.Appendf(nil, "%d %d\n", os.Getpid(), self.startTime), 0o644); err != nil {
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	for i, argv := range steps {
		if err := ip(ctx, argv...); err != nil {
			_ = os.Remove(owner)
			if i > 0 {
				_ = ip(context.WithoutCancel(ctx), "link", "del", n.Bridge)
			}
			return nil, err
		}
		if i == 0 {
			// Nothing that arrives on the bridge is routed on, whatever
			// the machine-wide setting is or becomes; no IPv6 on it.
			for _, f := range []string{
				"/proc/sys/net/ipv4/conf/" + n.Bridge + "/forwarding",
				"/proc/sys/net/ipv6/conf/" + n.Bridge + "/disable_ipv6",
			} {
				v := "0"
				if strings.HasSuffix(f, "disable_ipv6") {
					v = "1"
				}
				if err := os.WriteFile(f, []byte(v), 0o644); err != nil {
					_ = ip(context.WithoutCancel(ctx), "link", "del", n.Bridge)
					_ = os.Remove(owner)
					return nil, fmt.Errorf("sandbox network: %w", err)
				}
			}
		}
	}
	return n, nil
}

// Addr is the address .host of the network (1 is this machine's).
func (n *Network) Addr(host int) netip.Addr {
	a := n.Prefix.Addr().As4()
	a[3] = byte(host)
	return netip.AddrFrom4(a)
}

// Close deletes the bridge. Call it after the sandboxes on it are down (their
// veth ends go with them); it is idempotent.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		if _, err := net.InterfaceByName(n.Bridge); err != nil {
			return
		}
		n.closeErr = ip(context.Background(), "link", "del", n.Bridge)
	})
	if n.closeErr == nil {
		_ = os.Remove(filepath.Join(netOwnerDir, n.Bridge))
	}
	return n.closeErr
}

// removeOrphanBridges deletes the bridges NewNetwork made for a process that
// is gone, once no sandbox is attached to them. The caller holds the lock.
func removeOrphanBridges(ctx context.Context) {
	ents, _ := os.ReadDir(netOwnerDir)
	for _, e := range ents {
		path := filepath.Join(netOwnerDir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var pid int
		var start uint64
		if _, err := fmt.Sscan(string(b), &pid, &start); err == nil && alive(pid, start) {
			continue
		}
		if _, err := net.InterfaceByName(e.Name()); err != nil {
			_ = os.Remove(path)
			continue
		}
		if len(bridgeMembers(e.Name())) > 0 {
			continue
		}
		if ip(ctx, "link", "del", e.Name()) == nil {
			_ = os.Remove(path)
		}
	}
}

// ip runs `ip argv...`; its error names the command and its output.
func ip(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, "ip", argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sandbox network: ip %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// usedPrefixes lists the IPv4 prefixes of this machine's addresses and
// routes (all tables): a network overlapping one of them would shadow it.
func usedPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	var used []netip.Prefix
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("sandbox network: list interfaces: %w", err)
	}
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				used = append(used, p.Masked())
			}
		}
	}
	out, err := exec.CommandContext(ctx, "ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return nil, fmt.Errorf("sandbox network: ip route: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		// "local 10.0.0.1 ...", "broadcast ..." carry a type first.
		dst := f[0]
		if len(f) > 1 && (dst == "local" || dst == "broadcast" || dst == "unicast" || dst == "blackhole" || dst == "unreachable" || dst == "prohibit") {
			dst = f[1]
		}
		if dst == "default" {
			continue
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if p, err := netip.ParsePrefix(dst); err == nil {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

// pickPrefix picks a random 10.x.y.0/24 overlapping none of used. The range
// is 10.64.0.0-10.127.255.0: away from the 10.0.x and 10.1x.x that home and
// cloud networks favour.
func pickPrefix(used []netip.Prefix) (netip.Prefix, error) {
	for range 200 {
		n, err := rand.Int(rand.Reader, big.NewInt(64*256))
		if err != nil {
			return netip.Prefix{}, err
		}
		v := int(n.Int64())
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + v/256), byte(v % 256), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("sandbox network: no free 10.x.y.0/24 found in 10.64.0.0/10 (delete unused bridges: ip link show type bridge)")
}

// networkFile is the systemd-networkd config of the sandbox's host0: a static
// address, no gateway (no route out), no DHCP, no IPv6 autoconfiguration. It
// takes the name of the file systemd ships for host0 (DHCP), masking it.
func networkFile(addr netip.Addr) string {
	return fmt.Sprintf(`[Match]
Kind=veth
Name=host0

[Network]
Address=%s/24
DHCP=no
LinkLocalAddressing=no
IPv6AcceptRA=no
`, addr)
}

// networkFilePath is where networkFile is bind-mounted inside the sandbox.
const networkFilePath = "/etc/systemd/network/80-container-host0.network"

// vethName finds the host end of the sandbox's veth: the interface whose
// index is host0's iflink inside the container.
func (i *Instance) vethName(ctx context.Context) (string, error) {
	out, err := i.Run(ctx, "cat", "/sys/class/net/host0/iflink")
	if err != nil {
		return "", err
	}
	var idx int
	if _, err := fmt.Sscan(strings.TrimSpace(out), &idx); err != nil {
		return "", fmt.Errorf("host0 iflink %q: %w", out, err)
	}
	ifc, err := net.InterfaceByIndex(idx)
	if err != nil {
		return "", fmt.Errorf("the host end of host0 (index %d): %w", idx, err)
	}
	return ifc.Name, nil
}

// bridgeMembers lists the interfaces attached to bridge.
func bridgeMembers(bridge string) []string {
	ents, _ := os.ReadDir(filepath.Join("/sys/class/net", bridge, "brif"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
