// Package appexec is `go run mage.go exec -- ARGS`: the live release's
// binary run with ARGS on the server, as the service user, with the
// service's env file and sandboxing. createAdmin is one such command.
package appexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// Command is the shell command run as root on the server. systemd-run
// starts the current release's binary in a transient unit with the same
// user, env file and sandboxing (service.Hardening) as the service, so the
// command sees exactly what the app sees and can do no more; --pipe
// forwards stdin and the output, --wait propagates the exit status.
func Command(c service.Config, args ...string) string {
	return CommandWithEnv(c, c.EnvFile(), args...)
}

// CommandWithEnv is Command with another env file than the service's:
// env:set asks the app to load a candidate file before it goes live.
func CommandWithEnv(c service.Config, envFile string, args ...string) string {
	words := []string{"systemd-run", "--quiet", "--pipe", "--wait", "--collect", "--service-type=exec",
		"--uid=" + c.ServiceUser, "--gid=" + c.ServiceUser,
		"-p", "EnvironmentFile=" + envFile}
	for _, p := range service.Hardening(c) {
		words = append(words, "-p", p)
	}
	words = append(words, "-p", service.CurrentBind(c))
	words = append(words, c.Binary())
	words = append(words, args...)
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = remote.Quote(w)
	}
	return strings.Join(q, " ")
}

// Streamer runs a root command with its input and output streamed
// (*remote.Client).
type Streamer interface {
	StreamRoot(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error
}

// ExitError is a command that ran and exited non-zero: Status is its exit
// status, for the caller's own.
type ExitError struct {
	Args   []string
	Status int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("app %s on the server: exit status %d", strings.Join(e.Args, " "), e.Status)
}

// Run runs the app with args on the server st reaches, stdin forwarded,
// its output cleaned (remote.Clean) on stdout and stderr.
func Run(ctx context.Context, st Streamer, c service.Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("exec: no command: run `go run mage.go exec -- help` for the app's commands")
	}
	err := st.StreamRoot(ctx, Command(c, args...), stdin, stdout, stderr)
	var ee *remote.ExitError
	if errors.As(err, &ee) && ee.Status > 0 {
		return &ExitError{Args: args, Status: ee.Status}
	}
	if err != nil {
		return fmt.Errorf("exec on the server: %w (is the app deployed? see `go run mage.go status`)", err)
	}
	return nil
}
