package helper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Systemd is what steps ask of systemd. Systemctl is the real one (the
// systemctl, systemd-run and journalctl commands, run with argv, never a
// shell); FakeSystemd stands in for it in unit tests.
type Systemd interface {
	// Show returns the unit's properties (systemctl show -p ...).
	Show(ctx context.Context, unit string, props ...string) (map[string]string, error)
	// List returns the loaded units matching pattern, in any state.
	List(ctx context.Context, pattern string) ([]string, error)
	// Start starts unit; wait false returns once the job is queued.
	Start(ctx context.Context, unit string, wait bool) error
	// Stop stops unit and waits for it.
	Stop(ctx context.Context, unit string) error
	// ResetFailed forgets unit's failed state.
	ResetFailed(ctx context.Context, unit string) error
	// Enable enables unit (its [Install] links).
	Enable(ctx context.Context, unit string) error
	// Disable removes unit's [Install] links.
	Disable(ctx context.Context, unit string) error
	// DaemonReload makes systemd read its unit files again.
	DaemonReload(ctx context.Context) error
	// Transient starts cmd in a transient service unit (systemd-run).
	Transient(ctx context.Context, t Transient) error
	// Journal returns up to n message lines (oldest first) of the entries
	// matching every match (FIELD=value), since since when not zero.
	Journal(ctx context.Context, match []string, n int, since time.Time) ([]string, error)

	// Provision (P4).

	// Restart restarts unit and waits for it.
	Restart(ctx context.Context, unit string) error
	// Reload has unit reload its configuration (ExecReload) and waits.
	Reload(ctx context.Context, unit string) error
	// P3 (exec, psql):

	// Attach runs t with systemd-run --wait and mode ("--pipe": stdin and
	// output forwarded; "--pty": a terminal), stdin, stdout and stderr
	// connected, and returns the unit's exit status. t.Unit "" lets
	// systemd name the unit.
	Attach(ctx context.Context, t Transient, mode string, stdin io.Reader, stdout, stderr io.Writer) (int, error)
}

// Transient is a unit systemd-run starts.
type Transient struct {
	Unit, Description string
	// Properties are systemd-run -p NAME=VALUE settings.
	Properties []string
	Cmd        []string
}

// Systemctl is the real Systemd.
type Systemctl struct{}

func ctl(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Show implements Systemd.
func (Systemctl) Show(ctx context.Context, unit string, props ...string) (map[string]string, error) {
	args := []string{"show"}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	out, err := ctl(ctx, "systemctl", append(args, "--", unit)...)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

// List implements Systemd.
func (Systemctl) List(ctx context.Context, pattern string) ([]string, error) {
	out, err := ctl(ctx, "systemctl", "list-units", "--all", "--plain", "--no-legend", "--", pattern)
	if err != nil {
		return nil, err
	}
	var units []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			units = append(units, f[0])
		}
	}
	return units, nil
}

// Start implements Systemd.
func (Systemctl) Start(ctx context.Context, unit string, wait bool) error {
	args := []string{"start"}
	if !wait {
		args = append(args, "--no-block")
	}
	_, err := ctl(ctx, "systemctl", append(args, "--", unit)...)
	return err
}

// Stop implements Systemd.
func (Systemctl) Stop(ctx context.Context, unit string) error {
	_, err := ctl(ctx, "systemctl", "stop", "--", unit)
	return err
}

// ResetFailed implements Systemd.
func (Systemctl) ResetFailed(ctx context.Context, unit string) error {
	_, err := ctl(ctx, "systemctl", "reset-failed", "--", unit)
	return err
}

// Enable implements Systemd.
func (Systemctl) Enable(ctx context.Context, unit string) error {
	_, err := ctl(ctx, "systemctl", "enable", "--quiet", "--", unit)
	return err
}

// Disable implements Systemd.
func (Systemctl) Disable(ctx context.Context, unit string) error {
	_, err := ctl(ctx, "systemctl", "disable", "--quiet", "--", unit)
	return err
}

// DaemonReload implements Systemd.
func (Systemctl) DaemonReload(ctx context.Context) error {
	_, err := ctl(ctx, "systemctl", "daemon-reload")
	return err
}

// Transient implements Systemd.
func (Systemctl) Transient(ctx context.Context, t Transient) error {
	args := []string{"--quiet", "--collect", "--unit=" + t.Unit, "--description=" + t.Description}
	for _, p := range t.Properties {
		args = append(args, "-p", p)
	}
	_, err := ctl(ctx, "systemd-run", append(append(args, "--"), t.Cmd...)...)
	return err
}

// Journal implements Systemd.
func (Systemctl) Journal(ctx context.Context, match []string, n int, since time.Time) ([]string, error) {
	args := []string{"--no-pager", "-q", "-o", "cat", "-n", strconv.Itoa(n)}
	if !since.IsZero() {
		args = append(args, "--since", "@"+strconv.FormatInt(since.Unix(), 10))
	}
	out, err := ctl(ctx, "journalctl", append(args, match...)...)
	if err != nil {
		return nil, err
	}
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

// Provision (P4).

// Restart implements Systemd.
func (Systemctl) Restart(ctx context.Context, unit string) error {
	_, err := ctl(ctx, "systemctl", "restart", "--", unit)
	return err
}

// Reload implements Systemd.
func (Systemctl) Reload(ctx context.Context, unit string) error {
	_, err := ctl(ctx, "systemctl", "reload", "--", unit)
	return err
}

// P3 (exec, psql):

// Attach implements Systemd.
func (Systemctl) Attach(ctx context.Context, t Transient, mode string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if mode != "--pipe" && mode != "--pty" {
		return 0, fmt.Errorf("systemd-run: %q: want --pipe or --pty", mode)
	}
	args := []string{"--quiet", mode, "--wait", "--collect", "--description=" + t.Description}
	if t.Unit != "" {
		args = append(args, "--unit="+t.Unit)
	}
	for _, p := range t.Properties {
		args = append(args, "-p", p)
	}
	cmd := exec.CommandContext(ctx, "systemd-run", append(append(args, "--"), t.Cmd...)...)
	// An *os.File (the helper's own stdin, after the request line) is
	// handed over as it is: the unit reads on from where the helper stopped.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("systemd-run: %w", err)
	}
	return 0, nil
}
