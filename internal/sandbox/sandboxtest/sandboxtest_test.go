package sandboxtest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestGetGivesOneBootedSandboxPerBinary(t *testing.T) {
	sb := Get(t)
	if again := Get(t); again != sb {
		t.Fatalf("second Get booted another sandbox")
	}
	if got := strings.TrimSpace(Run(t, sb, "systemctl", "is-system-running")); got != "running" {
		t.Errorf("systemctl is-system-running: %q", got)
	}
	if _, err := exec.LookPath("ssh"); err == nil {
		out, err := exec.CommandContext(t.Context(), "ssh", "-F", sb.ConfigPath, "-o", "BatchMode=yes", sb.Alias, "sudo -n systemctl is-active ssh postgresql").CombinedOutput()
		if err != nil || string(out) != "active\nactive\n" {
			t.Errorf("over ssh: %v: %s", err, out)
		}
	}
}

func TestTestsOfOnePackageShareTheSandbox(t *testing.T) {
	sb := Get(t)
	Run(t, sb, "touch", "/root/seen-by-the-next-test")
	t.Cleanup(func() { Run(t, sb, "rm", "/root/seen-by-the-next-test") })
	if Get(t).PID != sb.PID {
		t.Fatal("another sandbox")
	}
}

func TestWatchArgvSeesASecretInAProcesssArgumentsAndOnlyThen(t *testing.T) {
	sb := Get(t)
	c := Dial(t, sb)
	stopNever := WatchArgv(t, sb, "never-used-secret-17")
	stop := WatchArgv(t, sb, "needle-in-argv-42")
	if out, err := c.Run(t.Context(), "sh -c 'sleep 1' needle-in-argv-42", nil); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The needle is held by the sh running the command, and may also be
	// sampled in the login shell before it execs sh (same pid) or in a fork
	// of sh before it execs sleep (another pid): shells, all of them.
	hits := stop()
	if len(hits) == 0 || slices.ContainsFunc(hits, func(h string) bool {
		_, comm, _ := strings.Cut(h, " ")
		return comm != "sh" && comm != "bash"
	}) {
		t.Errorf("needle hits %q, want the shells that held it", hits)
	}
	if never := stopNever(); len(never) != 0 {
		t.Errorf("a secret no process had was seen in %q", never)
	}
}

func TestPrivateGivesOneSandboxPerHostOnOneNetwork(t *testing.T) {
	nw := Network(t)
	sb := Private(t, 2)
	if again := Private(t, 2); again != sb {
		t.Fatal("second Private(t, 2) booted another sandbox")
	}
	if sb.Host != nw.Addr(2).String() || sb.Port != 22 {
		t.Errorf("private sandbox at %s:%d, want %s:22", sb.Host, sb.Port, nw.Addr(2))
	}
	out, err := exec.CommandContext(t.Context(), "ssh", "-F", sb.ConfigPath, "-o", "BatchMode=yes", sb.Alias, "sudo -n systemctl is-active ssh postgresql systemd-networkd").CombinedOutput()
	if err != nil || string(out) != "active\nactive\nactive\n" {
		t.Errorf("over ssh: %v: %s", err, out)
	}
}
