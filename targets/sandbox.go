package targets

import (
	"context"
	"errors"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/sandbox"
)

// ---- sandbox ----

// Sandbox boots a real Debian server on this machine to deploy to and test against (root, Linux).
// SANDBOX_NAME, SANDBOX_DIR, SANDBOX_CACHE_DIR and SANDBOX_MIRROR override the defaults.
type Sandbox mg.Namespace

// Up boots the sandbox (debootstrap once, then systemd-nspawn) and prints how to ssh and deploy to it.
// Running it again while the sandbox is up changes nothing.
func (Sandbox) Up(ctx context.Context) error {
	sb, err := newSandbox()
	if err != nil {
		return err
	}
	inst, err := sb.Up(ctx)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(inst.Usage() + "\n")
	return err
}

// Down stops the sandbox and checks it left no process, mount or port behind.
func (Sandbox) Down(ctx context.Context) error {
	sb, err := newSandbox()
	if err != nil {
		return err
	}
	return sb.Down(ctx)
}

// Status says whether the sandbox runs and how to reach it.
func (Sandbox) Status(ctx context.Context) error {
	sb, err := newSandbox()
	if err != nil {
		return err
	}
	inst, err := sb.Status(ctx)
	if errors.Is(err, sandbox.ErrNotRunning) {
		_, err = os.Stdout.WriteString("sandbox " + sb.Name() + ": " + err.Error() + "\n")
		return err
	}
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(inst.Usage() + "\n")
	return err
}

// newSandbox is the sandbox the sandbox:* targets manage, with its progress
// on stdout. The sandbox is a server, not the project: it needs no valid
// Project, but the project is checked all the same so that a bad one shows
// up before the minute a first boot takes.
func newSandbox() (*sandbox.Sandbox, error) {
	p, err := configured()
	if err != nil {
		return nil, err
	}
	return sandbox.New(targetLog(), append(sandbox.FromEnv(p.getenv), sandbox.WithStdout(os.Stdout))...)
}
