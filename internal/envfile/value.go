package envfile

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slipway-dev/slipway/internal/password"
)

// ReadValue is env:set's value: stdin when it is not a terminal (a pipe
// or a file; one trailing newline dropped, as `echo` and editors add it),
// else typed twice at a prompt without echo. Never an argument: that
// would put a secret in shell history and in `ps`.
func ReadValue(key string, stdin *os.File, prompt io.Writer) (string, error) {
	if password.IsTerminal(stdin) {
		v, err := password.Prompt(stdin, prompt, "Value of "+key+" (not shown)")
		if err != nil {
			return "", fmt.Errorf("env:set %s: %w", key, err)
		}
		return v, nil
	}
	return readValue(key, stdin)
}

func readValue(key string, r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxValue+3))
	if err != nil {
		return "", fmt.Errorf("env:set %s: read the value from stdin: %w", key, err)
	}
	v := string(b)
	if v == "" {
		return "", fmt.Errorf("env:set %s: no value on stdin: pipe one in (printf %%s \"$VALUE\" | ...), run it in a terminal to be prompted, or use env:unset", key)
	}
	if s, ok := strings.CutSuffix(v, "\n"); ok {
		v = strings.TrimSuffix(s, "\r")
	}
	return v, nil
}
