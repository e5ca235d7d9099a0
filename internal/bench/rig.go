package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// RigOptions configures NewRig.
type RigOptions struct {
	// Root is the repository the app is built from ("" is ".").
	Root string
	// Binary, when set, is used instead of a build of Root: a static linux
	// binary of the app for this machine's architecture.
	Binary string
	// Sandbox is a running sandbox to measure on. Nil boots one of the rig's
	// own, with the environment's SANDBOX_* settings then SandboxOptions,
	// stopped by Close.
	Sandbox        *sandbox.Instance
	SandboxOptions []sandbox.Option
	// Stdout receives the progress sentences (the sandbox's, each deploy);
	// Log the details at debug level. Nil discards them.
	Stdout io.Writer
	Log    *slog.Logger
}

// Rig is what the deploy benchmarks run on: a sandbox, the app built, and
// Slipway's service provisioned there with its env file pointed at the
// sandbox's database. Scenarios add their own units and remove them.
type Rig struct {
	Inst *sandbox.Instance
	// Binary is the app binary to deploy.
	Binary string
	// Root is the repository Binary comes from: the rows that deploy a
	// release of their own (a long migration, one never ready) build it
	// from there.
	Root string
	// Client is an SSH connection for set-up and clean-up, outside what
	// scenarios count.
	Client *remote.Client
	// Service is Slipway's service on the sandbox, on a free port.
	Service service.Config
	// Meter counts every byte clients send to the sandbox's sshd through
	// MeteredConfig, an ssh config whose alias Inst.Alias goes through it:
	// the same meter for deploy's Go SSH client and OpenSSH's ssh and scp.
	Meter         *sshdtest.Proxy
	MeteredConfig string
	// Dir is a scratch folder on this machine, removed by Close.
	Dir    string
	Stdout io.Writer
	Log    *slog.Logger

	closers []func() error // run by Close, last first
	ports   []int          // handed out by FreePort
	base    []byte         // Binary's bytes, read by the first Variant
	n       int            // variants written
	prev    string         // the last variant's folder, removed with the next
	dbs     int            // databases made by FreshDatabase
	builds  int            // builds made by BuildWith
}

// NewRig boots (or takes) the sandbox, builds the app, provisions the
// service and writes its env file. Close undoes what the rig started.
func NewRig(ctx context.Context, o RigOptions) (_ *Rig, err error) {
	if o.Root == "" {
		o.Root = "."
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	r := &Rig{Binary: o.Binary, Root: o.Root, Log: o.Log, Stdout: o.Stdout, Inst: o.Sandbox}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Close())
		}
	}()
	if r.Dir, err = os.MkdirTemp("", "slipway-bench-"); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() error { return os.RemoveAll(r.Dir) })
	if r.Binary == "" {
		r.Binary = filepath.Join(r.Dir, "app")
		if _, err := build.Run(ctx, build.Options{Dir: o.Root, GOARCH: runtime.GOARCH, Output: r.Binary, Log: o.Log}); err != nil {
			return nil, err
		}
	}
	if r.Inst == nil {
		if r.Inst, err = boot(ctx, o, r.Dir); err != nil {
			return nil, err
		}
		r.closers = append(r.closers, func() error {
			// A fresh context: ctx may be what ended the run.
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			return r.Inst.Stop(sctx)
		})
	}
	if r.Client, err = remote.Dial(ctx, remote.Options{Alias: r.Inst.Alias, ConfigPath: r.Inst.ConfigPath, Log: o.Log}); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, r.Client.Close)
	app, err := apptest.Install(ctx, r.Inst, r.Client, service.DefaultConfig(), apptest.Options{})
	if err != nil {
		return nil, err
	}
	r.Service = app.Service
	// Its port is the rig's: FreePort hands it to no scenario.
	if _, p, err := net.SplitHostPort(r.Service.ListenAddr); err == nil {
		n, _ := strconv.Atoi(p)
		r.ports = append(r.ports, n)
	}
	if r.Meter, err = sshdtest.Listen(fmt.Sprintf("%s:%d", r.Inst.Host, r.Inst.Port)); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, r.Meter.Close)
	if r.MeteredConfig, err = r.Inst.ConfigVia(r.Dir, r.Inst.Alias, r.Meter.Port); err != nil {
		return nil, err
	}
	r.Printf("bench: sandbox %s provisioned, the app on %s", r.Inst.Name, r.Service.ListenAddr)
	return r, nil
}

