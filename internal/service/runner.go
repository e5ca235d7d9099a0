package service

import (
	"context"
	"io"

	"github.com/slipway-dev/slipway/internal/remote"
)

// Runner runs shell commands on the server: *remote.Client over SSH, or a
// command runner inside the test sandbox.
type Runner interface {
	// Run runs cmd with sh as the SSH user; stdin may be nil.
	Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error)
	// RunRoot runs cmd as root (through sudo -n unless the SSH user is root).
	RunRoot(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error)
}

// quote makes s one shell word.
func quote(s string) string { return remote.Quote(s) }
