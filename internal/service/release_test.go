package service

import (
	"bytes"
	"context"
	"fmt"
	"github.com/slipway-dev/slipway/internal/remote/remotetest"
	"os"
	"path"
	"strings"
	"time"
)

// installRelease uploads binary as releases/<id>/app, as deploy does
// before its handover; the handover switches current. The tests use it;
// deploy has its own, with checksums.
func installRelease(ctx context.Context, r Runner, c Config, id, binary string) error {
	f, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	dir := path.Join(c.ReleasesDir(), id)
	cmd := fmt.Sprintf(`set -e; mkdir -p %[1]s; cat > %[1]s/app.tmp; chmod 755 %[1]s/app.tmp; mv -f %[1]s/app.tmp %[1]s/app`, quote(dir))
	if out, err := r.Run(ctx, cmd, f); err != nil {
		return fmt.Errorf("install release %s: %w: %s", id, err, bytes.TrimSpace(out))
	}
	return nil
}

// switchCurrent points current at releases/<id> atomically (rename of a new
// symlink over the old one): what a deploy did before the handover, for the
// layout restarted in place.
func switchCurrent(ctx context.Context, r Runner, c Config, id string) error {
	cmd := fmt.Sprintf(`set -e; ln -sfn %[1]s %[2]s.tmp; mv -fT %[2]s.tmp %[2]s`, quote("releases/"+id), quote(c.CurrentLink()))
	if out, err := r.Run(ctx, cmd, nil); err != nil {
		return fmt.Errorf("switch current to %s: %w: %s", id, err, bytes.TrimSpace(out))
	}
	return nil
}

// handoverTo makes the uploaded release id live (Handover) and turns an
// outcome other than ok into an error with the instance's last lines.
func handoverTo(ctx context.Context, r Runner, c Config, id string) error {
	h, err := Handover(ctx, r, c, HandoverRequest{Release: id, ReadyTimeout: 2 * time.Minute})
	if err != nil {
		return err
	}
	if h.Outcome != "ok" {
		return fmt.Errorf("handover to %s: %s: %s\n%s", id, h.Outcome, h.Reason, strings.Join(h.Logs, "\n"))
	}
	return nil
}

// writeEnv replaces the env file's content (keeping root:root 0600): the
// secrets go through stdin, never argv.
func writeEnv(ctx context.Context, r Runner, c Config, content string) error {
	cmd := fmt.Sprintf("set -e; umask 077; cat > %[1]s.tmp; chown root:root %[1]s.tmp; mv -f %[1]s.tmp %[1]s", quote(c.EnvFile()))
	if out, err := remotetest.RootShell(ctx, r, cmd, bytes.NewReader([]byte(content))); err != nil {
		return fmt.Errorf("write %s: %w: %s", c.EnvFile(), err, bytes.TrimSpace(out))
	}
	return nil
}