// boot starts a sandbox of the rig's own.
func boot(ctx context.Context, o RigOptions, tmp string) (*sandbox.Instance, error) {
	opts := slices.Concat(sandbox.FromEnv(os.Getenv), o.SandboxOptions, []sandbox.Option{
		sandbox.WithName("bench-" + strconv.Itoa(os.Getpid())),
		sandbox.WithStateDir(filepath.Join(tmp, "sandbox")),
		sandbox.WithStopOnExit(),
		sandbox.WithStdout(o.Stdout),
	})
	sb, err := sandbox.New(o.Log, opts...)
	if err != nil {
		return nil, err
	}
	return sb.Up(ctx)
}

// Close removes what the rig set up on this machine and stops its own
// sandbox. The service it provisioned stays on a given sandbox.
func (r *Rig) Close() error {
	var errs []error
	for _, c := range slices.Backward(r.closers) {
		errs = append(errs, c())
	}
	r.closers = nil
	return errors.Join(errs...)
}

// Printf prints one progress sentence.
func (r *Rig) Printf(format string, args ...any) {
	fmt.Fprintf(r.Stdout, format+"\n", args...)
}

// FreePort is a free port on 127.0.0.1, which the sandbox shares, not yet
// handed out by this rig.
func (r *Rig) FreePort() (int, error) {
	for {
		p, err := freeport.Pick()
		if err != nil {
			return 0, err
		}
		if !slices.Contains(r.ports, p) {
			r.ports = append(r.ports, p)
			return p, nil
		}
	}
}

