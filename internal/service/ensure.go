package service

import (
	"bytes"
	"context"
	"fmt"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
)

// Ensure installs the units whose content differs from the rendered ones
// and reloads systemd only when one changed (the ensure-units step).
// Deploy calls it before each handover, so a new Slipway version brings its
// units: one round trip when nothing changed. A stale unit is written only
// after the server's facts are judged (checkServer's refusals), and the
// helper itself never replaces a unit file Slipway didn't write. The socket
// is restarted only when its address changed: that one change, rare (a new
// APP_LISTEN), briefly refuses connections and restarts the instances with
// it. Any other change to it (such as the move from the layout before
// instances) is picked up by the reload, listening on.
func Ensure(ctx context.Context, r Runner, c Config) (changed bool, err error) {
	units, err := Units(c)
	if err != nil {
		return false, err
	}
	args := helper.EnsureArgs{Units: map[string]string{}, Socket: c.SocketUnit(), Listen: c.ListenAddr, Guard: guardArgs(c, nil)}
	for name, content := range units {
		args.Units[name] = string(content)
	}
	out, err := client.Call(ctx, r, "ensure-units", args)
	if err != nil {
		return false, fmt.Errorf("install the units: %w: %s", err, bytes.TrimSpace(out))
	}
	switch result(out) {
	case "ok unchanged":
		return false, nil
	case "stale":
	default:
		return false, fmt.Errorf("install the units: unexpected answer %q", result(out))
	}
	// Only Slipway's own units are replaced, judged on the facts first.
	f, err := parseFacts(out)
	if err != nil {
		return false, err
	}
	if err := judge(c, f); err != nil {
		return false, err
	}
	args.Apply = true
	out, err = client.Call(ctx, r, "ensure-units", args)
	if err != nil {
		return false, fmt.Errorf("install the units: %w: %s", err, bytes.TrimSpace(out))
	}
	return result(out) == "ok changed", nil
}

// result is the outcome and detail of a step's last "result" line.
func result(out []byte) string { return client.Result(out) }

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
	out, err := client.Call(ctx, r, "service-status", helper.StatusArgs{Units: []string{c.InstancePattern(), c.SocketUnit(), c.CurrentUnit()}})
	if err != nil {
		return string(out), fmt.Errorf("systemctl status: %w: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}
