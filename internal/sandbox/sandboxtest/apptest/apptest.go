// Package apptest sets an app up on a sandbox the way a person does before
// the first deploy: the service provisioned (internal/service, over SSH), its
// env file written and, when a binary is given, that binary installed as the
// current release, as deploy leaves it. It is the one fixture of "a
// provisioned sandbox with the app installed", for the tests of what runs on
// such a server (deploy, exec, psql, createAdmin, the front door, CI) and
// for the deploy benchmarks' rig.
//
//	a := apptest.Installed(t, sandboxtest.Get(t), service.DefaultConfig(), apptest.Options{
//		Binary: apptest.Build(t, "v1", "c0ffee01"),
//		Env:    []string{"PASSWORD_PEPPER=..."},
//	})
//	// a.Client, a.Service (on a free port), a.Release
//
// It is a package of its own, not part of sandboxtest, because it imports
// internal/service, whose own tests use sandboxtest.
package apptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
)

// sshUser is the sandbox's SSH user (its ssh config logs in as admin): the
// owner of what deploy uploads, so the fixture's release is owned the same.
const sshUser = "admin"

// Options says what Install writes beyond the provisioned service.
type Options struct {
	// DatabaseURL is the value of the service's URL variable in the env
	// file; "" is the sandbox's own database (Instance.DatabaseURL).
	DatabaseURL string
	// Env holds more lines of the env file, after the URL variable's.
	Env []string
	// Binary, when set, is a local app binary (see Build) installed as a
	// release of its own, which current then points at; no instance is
	// started (deploy's handover, or service.Handover, does that). Empty:
	// no release, for tests whose first deploy is what they test.
	Binary string
	// FirewallPorts are more TCP ports provision's firewall lets in
	// besides the app's (PROVISION_FIREWALL_PORTS): on a private Network,
	// e.g. a database other sandboxes use.
	FirewallPorts []int
}

// App is an app set up on a sandbox by Install.
type App struct {
	Sandbox *sandbox.Instance
	// Client is an SSH connection to the sandbox as its admin user.
	Client *remote.Client
	// Service is the settings it was provisioned with, on a free port at
	// the sandbox's address (Instance.Host: 127.0.0.1 when it shares this
	// machine's network), reachable from this machine.
	Service service.Config
	// DatabaseURL is what the env file's URL variable holds (a secret).
	DatabaseURL string
	// Release is the id of the release Options.Binary became ("" without).
	Release string
}

// Installed is Install on a connection of the test's own (closed when it
// ends); any failure fails the test.
func Installed(t testing.TB, sb *sandbox.Instance, svc service.Config, o Options) *App {
	t.Helper()
	a, err := Install(context.Background(), sb, sandboxtest.Dial(t, sb), svc, o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Install provisions svc on sb through cl, on a free port, writes its env
// file (the URL variable, then o.Env) and installs o.Binary as the current
// release. Without a binary, current is left as it was: tests of one
// package share the sandbox, so an app of the default name may still have
// an earlier test's release.
func Install(ctx context.Context, sb *sandbox.Instance, cl *remote.Client, svc service.Config, o Options) (*App, error) {
	port, err := freeport.Pick()
	if err != nil {
		return nil, err
	}
	// The sandbox's address: 127.0.0.1 when it shares this machine's
	// network, its own on a private Network (reachable from here).
	svc.ListenAddr = net.JoinHostPort(sb.Host, strconv.Itoa(port))
	// On a private Network provision's firewall applies: the app's port
	// is let in, as PROVISION_FIREWALL_PORTS would, with o.FirewallPorts.
	po := service.ProvisionOptions{Basics: service.Basics{FirewallPorts: append([]int{port}, o.FirewallPorts...)}}
	var out bytes.Buffer
	if _, err := service.ProvisionWith(ctx, cl, svc, po, &out); err != nil {
		return nil, fmt.Errorf("provision %s: %w\n%s", svc.AppName, err, out.String())
	}
	a := &App{Sandbox: sb, Client: cl, Service: svc, DatabaseURL: o.DatabaseURL}
	if a.DatabaseURL == "" {
		if a.DatabaseURL, err = sb.DatabaseURL(); err != nil {
			return nil, err
		}
	}
	env := strings.Join(append([]string{svc.DatabaseURLVar() + "=" + a.DatabaseURL}, o.Env...), "\n") + "\n"
	if err := WriteEnv(ctx, sb, svc.EnvFile(), env); err != nil {
		return nil, err
	}
	if o.Binary == "" {
		return a, nil
	}
	// A release of this run's own: the sandbox may still run an earlier one.
	a.Release = "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := a.upload(ctx, a.Release, o.Binary); err != nil {
		return nil, err
	}
	if err := asSSHUser(ctx, sb, nil, "ln", "-sfn", "releases/"+a.Release, svc.CurrentLink()); err != nil {
		return nil, err
	}
	// Debian 12's adduser makes homes 0700: what runs the app must still
	// reach its releases (through the units' bind mounts, under
	// ProtectHome=tmpfs). A folder provision made elsewhere (/srv/<name>)
	// stays as provision left it, 0755.
	if strings.HasPrefix(svc.DeployPath, "/home/") {
		if err := asSSHUser(ctx, sb, nil, "chmod", "700", svc.DeployPath); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Upload installs the local binary bin as releases/<id>/app, owned by the
// SSH user as deploy leaves it, without switching current.
func (a *App) Upload(t testing.TB, id, bin string) {
	t.Helper()
	if err := a.upload(context.Background(), id, bin); err != nil {
		t.Fatal(err)
	}
}

func (a *App) upload(ctx context.Context, id, bin string) error {
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	return asSSHUser(ctx, a.Sandbox, f, "install", "-D", "-m", "755", "/dev/stdin", path.Join(a.Service.ReleasesDir(), id, "app"))
}

// WriteEnv replaces the content of the env file at file on sb with
// content, root:root 0600 as provision leaves it. The content, secrets
// included, goes through stdin, never a command line.
func WriteEnv(ctx context.Context, sb *sandbox.Instance, file, content string) error {
	cmd := sb.Command(ctx, "install", "-m", "600", "-o", "root", "-g", "root", "/dev/stdin", file)
	cmd.Stdin = strings.NewReader(content)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("write %s: %w: %s", file, err, out)
	}
	return nil
}

// asSSHUser runs a program on sb as the SSH user, stdin from in.
func asSSHUser(ctx context.Context, sb *sandbox.Instance, in *os.File, name string, arg ...string) error {
	cmd := sb.Command(ctx, "runuser", append([]string{"-u", sshUser, "--", name}, arg...)...)
	if in != nil {
		cmd.Stdin = in
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s as %s: %w: %s", name, strings.Join(arg, " "), sshUser, err, out)
	}
	return nil
}

// Build builds the module's app (build.Package), static for this machine's
// architecture, stamped with version and commit, into the test's temp dir.
func Build(t testing.TB, version, commit string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	if _, err := build.Run(context.Background(), build.Options{Dir: root, GOARCH: runtime.GOARCH, Output: bin, Version: version, Commit: commit}); err != nil {
		t.Fatal(err)
	}
	return bin
}

// moduleRoot is the folder holding go.mod above the working directory (a
// test runs in its package's folder).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("apptest: no go.mod above the working directory")
		}
		dir = parent
	}
}
