package main

import (
	"context"
	"fmt"
	"io"

	"github.com/slipway-dev/slipway/internal/version"
)

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "version" {
		v := version.Get()
		fmt.Fprintf(stdout, "version %s\ncommit %s\ngo %s\n", v.Version, v.Commit, v.GoVersion)
		return nil
	}
	return fmt.Errorf("not implemented yet")
}
