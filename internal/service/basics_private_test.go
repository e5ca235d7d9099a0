package service

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
)

// reachable reports whether a TCP connection to addr completes within 2 s:
// the firewall drops, so a closed port times out.
func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// serverState is what a second provision must leave as it was, read on the
// server: the ruleset, the files provision writes, the packages, and
// whether the units are enabled.
func serverState(t *testing.T, sb *sandbox.Instance, c Config) string {
	t.Helper()
	return sandboxtest.Run(t, sb, "sh", "-c", "nft list ruleset; "+
		"sha256sum "+helper.FirewallFile+" "+helper.FirewallDropIn+" /etc/systemd/system/"+helper.FirewallUnit+" /etc/systemd/system/"+c.AppName+"* "+c.EnvFile()+" /etc/apt/apt.conf.d/* /etc/ssh/sshd_config.d/*; "+
		"dpkg -l; systemctl is-enabled "+helper.FirewallUnit+" apt-daily-upgrade.timer "+c.SocketUnit())
}

// TestFirewallOnAPrivateSandbox is the done-when of issue 28's firewall:
// after provision, measured from this machine, SSH (port 22, and 2222,
// which sshd also listens on), 80 and 443 are reachable and a test port is
// not, although it was before; new connections to the session's SSH port
// never failed while provision ran; a second provision leaves the server's
// state as it was; the table survives Debian's nftables.service (which
// flushes every table), is loaded again by its unit and after a reboot;
// PROVISION_FIREWALL_PORTS opens another port; an offline server without
// unattended-upgrades fails in one line.
func TestFirewallOnAPrivateSandbox(t *testing.T) {
	sb := sandboxtest.Private(t, 2, sandbox.WithPersistentRoot())
	ctx := context.Background()
	// sshd listens on a second port too: the rule follows what sshd -T says.
	sandboxtest.Run(t, sb, "sh", "-c", "printf 'Port 2222\\n' > /etc/ssh/sshd_config.d/01-second-port.conf && systemctl reload ssh")
	const testPort = 8081
	for _, p := range []int{80, 443, testPort} {
		sandboxtest.Run(t, sb, "systemd-run", "--unit=fwtest-"+strconv.Itoa(p), "--", "nc", "-lk", strconv.Itoa(p))
	}
	addr := func(p int) string { return net.JoinHostPort(sb.Host, strconv.Itoa(p)) }
	ports := []int{22, 2222, 80, 443, testPort}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range ports {
		for !reachable(addr(p)) {
			if time.Now().After(deadline) {
				t.Fatalf("before provision, %s is not reachable: the test's listener or sshd isn't up", addr(p))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	cl := sandboxtest.Dial(t, sb)
	c := DefaultConfig()
	c.AppName, c.ServiceUser, c.DeployPath, c.ListenAddr = "fwapp", "fwapp", "/srv/fwapp", "127.0.0.1:8200"

	// New connections to the session's port, every 50 ms while provision runs.
	var (
		mu      sync.Mutex
		tries   int
		refused []string
		quit    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			ok := reachable(addr(22))
			mu.Lock()
			tries++
			if !ok {
				refused = append(refused, time.Now().Format("15:04:05.000"))
			}
			mu.Unlock()
			select {
			case <-quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var out bytes.Buffer
	start := time.Now()
	_, err := ProvisionWith(ctx, cl, c, ProvisionOptions{}, &out)
	took := time.Since(start)
	close(quit)
	<-done
	t.Logf("provision (%s):\n%s", took.Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	mu.Lock()
	t.Logf("port 22 during provision: %d connections, %d failed", tries, len(refused))
	if len(refused) > 0 || tries < 3 {
		t.Errorf("the session's SSH port refused new connections during provision at %v (%d tries)", refused, tries)
	}
	mu.Unlock()
	if want := "\nchanged: firewall: table inet slipway lets in only SSH (22, 2222), 80 and 443, and replies; loaded at boot by slipway-firewall.service from /etc/nftables.d/slipway.nft\n"; !strings.Contains(out.String(), want) {
		t.Errorf("provision lacks %q", want)
	}
	// The session that ran provision still works.
	if _, err := cl.Run(ctx, "true", nil); err != nil {
		t.Errorf("the provisioning session after the firewall: %v", err)
	}
	checkPorts := func(when string) {
		t.Helper()
		for _, p := range ports {
			if got, want := reachable(addr(p)), p != testPort; got != want {
				t.Errorf("%s: %s reachable = %v, want %v", when, addr(p), got, want)
			}
		}
	}
	checkPorts("after provision")

	before := serverState(t, sb, c)
	out.Reset()
	if _, err := ProvisionWith(ctx, cl, c, ProvisionOptions{}, &out); err != nil {
		t.Fatalf("second provision: %v\n%s", err, out.String())
	}
	if after := serverState(t, sb, c); after != before {
		t.Errorf("the second provision changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(out.String(), "\nprovision: nothing changed\n") {
		t.Errorf("second provision:\n%s", out.String())
	}

	// Debian's nftables.service flushes every table when it (re)starts:
	// ours is loaded again after it.
	table := sandboxtest.Run(t, sb, "nft", "list", "table", "inet", "slipway")
	sandboxtest.Run(t, sb, "systemctl", "restart", "nftables.service")
	if got, _ := sb.Run(ctx, "nft", "list", "table", "inet", "slipway"); got != table {
		t.Errorf("after systemctl restart nftables: %q, want the table back", got)
	}

	// What runs at boot: the unit loads the table from the file.
	sandboxtest.Run(t, sb, "nft", "delete", "table", "inet", "slipway")
	sandboxtest.Run(t, sb, "systemctl", "restart", helper.FirewallUnit)
	if got, _ := sb.Run(ctx, "nft", "list", "table", "inet", "slipway"); got != table {
		t.Errorf("after %s started again: %q, want the table", helper.FirewallUnit, got)
	}
	checkPorts("after the table was loaded again")

	// A reboot: the unit loads the table at boot.
	took, err = sb.Reboot(ctx)
	if err != nil {
		t.Fatalf("reboot: %v", err)
	}
	t.Logf("reboot: ready again in %s", took.Round(time.Millisecond))
	if got, _ := sb.Run(ctx, "nft", "list", "table", "inet", "slipway"); got != table {
		t.Errorf("after a reboot: %q, want the table", got)
	}
	for _, p := range []int{80, 443, testPort} {
		sandboxtest.Run(t, sb, "systemd-run", "--unit=fwtest-"+strconv.Itoa(p), "--", "nc", "-lk", strconv.Itoa(p))
		// Up: loopback is let in.
		sandboxtest.Run(t, sb, "sh", "-c", "for i in $(seq 50); do nc -z 127.0.0.1 "+strconv.Itoa(p)+" && exit 0; sleep 0.1; done; exit 1")
	}
	checkPorts("after a reboot")
	cl = sandboxtest.Dial(t, sb)

	// PROVISION_FIREWALL_PORTS opens the test port.
	out.Reset()
	if _, err := ProvisionWith(ctx, cl, c, ProvisionOptions{Basics: Basics{FirewallPorts: []int{testPort}}}, &out); err != nil {
		t.Fatalf("provision with PROVISION_FIREWALL_PORTS: %v\n%s", err, out.String())
	}
	if want := "\nchanged: firewall: table inet slipway lets in only SSH (22, 2222), 80, 443, 8081 (PROVISION_FIREWALL_PORTS) and replies;"; !strings.Contains(out.String(), want) {
		t.Errorf("provision with PROVISION_FIREWALL_PORTS=%d lacks %q:\n%s", testPort, want, out.String())
	}
	if !reachable(addr(testPort)) {
		t.Errorf("PROVISION_FIREWALL_PORTS=%d: %s not reachable", testPort, addr(testPort))
	}
	for _, p := range []int{80, 443, testPort} {
		sandboxtest.Run(t, sb, "systemctl", "stop", "fwtest-"+strconv.Itoa(p))
	}

	// This sandbox reaches no mirror: without unattended-upgrades,
	// provision fails in one line and changes nothing more. (Last: the
	// package stays removed.)
	sandboxtest.Run(t, sb, "dpkg", "--remove", "unattended-upgrades")
	before = serverState(t, sb, c)
	out.Reset()
	start = time.Now()
	_, err = ProvisionWith(ctx, cl, c, ProvisionOptions{}, &out)
	t.Logf("offline provision (%s): %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "unattended-upgrades is not installed and apt-get could not install it") || !strings.Contains(err.Error(), "PROVISION_UPGRADES=off") {
		t.Errorf("offline provision: %v, want one line naming the package and the opt-out\n%s", err, out.String())
	}
	if after := serverState(t, sb, c); after != before {
		t.Errorf("the failed provision changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
