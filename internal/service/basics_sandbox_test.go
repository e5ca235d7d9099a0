package service

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// hostRuleset is this machine's `nft list ruleset`: the shared sandbox's
// network is this machine's.
func hostRuleset(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("nft")
	testenv.Need(t, err == nil, "nft reads this machine's ruleset: apt-get install nftables")
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset on this machine: %v: %s", err, out)
	}
	return string(out)
}

// TestProvisionBasicsOnTheSharedSandbox: on a sandbox sharing this
// machine's network, provision sees it lacks CAP_NET_ADMIN, says it
// skipped the firewall and applies no rule (this machine's ruleset
// unchanged); it warns about sshd's password login and, with
// PROVISION_SSH_PASSWORDS=off, turns it off with a drop-in that wins while
// SSH keeps working; each opt-out prints its skipped line.
func TestProvisionBasicsOnTheSharedSandbox(t *testing.T) {
	sb, r, c, _ := onSandbox(t, "basics", "/srv/basics")
	ctx := context.Background()
	before := hostRuleset(t)
	runRoot(t, r, "printf 'PasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/01-passwords.conf && systemctl reload ssh")
	t.Cleanup(func() {
		runRoot(t, r, "rm -f /etc/ssh/sshd_config.d/01-passwords.conf "+helper.SSHDropIn+" && systemctl reload ssh && systemctl disable --now "+c.SocketUnit()+" "+c.CurrentUnit())
	})
	provisionWith := func(b Basics) string {
		t.Helper()
		var out bytes.Buffer
		if _, err := ProvisionWith(ctx, r, c, ProvisionOptions{Basics: b}, &out); err != nil {
			t.Fatalf("provision: %v\n%s", err, out.String())
		}
		return out.String()
	}

	out := provisionWith(Basics{})
	t.Logf("first provision:\n%s", out)
	for _, want := range []string{
		"\nskipped: firewall: the helper has no CAP_NET_ADMIN here (a container sharing its host's network: its rules would be the host's); no rule applied\n",
		"\nwarning: sshd lets passwords in (sshd -T: passwordauthentication yes): ",
		"\nok: unattended upgrades: unattended-upgrades ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("provision lacks %q", want)
		}
	}
	if after := hostRuleset(t); after != before || strings.Contains(after, "table inet slipway") {
		t.Errorf("this machine's ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := runRoot(t, r, "ls "+helper.FirewallFile+" /etc/systemd/system/"+helper.FirewallUnit+" "+helper.SSHDropIn+" 2>&1 | grep -c 'No such file'"); got != "3" {
		t.Errorf("provision wrote the firewall's file or unit, or an sshd drop-in, without being asked: %s", got)
	}

	out = provisionWith(Basics{SSHPasswords: "off"})
	if !strings.Contains(out, "\nchanged: sshd: password login off ("+helper.SSHDropIn+", checked with sshd -t, sshd reloaded; open sessions stay)\n") {
		t.Errorf("PROVISION_SSH_PASSWORDS=off:\n%s", out)
	}
	if got := runRoot(t, r, "sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '"); got != "passwordauthentication no\nkbdinteractiveauthentication no" {
		t.Errorf("sshd -T after the drop-in: %q", got)
	}
	// The session that ran provision and a new one both still work.
	runRoot(t, r, "true")
	if _, err := sandboxtest.Dial(t, sb).Run(ctx, "true", nil); err != nil {
		t.Errorf("a new SSH session after sshd's reload: %v", err)
	}
	if out := provisionWith(Basics{SSHPasswords: "off"}); !strings.Contains(out, "\nprovision: nothing changed\n") {
		t.Errorf("second provision with PROVISION_SSH_PASSWORDS=off:\n%s", out)
	}
	out = provisionWith(Basics{NoFirewall: true, NoUpgrades: true, SSHPasswords: "allow"})
	for _, want := range []string{"skipped: unattended upgrades (PROVISION_UPGRADES=off)\nskipped: sshd password login check (PROVISION_SSH_PASSWORDS=allow)\nskipped: firewall (PROVISION_FIREWALL=off)\nprovision: nothing changed\n"} {
		if !strings.HasSuffix(out, want) {
			t.Errorf("opt-outs:\n%s", out)
		}
	}
}
