package backup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Confirm returns restore's confirmation: yes (-yes) confirms at once;
// otherwise the question is asked on out and answered on in, which must be
// a terminal: a script that meant it passes -yes.
func Confirm(in *os.File, out io.Writer, yes bool) func(question string) (bool, error) {
	return func(q string) (bool, error) {
		if yes {
			return true, nil
		}
		if !term.IsTerminal(int(in.Fd())) {
			return false, errors.New("restore asks before it replaces the database, and stdin is not a terminal: pass -yes to confirm from a script")
		}
		fmt.Fprintf(out, "%s [y/N] ", q)
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && line == "" {
			return false, err
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}
