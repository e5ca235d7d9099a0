package service

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// Ensure installs the units whose content differs from the rendered ones
// (compared by sha256) and reloads systemd only when one changed. Deploy
// calls it before each handover, so a new Slipway version brings its units.
// The socket is restarted only when its address changed: that one change,
// rare (a new APP_LISTEN), briefly refuses connections and restarts the
// instances with it. Any other change to it (such as the move from the
// layout before instances) is picked up by the reload, listening on.
func Ensure(ctx context.Context, r Runner, c Config) (changed bool, err error) {
	units, err := Units(c)
	if err != nil {
		return false, err
	}
	names := slices.Sorted(maps.Keys(units))
	installed, err := remoteSums(ctx, r, names)
	if err != nil {
		return false, err
	}
	var stale []string
	for _, name := range names {
		sum := sha256.Sum256(units[name])
		if installed[name] != hex.EncodeToString(sum[:]) {
			stale = append(stale, name)
		}
	}
	if len(stale) == 0 {
		return false, nil
	}
	// Only Slipway's own units are replaced, checked on the server first.
	if err := checkServer(ctx, r, c, stale); err != nil {
		return false, err
	}
	var moved bool
	for _, name := range stale {
		dst := path.Join(UnitDir, name)
		if name == c.SocketUnit() && installed[name] != "" {
			// grep exits 1 when the installed socket listens elsewhere.
			_, err := r.RunRoot(ctx, fmt.Sprintf("grep -qxF %s %s", quote("ListenStream="+c.ListenAddr), quote(dst)), nil)
			moved = err != nil
		}
		// Write beside, then rename: systemd never reads half a unit.
		cmd := fmt.Sprintf("set -e; umask 022; cat > %[1]s; mv -f %[1]s %[2]s", quote(dst+".slipway-new"), quote(dst))
		if out, err := r.RunRoot(ctx, cmd, bytes.NewReader(units[name])); err != nil {
			return changed, fmt.Errorf("install %s: %w: %s", dst, err, bytes.TrimSpace(out))
		}
		changed = true
	}
	if !changed {
		return false, nil
	}
	if out, err := r.RunRoot(ctx, "systemctl daemon-reload", nil); err != nil {
		return true, fmt.Errorf("systemctl daemon-reload: %w: %s", err, bytes.TrimSpace(out))
	}
	if moved {
		cmd := fmt.Sprintf("if systemctl is-active --quiet %[1]s; then systemctl restart %[1]s; fi", quote(c.SocketUnit()))
		if out, err := r.RunRoot(ctx, cmd, nil); err != nil {
			return true, fmt.Errorf("restart %s: %w: %s", c.SocketUnit(), err, bytes.TrimSpace(out))
		}
	}
	return true, nil
}

// remoteSums returns the sha256 of each installed unit, "" for a missing one.
func remoteSums(ctx context.Context, r Runner, names []string) (map[string]string, error) {
	// sha256sum fails on a missing file but still sums the others.
	cmd := fmt.Sprintf("cd %s && sha256sum -- %s 2>/dev/null || true", quote(UnitDir), quoteAll(names...))
	out, err := r.RunRoot(ctx, cmd, nil)
	if err != nil {
		return nil, fmt.Errorf("read installed units: %w: %s", err, bytes.TrimSpace(out))
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if ok {
			sums[name] = sum
		}
	}
	return sums, nil
}

// Logs returns the app's last lines from the journal, of every instance
// (and of the old layout's single service): the app's JSON log records,
// one per line.
func Logs(ctx context.Context, r Runner, c Config, lines int) (string, error) {
	if lines <= 0 {
		lines = 50
	}
	cmd := fmt.Sprintf("journalctl -u %s -u %s -n %d --no-pager -o cat", quote(c.InstancePattern()), quote(c.ServiceUnit()), lines)
	out, err := r.RunRoot(ctx, cmd, nil)
	if err != nil {
		return "", fmt.Errorf("journalctl: %w: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Status returns `systemctl status` of the instances, the socket and its
// service: state, main PID and the last log lines.
func Status(ctx context.Context, r Runner, c Config) (string, error) {
	// systemctl status exits 3 when a unit is inactive: that is an answer.
	cmd := fmt.Sprintf("systemctl status --no-pager -n 10 %s; rc=$?; [ $rc -le 3 ]", quoteAll(c.InstancePattern(), c.SocketUnit(), c.CurrentUnit()))
	out, err := r.RunRoot(ctx, cmd, nil)
	if err != nil {
		return string(out), fmt.Errorf("systemctl status: %w: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}
