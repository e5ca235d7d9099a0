package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestPrereqsSayWhatIsMissingInOneLine(t *testing.T) {
	all := func(string) (string, error) { return "/usr/bin/x", nil }
	without := func(missing ...string) func(string) (string, error) {
		return func(bin string) (string, error) {
			for _, m := range missing {
				if bin == m {
					return "", exec.ErrNotFound
				}
			}
			return "/usr/bin/" + bin, nil
		}
	}
	for _, tc := range []struct {
		name     string
		goos     string
		euid     int
		lookPath func(string) (string, error)
		want     string
	}{
		{"all there", "linux", 0, all, ""},
		{"not linux", "darwin", 0, all, "sandbox: needs Linux (systemd-nspawn), this is darwin"},
		{"not root", "linux", 1000, all, "sandbox: needs root (run with sudo)"},
		{"no debootstrap", "linux", 0, without("debootstrap"), "sandbox: debootstrap not found: apt-get install debootstrap"},
		{"no nspawn", "linux", 0, without("debootstrap", "systemd-nspawn"),
			"sandbox: debootstrap, systemd-nspawn not found: apt-get install debootstrap systemd-container"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPrereqs(tc.goos, tc.euid, tc.lookPath)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var pe *PrereqError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PrereqError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got %q, want %q", err, tc.want)
			}
		})
	}
}

// helperEnv makes the test binary act as a user running `sandbox:up`.
const helperEnv = "SLIPWAY_SANDBOX_TEST_UP_AS_USER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		sb, err := New(nil, WithName("nonroot"), WithStateDir(os.TempDir()))
		if err == nil {
			_, err = sb.Up(context.Background())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestUpWithoutRootFailsWithOneClearLine runs Up in a real unprivileged
// process: this test binary, re-executed as nobody.
func TestUpWithoutRootFailsWithOneClearLine(t *testing.T) {
	if os.Geteuid() != 0 {
		// Already unprivileged: the plain call is the real thing.
		_, err := mustNew(t).Up(t.Context())
		if err == nil || err.Error() != "sandbox: needs root (run with sudo)" {
			t.Fatalf("Up as uid %d: got %v", os.Geteuid(), err)
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// go test's build dir is private to root: copy the binary where nobody
	// can run it.
	dir, err := os.MkdirTemp("", "sandbox-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = []string{helperEnv + "=1", "PATH=" + os.Getenv("PATH")}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("as nobody: got %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	if got, want := stderr.String(), "sandbox: needs root (run with sudo)\n"; got != want {
		t.Errorf("stderr as nobody: got %q, want %q", got, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout as nobody: got %q, want nothing", stdout.String())
	}
}

func mustNew(t *testing.T, opts ...Option) *Sandbox {
	t.Helper()
	sb, err := New(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}
