// Package remotetest is for tests that set a server up or look into it
// with shell, which the product never sends (its server steps are
// slipway-helper's, and remote.Client.RunRoot refuses shell).
package remotetest

import (
	"context"
	"io"

	"github.com/slipway-dev/slipway/internal/remote"
)

// Runner runs a command line as the SSH user (*remote.Client).
type Runner interface {
	Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error)
}

// RootShell runs the shell command line cmd as root, through sudo -n.
func RootShell(ctx context.Context, r Runner, cmd string, stdin io.Reader) ([]byte, error) {
	return r.Run(ctx, "sudo -n sh -c "+remote.Quote(cmd), stdin)
}
