package main

import (
	"context"
	"io"

	"github.com/slipway-dev/slipway/app"
)

// run is the whole program as the tests drive it: app.Run with this app.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return app.Run(ctx, appConfig(), args, getenv, stdin, stdout, stderr)
}
