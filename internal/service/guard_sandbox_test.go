package service

import (
	"bytes"
	"context"
	"github.com/slipway-dev/slipway/internal/remote/remotetest"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/helper/client"
)

// TestProvisionRefusesWhatBelongsToTheServer tries names of units and
// accounts a Debian server already has: each is refused with one line
// naming it, and nothing on the server changes.
func TestProvisionRefusesWhatBelongsToTheServer(t *testing.T) {
	_, r, c, _ := onSandbox(t, "guard", "/home/admin")
	ctx := context.Background()
	// The helper goes in at first use (/usr/local/lib/slipway): installed
	// first, so that the snapshots below see only what provision does.
	if _, err := client.Ready(ctx, r); err != nil {
		t.Fatal(err)
	}
	// A unit an operator wrote by hand, and an account of theirs.
	runRoot(t, r, "printf '[Service]\\nExecStart=/bin/true\\n' > /etc/systemd/system/handmade.service")
	runRoot(t, r, "id -u alice >/dev/null 2>&1 || useradd --create-home --shell /bin/bash alice")
	runRoot(t, r, "id -u svc >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin svc")

	snapshot := func() string {
		return runRoot(t, r, "ls -la /etc/systemd/system /etc | sha256sum; sha256sum /etc/systemd/system/handmade.service; getent passwd | sha256sum; ls /etc/ssh | sha256sum; stat -c '%a' /etc/ssh")
	}
	for _, tc := range []struct {
		name, app, user, want string
	}{
		{"sshd's units", "ssh", "guard", "APP_NAME=ssh: ssh.service"},
		{"an alias of sshd's unit", "sshd", "guard", "APP_NAME=sshd: sshd.service"},
		{"a unit written by hand", "handmade", "guard", "APP_NAME=handmade: handmade.service"},
		{"the SSH user", "guard", "admin", "APP_USER=admin"},
		{"a login account", "guard", "alice", "APP_USER=alice"},
		{"a system service's account", "guard", "svc", "APP_USER=svc"},
		{"sshd's account", "guard", "sshd", "APP_USER=sshd"},
		{"the web server's account", "guard", "www-data", "APP_USER=www-data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := c
			bad.AppName, bad.ServiceUser = tc.app, tc.user
			before := snapshot()
			var out bytes.Buffer
			_, err := Provision(ctx, r, bad, &out)
			if err == nil {
				t.Fatalf("provision with APP_NAME=%s APP_USER=%s was accepted:\n%s", tc.app, tc.user, out.String())
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line starting %q", msg, tc.want)
			}
			if strings.Contains(out.String(), "changed:") {
				t.Errorf("provision changed something before refusing:\n%s", out.String())
			}
			if after := snapshot(); after != before {
				t.Errorf("the server changed:\nbefore %s\nafter  %s", before, after)
			}
			if _, err := Ensure(ctx, r, bad); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Ensure (deploy) = %v, want the same refusal", err)
			}
			if after := snapshot(); after != before {
				t.Errorf("Ensure changed the server")
			}
		})
	}
}

func TestProvisionAdoptsTheUserAnOlderSlipwayMade(t *testing.T) {
	// A folder of its own: /home/admin is the other tests' app's.
	_, r, c, _ := onSandbox(t, "olduser", "/srv/olduser")
	// What provision did before accounts were marked: an unmarked system
	// user, and a unit of ours running as it.
	runRoot(t, r, "useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin olduser")
	units, err := LegacyUnits(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remotetest.RootShell(context.Background(), r, "cat > /etc/systemd/system/olduser.service", bytes.NewReader(units[c.ServiceUnit()])); err != nil {
		t.Fatal(err)
	}
	_, out := provision(t, r, c)
	if !strings.Contains(out, "changed: marked user olduser as Slipway's") {
		t.Errorf("provision output:\n%s", out)
	}
	if got := runRoot(t, r, "getent passwd olduser | cut -d: -f5"); got != UserMarker {
		t.Errorf("GECOS %q, want %q", got, UserMarker)
	}
}
