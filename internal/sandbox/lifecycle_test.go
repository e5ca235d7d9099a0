package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/testenv"
)

// needSandbox stops the test unless this machine can run a sandbox and ssh
// into it: a skip locally, a failure in CI.
func needSandbox(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots sandboxes (booted Debian servers): skipped with -short")
	}
	if err := CheckPrereqs(); err != nil {
		testenv.Need(t, false, err.Error())
	}
	_, err := exec.LookPath("ssh")
	testenv.Need(t, err == nil, "ssh not found: apt-get install openssh-client")
}

// newTestSandbox returns a Sandbox with its own name and state dir, sharing
// the developer's cached base, stopped at the end of the test.
func newTestSandbox(t *testing.T, name string) *Sandbox {
	t.Helper()
	opts := append(FromEnv(os.Getenv),
		WithName(fmt.Sprintf("test-%s-%d", name, os.Getpid())),
		WithStateDir(t.TempDir()),
		WithStopOnExit())
	sb, err := New(nil, append(opts, WithStdout(t.Output()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := sb.Down(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return sb
}

func up(t *testing.T, sb *Sandbox) *Instance {
	t.Helper()
	// A cold run debootstraps the base first (about a minute).
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	inst, err := sb.Up(ctx)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	return inst
}

// sshRun runs a remote command through OpenSSH with the generated config
// alone: what a developer types.
func sshRun(t *testing.T, inst *Instance, stdin, remote string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", inst.ConfigPath, "-o", "BatchMode=yes", inst.Alias, remote)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -F %s %s %q: %v\n%s", inst.ConfigPath, inst.Alias, remote, err, out)
	}
	return strings.TrimSpace(string(out))
}

// checkServes asserts what Up promises: a running system over ssh, the app's
// database reachable with its role and password, PostgreSQL on no TCP port.
func checkServes(t *testing.T, inst *Instance) {
	t.Helper()
	if got := sshRun(t, inst, "", "systemctl is-system-running"); got != "running" {
		t.Errorf("systemctl is-system-running over ssh: %q, want running", got)
	}
	if got := sshRun(t, inst, "", "sudo -n id -un"); got != "root" {
		t.Errorf("sudo -n id -un: %q, want root", got)
	}
	url, err := inst.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimPrefix(strings.SplitN(url, "@", 2)[0], "postgres://app:")
	// The password travels on stdin, not in the remote command line.
	got := sshRun(t, inst, pw+"\n", `read -r PGPASSWORD; export PGPASSWORD; psql -Atc "select current_user || ' ' || current_database()" "host=/var/run/postgresql dbname=app user=app"`)
	if got != "app app" {
		t.Errorf("psql as app: %q, want %q", got, "app app")
	}
	out, err := inst.Run(t.Context(), "runuser", "-u", "postgres", "--", "psql", "-Atc", "show listen_addresses")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("listen_addresses = %q, want '' (unix socket only)", out)
	}
}

// checkGone asserts down left no process, mount, port or state behind.
func checkGone(t *testing.T, sb *Sandbox, was *Instance) {
	t.Helper()
	for _, pid := range []int{was.PID, was.Leader} {
		if processRuns(pid, was) {
			t.Errorf("pid %d still runs after down", pid)
		}
	}
	for _, dir := range []string{was.Dir, was.state.Base} {
		if m, err := mountsUnder(dir); err != nil || len(m) > 0 {
			t.Errorf("mounts under %s after down: %v %v", dir, m, err)
		}
	}
	if was.Host == "127.0.0.1" && !portFree(was.Port) {
		t.Errorf("127.0.0.1:%d still in use after down", was.Port)
	}
	if v := was.state.Veth; v != "" {
		if _, err := net.InterfaceByName(v); err == nil {
			t.Errorf("veth %s still there after down", v)
		}
	} else if was.Host != "127.0.0.1" {
		t.Errorf("private sandbox recorded no veth")
	}
	for _, d := range []string{rootDir, upperDir, workDir} {
		if _, err := os.Stat(sb.path(d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in state dir after down", d)
		}
	}
	if _, err := sb.Status(t.Context()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("status after down: %v, want ErrNotRunning", err)
	}
	for _, f := range []string{stateFile, keyFile, dbPasswordFile, configFile} {
		if _, err := os.Stat(sb.path(f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in state dir after down", f)
		}
	}
}

// processRuns reports whether pid is still the process Up recorded.
func processRuns(pid int, was *Instance) bool {
	switch pid {
	case was.PID:
		return alive(pid, was.state.StartTime)
	case was.Leader:
		return alive(pid, was.state.LeaderStartTime)
	}
	return false
}

func TestUpDownUpAgain(t *testing.T) {
	needSandbox(t)
	sb := newTestSandbox(t, "life")

	first := up(t, sb)
	checkServes(t, first)

	t.Run("second up while running changes nothing", func(t *testing.T) {
		again := up(t, sb)
		if again.PID != first.PID || again.Port != first.Port || again.Leader != first.Leader {
			t.Errorf("second up: pid %d port %d, want the running pid %d port %d", again.PID, again.Port, first.PID, first.Port)
		}
		if got := sshRun(t, first, "", "systemctl is-system-running"); got != "running" {
			t.Errorf("after second up: %q, want running", got)
		}
	})

	st, err := sb.Status(t.Context())
	if err != nil || st.PID != first.PID {
		t.Fatalf("status: %v, pid %v, want pid %d", err, st, first.PID)
	}

	if err := sb.Down(t.Context()); err != nil {
		t.Fatalf("down: %v", err)
	}
	checkGone(t, sb, first)
	if err := sb.Down(t.Context()); err != nil {
		t.Errorf("down when already down: %v", err)
	}

	second := up(t, sb)
	if second.PID == first.PID {
		t.Errorf("up after down: same pid %d", second.PID)
	}
	checkServes(t, second)
	if err := sb.Down(t.Context()); err != nil {
		t.Fatalf("second down: %v", err)
	}
	checkGone(t, sb, second)
}

// Deploy, systemd and admin tests each boot their own sandbox, possibly at
// the same time: instances must not see each other.
func TestTwoInstancesRunSideBySide(t *testing.T) {
	needSandbox(t)
	a, b := up(t, newTestSandbox(t, "a")), up(t, newTestSandbox(t, "b"))
	if a.Port == b.Port || a.PID == b.PID || a.ConfigPath == b.ConfigPath {
		t.Fatalf("instances collide: %+v %+v", a, b)
	}
	if _, err := a.Run(t.Context(), "touch", "/etc/only-in-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(t.Context(), "test", "!", "-e", "/etc/only-in-a"); err != nil {
		t.Errorf("a file written in one instance shows in the other: %v", err)
	}
	checkServes(t, a)
	checkServes(t, b)
}
