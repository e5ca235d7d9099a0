// Command app is the Slipway web app: it applies its embedded migrations at
// startup, then serves HTTP. See README.md for its subcommands.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// argsEnv carries the arguments of `go run mage.go exec` (appexec.ArgsEnv,
// the same name): they reach the app there rather than in its argv, which
// any local user could read in ps while it runs. Its presence in the binary
// is what tells exec's launcher that this app reads it.
const argsEnv = "SLIPWAY_ARGS"

func main() {
	v, set := os.LookupEnv(argsEnv)
	args, err := argsOf(os.Args[1:], v, set)
	if err == nil {
		// Not for whatever the command might start.
		os.Unsetenv(argsEnv)
		err = run(context.Background(), args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

// argsOf is the command line: argv, or when argv is empty the arguments
// argsEnv holds (v, when set: each hex-encoded and followed by a space). An
// instance runs `app serve`: a stray argsEnv in the env file never changes
// it.
func argsOf(argv []string, v string, set bool) ([]string, error) {
	if len(argv) > 0 || !set {
		return argv, nil
	}
	args := []string{}
	for {
		a, rest, found := strings.Cut(v, " ")
		if !found {
			if a != "" {
				return nil, errors.New(argsEnv + ": want hex-encoded arguments, each followed by a space")
			}
			return args, nil
		}
		b, err := hex.DecodeString(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", argsEnv, err)
		}
		args, v = append(args, string(b)), rest
	}
}
