package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
)

// Basics are the server basics provision sets up besides the app (issue
// 28): a firewall letting in only SSH, 80 and 443, unattended security
// upgrades, and a check of sshd's password login. Each is on by default,
// each reported in one line, each with its opt-out.
type Basics struct {
	// NoFirewall leaves the firewall alone (PROVISION_FIREWALL=off).
	NoFirewall bool
	// NoUpgrades leaves unattended upgrades alone (PROVISION_UPGRADES=off).
	NoUpgrades bool
	// SSHPasswords is what provision does when sshd lets passwords in
	// (PROVISION_SSH_PASSWORDS): "" warns, "off" turns them off with a
	// drop-in, "allow" skips the check.
	SSHPasswords string
	// FirewallPorts are TCP ports the firewall lets in besides SSH, 80
	// and 443 (PROVISION_FIREWALL_PORTS): the app's port for a load
	// balancer on another host, a database other hosts use.
	FirewallPorts []int
}

// BasicsFromEnv reads PROVISION_FIREWALL, PROVISION_UPGRADES and
// PROVISION_SSH_PASSWORDS and PROVISION_FIREWALL_PORTS; a value it
// doesn't know is refused in one line.
func BasicsFromEnv(getenv func(string) string) (Basics, error) {
	var b Basics
	onOff := func(name, v string) (bool, error) {
		switch v {
		case "", "on":
			return false, nil
		case "off":
			return true, nil
		default:
			return false, fmt.Errorf("%s=%q: use off (provision leaves it alone) or leave it unset", name, v)
		}
	}
	var err error
	if b.NoFirewall, err = onOff("PROVISION_FIREWALL", getenv("PROVISION_FIREWALL")); err != nil {
		return b, err
	}
	if b.NoUpgrades, err = onOff("PROVISION_UPGRADES", getenv("PROVISION_UPGRADES")); err != nil {
		return b, err
	}
	if v := getenv("PROVISION_FIREWALL_PORTS"); v != "" {
		for _, f := range strings.Split(v, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || p < 1 || p > 65535 {
				return b, fmt.Errorf("PROVISION_FIREWALL_PORTS=%q: %q is not a port: give TCP ports separated by commas, e.g. 5432,8080", v, f)
			}
			b.FirewallPorts = append(b.FirewallPorts, p)
		}
	}
	switch v := getenv("PROVISION_SSH_PASSWORDS"); v {
	case "", "off", "allow":
		b.SSHPasswords = v
	default:
		return b, fmt.Errorf("PROVISION_SSH_PASSWORDS=%q: use off (provision turns sshd's password login off), allow (no check) or leave it unset (a warning)", v)
	}
	return b, nil
}

// provisionBasics sets up the basics b asks for, each as a helper step,
// and copies their lines; it returns the number of changes.
func provisionBasics(ctx context.Context, r Runner, c Config, b Basics, out io.Writer) (int, error) {
	total := 0
	if b.NoUpgrades {
		fmt.Fprintln(out, "skipped: unattended upgrades (PROVISION_UPGRADES=off)")
	} else {
		n, _, err := basicStep(ctx, r, "provision-upgrades", helper.UpgradesArgs{}, out)
		total += n
		if err != nil {
			return total, err
		}
	}
	if b.SSHPasswords == "allow" {
		fmt.Fprintln(out, "skipped: sshd password login check (PROVISION_SSH_PASSWORDS=allow)")
	} else {
		n, _, err := basicStep(ctx, r, "provision-sshd", helper.SSHDArgs{TurnOff: b.SSHPasswords == "off"}, out)
		total += n
		if err != nil {
			return total, err
		}
	}
	if b.NoFirewall {
		fmt.Fprintln(out, "skipped: firewall (PROVISION_FIREWALL=off)")
		return total, nil
	}
	// The port this session came in on stays open whatever sshd -T says
	// (a port forwarded to sshd): the helper reads it from
	// SSH_CONNECTION, which sudo drops, so ask as the SSH user first.
	port := 0
	res, err := client.Call(ctx, r, "ssh-session", helper.SessionArgs{})
	if err != nil {
		return total, fmt.Errorf("ssh-session: %w", err)
	}
	if v, ok := strings.CutPrefix(result(res), "ok "); ok {
		port, _ = strconv.Atoi(v) // "none": not over SSH
	}
	n, st, err := basicStep(ctx, r, "provision-firewall", helper.FirewallArgs{SessionPort: port, Ports: b.FirewallPorts}, out)
	total += n
	if err != nil {
		return total, err
	}
	// The app's socket listens beyond loopback, for other hosts, but the
	// firewall would drop them.
	if host, p, err := net.SplitHostPort(c.ListenAddr); err == nil && st != "ok skipped" {
		ip, _ := netip.ParseAddr(host)
		n, _ := strconv.Atoi(p)
		if !ip.IsLoopback() && !slices.Contains(b.FirewallPorts, n) && !slices.Contains(helper.WebPorts, n) {
			fmt.Fprintf(out, "warning: firewall: APP_LISTEN=%s is reachable from other hosts only with its port in PROVISION_FIREWALL_PORTS (e.g. for a load balancer)\n", c.ListenAddr)
		}
	}
	return total, nil
}

// basicStep runs a basics step, copies its lines, those before a failure
// too, and returns its result; a failure the step explained is that one
// line, without the remote command around it.
func basicStep(ctx context.Context, r Runner, step string, args any, out io.Writer) (changes int, res string, err error) {
	b, err := client.Call(ctx, r, step, args)
	n := copyLines(b, out)
	if err != nil {
		if why, ok := strings.CutPrefix(result(b), "failed "); ok {
			return n, "", errors.New(why)
		}
		return n, "", fmt.Errorf("%s: %w: %s", step, err, bytes.TrimSpace(b))
	}
	return n, result(b), nil
}
