package password

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// IsTerminal reports whether f is a terminal a person can type into.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Prompt asks for a password twice on the terminal f, without echo, and
// returns it when both entries match.
func Prompt(f *os.File, w io.Writer, label string) (string, error) {
	read := func(p string) (string, error) {
		fmt.Fprint(w, p)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(w)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	a, err := read(label + ": ")
	if err != nil {
		return "", err
	}
	b, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if a != b {
		return "", errors.New("the two passwords differ: nothing changed")
	}
	return a, nil
}
