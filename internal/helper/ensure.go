package helper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strings"
)

// EnsureArgs are ensure-units': the app's unit files as rendered (file
// name to content) and its socket's address.
type EnsureArgs struct {
	Units map[string]string `json:"units"`
	// Socket is the socket unit, Listen its ListenStream: the socket is
	// restarted only when an installed one listened elsewhere.
	Socket string `json:"socket"`
	Listen string `json:"listen"`
	// Apply writes the stale units; without it the step only reports
	// them, with the guard's facts for Guard (the stale units added to
	// Guard.Units), so the client can judge before anything is written.
	Apply bool      `json:"apply"`
	Guard GuardArgs `json:"guard"`
}

func init() {
	Register("ensure-units", true, func(ctx context.Context, e *Env, a EnsureArgs) error {
		return ensureUnits(ctx, e, sshUser(e), a)
	})
}

// ensureUnits is ensure-units. Its lines: "stale <unit>" for each unit
// whose file differs from the rendered one, then (without Apply) the
// guard's facts and "result stale", or (with Apply) "changed: <unit>" per
// unit written and "result ok changed". Nothing stale: "result ok
// unchanged", nothing done. systemd is reloaded only when a unit changed.
func ensureUnits(ctx context.Context, e *Env, ssh string, a EnsureArgs) error {
	names := make([]string, 0, len(a.Units))
	units := make(map[string]string, len(a.Units))
	for name, content := range a.Units {
		if err := checkUnit(name); err != nil {
			return err
		}
		names = append(names, name)
		// A unit runs the helper that installed it (UnitHelper).
		if strings.Contains(content, UnitHelper) {
			if !path.IsAbs(e.Self) {
				return fmt.Errorf("%s runs slipway-helper, and this helper does not know its own path", name)
			}
			content = strings.ReplaceAll(content, UnitHelper, e.Self)
		}
		units[name] = content
	}
	a.Units = units
	sort.Strings(names)
	if a.Socket != "" {
		if err := checkUnit(a.Socket); err != nil {
			return err
		}
	}
	var stale []string
	installed := map[string][]byte{}
	for _, name := range names {
		old, err := os.ReadFile(e.Path(path.Join(UnitDir, name)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read the installed %s: %w", name, err)
		}
		if err == nil {
			installed[name] = old
		}
		if err != nil || !bytes.Equal(old, []byte(a.Units[name])) {
			stale = append(stale, name)
		}
	}
	if len(stale) == 0 {
		e.Result("ok", "unchanged")
		return nil
	}
	for _, name := range stale {
		e.Line("stale", name)
	}
	if !a.Apply {
		g := a.Guard
		g.Units = append(append([]string(nil), g.Units...), stale...)
		if err := g.check(); err != nil {
			return err
		}
		if err := guardFacts(ctx, e, ssh, g); err != nil {
			return err
		}
		e.Result("stale", "")
		return nil
	}
	// The client judged the server's facts; this is the last line of
	// defence: a unit file Slipway didn't write is never replaced.
	for _, name := range stale {
		if owner, file, err := unitOwner(ctx, e, name); err != nil {
			return err
		} else if owner == "foreign" {
			return fmt.Errorf("%s is already on the server and not made by Slipway (%s): choose another APP_NAME", name, file)
		}
	}
	moved := false
	if old, ok := installed[a.Socket]; ok && a.Socket != "" && contains(stale, a.Socket) {
		moved = !contains(strings.Split(string(old), "\n"), "ListenStream="+a.Listen)
	}
	root, err := lookupAccount(e, "root")
	if err != nil || root == nil {
		return fmt.Errorf("the server has no root account in /etc/passwd: %v", err)
	}
	for _, name := range stale {
		// Written beside, then renamed: systemd never reads half a unit.
		if err := writeFileAs(e.Path(path.Join(UnitDir, name)), []byte(a.Units[name]), root.uid, root.gid, 0o644); err != nil {
			return err
		}
		e.Line("changed:", name)
	}
	if err := e.Sys.DaemonReload(ctx); err != nil {
		return err
	}
	// A new address is the one change that restarts the socket: it
	// briefly refuses connections and restarts the instances with it.
	// Any other change is picked up by the reload, listening on.
	if moved {
		p, err := e.Sys.Show(ctx, a.Socket, "ActiveState")
		if err != nil {
			return err
		}
		if p["ActiveState"] == "active" {
			if err := e.Sys.Restart(ctx, a.Socket); err != nil {
				return err
			}
			e.Line("changed:", a.Socket+" restarted on "+a.Listen)
		}
	}
	e.Result("ok", "changed")
	return nil
}

// StatusArgs are service-status': the units (or patterns) to show.
type StatusArgs struct {
	Units []string `json:"units"`
}

func init() {
	Register("service-status", true, func(ctx context.Context, e *Env, a StatusArgs) error {
		return serviceStatus(ctx, e, osPrograms{e}, a)
	})
}

var unitPattern = regexp.MustCompile(`^[A-Za-z0-9:_.@*-]{1,200}\.(service|socket)$`)

// serviceStatus prints `systemctl status` of the units: state, main PID
// and the last log lines. systemctl exits 3 when a unit is inactive: that
// is an answer, not a failure.
func serviceStatus(ctx context.Context, e *Env, progs programs, a StatusArgs) error {
	for _, u := range a.Units {
		if !unitPattern.MatchString(u) {
			return fmt.Errorf("unit %q is not a unit name: fix APP_NAME", u)
		}
	}
	out, err := progs.run(ctx, program{argv: append([]string{"systemctl", "status", "--no-pager", "-n", "10", "--"}, a.Units...)})
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() <= 3) {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	_, werr := e.Out.Write(out)
	return werr
}
