// Package appexec is `go run mage.go exec -- ARGS`: the live release's
// binary run with ARGS on the server, as the service user, with the
// service's env file and sandboxing. createAdmin is one such command.
//
// ARGS may hold data (an email, an id, a query): they travel on stdin to
// slipway-helper's exec step, which starts its exec-app step in the unit,
// never in the argv of sudo, sh or systemd-run, nor in a unit property,
// which ps, sudo's journal lines and `systemctl show` reveal. exec-app
// hands them to the app in the environment (ArgsEnv); a binary built
// before the app read them there gets them in its argv instead.
package appexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/slipway-dev/slipway/internal/helper"
	hclient "github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// ArgsEnv is the variable in which the helper's exec-app hands the
// arguments to the app (app.Main reads it when it has no arguments of its
// own): each argument hex-encoded and followed by a space. A binary that
// holds this name is taken to read it, any other gets its arguments in
// argv.
const ArgsEnv = helper.ExecArgsEnv

// Spec is exec's transient unit: the service's user, env file and
// sandboxing (service.Hardening), the current symlink bound, a fixed
// description.
func Spec(c service.Config) helper.UnitArgs { return SpecWithEnv(c, c.EnvFile()) }

// SpecWithEnv is Spec with another env file than the service's: env:set
// asks the app to load a candidate file before it goes live.
func SpecWithEnv(c service.Config, envFile string) helper.UnitArgs {
	props := []string{"User=" + c.ServiceUser, "Group=" + c.ServiceUser, "EnvironmentFile=" + envFile}
	props = append(append(props, service.Hardening(c)...), service.CurrentBind(c))
	return helper.UnitArgs{Description: c.AppName + " exec", Properties: props}
}

// PrivateCommand is the command run as root on the server for exec:
// slipway-helper's exec step (installed first if the server lacks it). It
// carries no argument: Stdin does.
func PrivateCommand(ctx context.Context, r hclient.Runner) (string, error) {
	bin, err := hclient.Ready(ctx, r)
	if err != nil {
		return "", err
	}
	return hclient.Command(bin, "exec"), nil
}

// Stdin is what PrivateCommand reads: exec's request (the unit, Spec),
// exec-app's (the current binary and args), then stdin (nil for none).
func Stdin(c service.Config, args []string, stdin io.Reader) (io.Reader, error) {
	return StdinFor(helper.ExecArgs{Unit: Spec(c)}, c.Binary(), args, stdin)
}

// StdinFor is Stdin for the unit and options of ex, running bin.
func StdinFor(ex helper.ExecArgs, bin string, args []string, stdin io.Reader) (io.Reader, error) {
	var b bytes.Buffer
	for _, r := range []struct {
		step string
		args any
	}{{"exec", ex}, {"exec-app", helper.ExecAppArgs{Binary: bin, Args: args}}} {
		raw, err := json.Marshal(r.args)
		if err != nil {
			return nil, err
		}
		line, err := json.Marshal(helper.Request{Protocol: helper.Protocol, Step: r.step, Args: raw})
		if err != nil {
			return nil, err
		}
		b.Write(append(line, '\n'))
	}
	if stdin == nil {
		return &b, nil
	}
	return io.MultiReader(&b, stdin), nil
}

// Command is the shell command run as root on the server. systemd-run
// starts the current release's binary in a transient unit as the service
// (Unit), with stdin and the output forwarded (--pipe). args are in the
// argv of sudo, sh and systemd-run, for all to see: only fixed words
// belong there (PrivateCommand takes any).
func Command(c service.Config, args ...string) string {
	return CommandWithEnv(c, c.EnvFile(), args...)
}

// CommandWithEnv is Command with another env file than the service's:
// env:set asks the app to load a candidate file before it goes live.
func CommandWithEnv(c service.Config, envFile string, args ...string) string {
	words := append(unit(c, "--pipe", "exec", envFile), "-p", service.CurrentBind(c))
	return remote.QuoteAll(append(words, Verbatim(append([]string{c.Binary()}, args...))...))
}

// ReleaseCommand is Command for the binary of one release folder, which
// need not be current (deploy asks a release about to start whether it has
// migrations pending): like an instance, it binds no current symlink.
// props are more unit properties, e.g. RuntimeMaxSec=20.
func ReleaseCommand(c service.Config, release string, props []string, args ...string) string {
	words := Unit(c, "--pipe", "exec")
	for _, p := range props {
		words = append(words, "-p", p)
	}
	bin := path.Join(c.ReleasesDir(), release, "app")
	return remote.QuoteAll(append(words, Verbatim(append([]string{bin}, args...))...))
}

// Verbatim is a command line for systemd-run that reaches the program as
// given: systemd expands $VAR, ${VAR} and $$ in a unit's command line, so
// each $ is doubled (`exec -- ... 'a$b'`, SQL's $$ quotes).
func Verbatim(words []string) []string {
	v := make([]string, len(words))
	for i, w := range words {
		v[i] = strings.ReplaceAll(w, "$", "$$")
	}
	return v
}

// Unit is systemd-run's words, up to the command, for a transient unit with
// the same user, env file and sandboxing (service.Hardening) as the
// service, so what it runs sees exactly what the app sees and can do no
// more; io is --pipe (stdin and output forwarded) or --pty (a terminal);
// --wait propagates the exit status. The unit's description is the app's
// name and what, never the command line (systemd's default), which every
// "Started ..." line of the journal would carry.
func Unit(c service.Config, io, what string) []string {
	return unit(c, io, what, c.EnvFile())
}

func unit(c service.Config, io, what, envFile string) []string {
	words := []string{"systemd-run", "--quiet", io, "--wait", "--collect", "--service-type=exec",
		"--description=" + c.AppName + " " + what,
		"--uid=" + c.ServiceUser, "--gid=" + c.ServiceUser,
		"-p", "EnvironmentFile=" + envFile}
	for _, p := range service.Hardening(c) {
		words = append(words, "-p", p)
	}
	return words
}

// Streamer runs a root command with its input and output streamed
// (*remote.Client).
type Streamer interface {
	hclient.Runner
	StreamRoot(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error
}

// ExitError is a command that ran and exited non-zero: Status is its exit
// status, for the caller's own.
type ExitError struct {
	Args   []string
	Status int
}

// ExitStatus is Status: what mage exits with.
func (e *ExitError) ExitStatus() int { return e.Status }

func (e *ExitError) Error() string {
	return fmt.Sprintf("app %s on the server: exit status %d", strings.Join(e.Args, " "), e.Status)
}

// Run runs the app with args on the server st reaches, stdin forwarded,
// its output cleaned (remote.Clean) on stdout and stderr.
func Run(ctx context.Context, st Streamer, c service.Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("exec: no command: run `go run mage.go exec -- help` for the app's commands")
	}
	cmd, err := PrivateCommand(ctx, st)
	if err != nil {
		return fmt.Errorf("exec on the server: %w", err)
	}
	in, err := Stdin(c, args, stdin)
	if err != nil {
		return err
	}
	err = st.StreamRoot(ctx, cmd, in, stdout, stderr)
	var ee *remote.ExitError
	if errors.As(err, &ee) && ee.Status > 0 {
		return &ExitError{Args: args, Status: ee.Status}
	}
	if err != nil {
		return fmt.Errorf("exec on the server: %w (is the app deployed? see `go run mage.go status`)", err)
	}
	return nil
}