// RunRoot runs a command as root on the sandbox and says which one failed.
func (r *Rig) RunRoot(ctx context.Context, format string, args ...any) error {
	cmd := fmt.Sprintf(format, args...)
	if out, err := r.Client.RunRoot(ctx, cmd, nil); err != nil {
		return fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// WriteRoot writes content to path on the sandbox as root, through stdin,
// with mode (e.g. 0o600 for a secret): into path.tmp, renamed over path.
func (r *Rig) WriteRoot(ctx context.Context, path, content string, mode os.FileMode) error {
	tmp := path + ".tmp"
	for _, c := range []struct {
		cmd string
		in  io.Reader
	}{
		{remote.QuoteAll([]string{"install", "-m", fmt.Sprintf("%04o", mode.Perm()), "/dev/stdin", tmp}), strings.NewReader(content)},
		{remote.QuoteAll([]string{"mv", "-f", tmp, path}), nil},
	} {
		if out, err := r.Client.RunRoot(ctx, c.cmd, c.in); err != nil {
			return fmt.Errorf("write %s: %w: %s", path, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Variant writes a binary the server has not seen: Binary with a few bytes
// appended (an ELF ignores what follows its segments), with its checksum
// file, as <Dir>/v<n>/app so that scp names it app. The previous variant is
// removed.
func (r *Rig) Variant() (string, error) {
	if r.base == nil {
		b, err := os.ReadFile(r.Binary)
		if err != nil {
			return "", err
		}
		r.base = b
	}
	r.n++
	dir := filepath.Join(r.Dir, "v"+strconv.Itoa(r.n))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	bin := append(r.base[:len(r.base):len(r.base)], fmt.Sprintf("\x00slipway bench variant %d\n", r.n)...)
	if err := os.WriteFile(filepath.Join(dir, "app"), bin, 0o755); err != nil {
		return "", err
	}
	if _, err := build.WriteChecksum(filepath.Join(dir, "app")); err != nil {
		return "", err
	}
	if r.prev != "" {
		os.RemoveAll(r.prev)
	}
	r.prev = dir
	return filepath.Join(dir, "app"), nil
}

// InstallRelease uploads bin as releases/<id>/app of the rig's service and
// switches current to it by renaming a new symlink over the old one, as
// deploy does, without deploy's checks: the restart scenarios' release.
func (r *Rig) InstallRelease(ctx context.Context, id, bin string) error {
	dir := path.Join(r.Service.ReleasesDir(), id)
	if out, err := r.Client.Run(ctx, "mkdir -p "+remote.Quote(dir), nil); err != nil {
		return fmt.Errorf("install release %s: %w: %s", id, err, out)
	}
	if err := r.Client.Upload(ctx, bin, dir+"/app.new", 0o755, nil); err != nil {
		return err
	}
	cur := r.Service.CurrentLink()
	for _, cmd := range [][]string{
		{"mv", "-f", dir + "/app.new", dir + "/app"},
		{"ln", "-sfn", "releases/" + id, cur + ".tmp"},
		{"mv", "-fT", cur + ".tmp", cur},
	} {
		if out, err := r.Client.Run(ctx, remote.QuoteAll(cmd), nil); err != nil {
			return fmt.Errorf("install release %s: %w: %s", id, err, out)
		}
	}
	return nil
}

// SwitchCurrent points current at releases/<id> by renaming a new symlink
// over the old one: the restart flow's way back to the release that served.
func (r *Rig) SwitchCurrent(ctx context.Context, id string) error {
	cur := r.Service.CurrentLink()
	for _, cmd := range [][]string{
		{"ln", "-sfn", "releases/" + id, cur + ".tmp"},
		{"mv", "-fT", cur + ".tmp", cur},
	} {
		if out, err := r.Client.Run(ctx, remote.QuoteAll(cmd), nil); err != nil {
			return fmt.Errorf("switch current to %s: %w: %s", id, err, out)
		}
	}
	return nil
}

// FreshDatabase creates an empty database owned by the app's role and
// points the env file at it: the next release started migrates it from
// scratch. The instances running keep theirs until they stop.
func (r *Rig) FreshDatabase(ctx context.Context) error {
	r.dbs++
	url, err := r.Inst.FreshDatabase(ctx, fmt.Sprintf("bench_%d", r.dbs))
	if err != nil {
		return err
	}
	return r.WriteRoot(ctx, r.Service.EnvFile(), "DATABASE_URL="+url+"\n", 0o600)
}

// BuildWith builds pkg from a copy of Root holding the extra files (path
// relative to Root: content), stamped with version and commit, into Dir.
func (r *Rig) BuildWith(ctx context.Context, pkg, version, commit string, extra map[string]string) (string, error) {
	r.builds++
	dir := filepath.Join(r.Dir, "build-"+strconv.Itoa(r.builds))
	src := filepath.Join(dir, "src")
	if err := copyTree(ctx, r.Root, src); err != nil {
		return "", err
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, "app")
	if _, err := build.Run(ctx, build.Options{Dir: src, Package: pkg, GOARCH: runtime.GOARCH, Output: bin, Version: version, Commit: commit, Log: r.Log}); err != nil {
		return "", err
	}
	return bin, nil
}

// copyTree copies the tree at from into to (created), without .git and
// bin: one tar writing, one reading, piped.
func copyTree(ctx context.Context, from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	var errw, errr bytes.Buffer
	w := exec.CommandContext(ctx, "tar", "-C", from, "--exclude=./.git", "--exclude=./bin", "-cf", "-", ".")
	rd := exec.CommandContext(ctx, "tar", "-C", to, "-xf", "-")
	w.Stderr, rd.Stderr = &errw, &errr
	// Our ends of the pipe close once both have started: a reader that
	// dies then stops the writer too.
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	w.Stdout, rd.Stdin = pw, pr
	werr := w.Start()
	pw.Close()
	if werr != nil {
		pr.Close()
		return werr
	}
	rerr := rd.Start()
	pr.Close()
	if rerr == nil {
		rerr = rd.Wait()
	}
	if werr := w.Wait(); werr != nil {
		return fmt.Errorf("copy %s: tar -c: %w: %s", from, werr, bytes.TrimSpace(errw.Bytes()))
	}
	if rerr != nil {
		return fmt.Errorf("copy %s to %s: tar -x: %w: %s", from, to, rerr, bytes.TrimSpace(errr.Bytes()))
	}
	return nil
}
