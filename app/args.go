package app

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

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
