package service

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
)

// installRelease uploads binary as releases/<id>/app and switches current to
// it atomically (rename of a new symlink over the old one), as deploy does.
// The tests use it; deploy has its own, with checksums.
func installRelease(ctx context.Context, r Runner, c Config, id, binary string) error {
	f, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	dir := path.Join(c.ReleasesDir(), id)
	cmd := fmt.Sprintf(`set -e; mkdir -p %[1]s; cat > %[1]s/app.tmp; chmod 755 %[1]s/app.tmp; mv -f %[1]s/app.tmp %[1]s/app
ln -sfn %[2]s %[3]s.tmp; mv -fT %[3]s.tmp %[3]s`, quote(dir), quote("releases/"+id), quote(c.CurrentLink()))
	if out, err := r.Run(ctx, cmd, f); err != nil {
		return fmt.Errorf("install release %s: %w: %s", id, err, bytes.TrimSpace(out))
	}
	return nil
}

// writeEnv replaces the env file's content (keeping root:root 0600): the
// secrets go through stdin, never argv.
func writeEnv(ctx context.Context, r Runner, c Config, content string) error {
	cmd := fmt.Sprintf("set -e; umask 077; cat > %[1]s.tmp; chown root:root %[1]s.tmp; mv -f %[1]s.tmp %[1]s", quote(c.EnvFile()))
	if out, err := r.RunRoot(ctx, cmd, bytes.NewReader([]byte(content))); err != nil {
		return fmt.Errorf("write %s: %w: %s", c.EnvFile(), err, bytes.TrimSpace(out))
	}
	return nil
}
