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
	stop := WatchArgv(t, c, "needle-in-argv-42", "never-used-secret-17")
	if out, err := c.Run(t.Context(), "sh -c 'sleep 1' needle-in-argv-42", nil); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// One process: the login shell that runs the command (bash -c ...)
	// may be sampled too before it execs sh, under the same pid.
	hits := stop()
	pid, _, _ := strings.Cut(slices.Concat(hits, []string{""})[0], " ")
	if !slices.Contains(hits, pid+" sh") || slices.ContainsFunc(hits, func(h string) bool { return !strings.HasPrefix(h, pid+" ") }) {
		t.Errorf("hits %q, want the one sh holding the needle (and the shell it was, same pid)", hits)
	}
}
